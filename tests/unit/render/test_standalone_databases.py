"""Databases on a site's Swarm and Podman clusters: one stateful container pinned to the node
that keeps its volume, checked by the engine's own client, credentials from secret files."""

from __future__ import annotations

import shlex
from typing import Any

import pytest
from tests.unit.render._sites import load, site

from attonix.blueprint import BlueprintInvalid
from attonix.policy.placement import database_rule
from attonix.render import render

DATABASES = """
- {name: pg, engine: postgresql, version: "17", cluster: swarm, host: s-2, replicas: 1,
   tls: false, backup: {enabled: false}, credentials_secret: db-creds, database: orders}
- {name: my, engine: mysql, version: "8.4", cluster: swarm, replicas: 1, tls: false,
   backup: {enabled: false}, credentials_secret: db-creds}
- {name: mongo, engine: mongodb, version: "7.0", cluster: podman, replicas: 1, tls: false,
   backup: {enabled: false}, credentials_secret: db-creds}
- {name: big, engine: biganimal, version: "16", credentials_secret: db-creds,
   managed: {region: eu-west-1, endpoint: big.example.net}}
"""
SERVICES = """
- {name: api, cluster: swarm, image: "localhost/api:1", ports: [{name: http, port: 8000}],
   databases: [pg, big]}
- {name: other, cluster: swarm, image: "localhost/other:1", ports: [{name: http, port: 9000}]}
- {name: events, cluster: podman, image: "localhost/events:1", ports: [{name: http, port: 8080}],
   databases: [mongo, big]}
"""


def _stack() -> dict[str, Any]:
    (art,) = render(site(services=SERVICES, databases=DATABASES), "swarm")
    return art.content  # type: ignore[no-any-return]


def test_a_site_without_kubernetes_declares_databases_that_render_on_swarm() -> None:
    s = _stack()["services"]
    pg = s["pg"]
    assert pg["image"] == "postgres:17"
    assert pg["deploy"]["replicas"] == 1
    assert pg["deploy"]["placement"]["constraints"] == ["node.hostname==s-2"]
    assert s["my"]["deploy"]["placement"]["constraints"] == ["node.hostname==s-1"]
    assert {"type": "volume", "source": "pg_data", "target": "/var/lib/postgresql/data"} in pg[
        "volumes"
    ]
    assert _stack()["volumes"]["pg_data"]["driver"] == "local"
    assert pg["deploy"]["update_config"]["order"] == "stop-first"


def test_swarm_databases_are_checked_by_protocol_not_http() -> None:
    s = _stack()["services"]
    assert s["pg"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert "--dbname=orders" in s["pg"]["healthcheck"]["test"]
    assert s["my"]["healthcheck"]["test"][:3] == ["CMD", "mysqladmin", "ping"]


def test_database_credentials_are_secret_files_never_values() -> None:
    stack = _stack()
    pg = stack["services"]["pg"]
    assert pg["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/databases/pg/password"
    assert {m["target"] for m in pg["secrets"]} == {
        "/run/secrets/databases/pg/username",
        "/run/secrets/databases/pg/password",
    }
    assert all(m["uid"] == "999" and m["mode"] == 0o400 for m in pg["secrets"])
    assert stack["secrets"]["db-creds_password"]["external"] is True
    assert not any("PASSWORD=" in str(v) for v in pg["environment"].values())


def test_a_service_shares_a_network_with_its_database_and_others_do_not() -> None:
    s = _stack()["services"]
    assert s["pg"]["networks"] == ["api_pg"]
    assert s["api"]["networks"] == ["api_pg"]
    assert s["other"]["networks"] == ["isolated-other"]
    assert s["api"]["environment"]["PG_HOST"] == "pg"
    assert s["api"]["environment"]["PG_TLS"] == "disable"
    assert s["api"]["environment"]["BIG_HOST"] == "big.example.net"


def test_podman_databases_render_as_one_pod_with_a_named_volume() -> None:
    arts = {a.path: a for a in render(site(services=SERVICES, databases=DATABASES), "podman")}
    doc = arts["podman/podman/mongo.yaml"].content
    assert doc["metadata"]["annotations"] == {"attonix.io/host": "p-1"}
    pod = doc["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["image"] == "mongo:7.0"
    # Podman runs an exec probe as `/bin/sh -c "<words joined by spaces> || exit 1"`: one
    # quoted string keeps --eval's argument (with its quotes and parentheses) one argument.
    (line,) = c["readinessProbe"]["exec"]["command"]
    assert shlex.split(line)[:1] == ["mongosh"]
    assert shlex.split(line)[-2:] == ["--eval", "db.adminCommand('ping')"]
    assert "httpGet" not in c["livenessProbe"]
    assert {
        "name": "site-mongo-data",
        "persistentVolumeClaim": {"claimName": "site-mongo-data"},
    } in (pod["volumes"])
    assert c["securityContext"]["runAsNonRoot"] is True
    assert "podman/podman/mongo.kube" in arts
    events = arts["podman/podman/events.yaml"].content["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in events["containers"][0]["env"]}
    assert env["MONGO_HOST"] == "site-mongo-pod-0"
    assert env["BIG_HOST"] == "big.example.net"
    # The service mounts its own login (filled at deploy time), the database its admin secret.
    mounted = {v.get("secret", {}).get("secretName") for v in events["volumes"]}
    assert "site-mongo.events" in mounted and "site-db-creds" not in mounted
    assert any(v.get("secret", {}).get("secretName") == "site-db-creds" for v in pod["volumes"])
    assert {e["name"]: e["value"] for e in c["env"]} == {
        "MONGO_INITDB_ROOT_USERNAME_FILE": "/run/secrets/databases/mongo/username",
        "MONGO_INITDB_ROOT_PASSWORD_FILE": "/run/secrets/databases/mongo/password",
        "MONGO_INITDB_DATABASE": "app",
    }


def test_the_analysis_assumes_the_node_the_renderer_pins() -> None:
    bp = site(services=SERVICES, databases=DATABASES)
    rule = database_rule(bp, bp.databases_by_name["pg"])
    assert [h.name for h in rule.hosts] == ["s-2"] and rule.level == "host"


@pytest.mark.parametrize(
    ("change", "pointer", "words"),
    [
        ("replicas: 1,", "databases[0].replicas", "one container"),
        ("tls: false,", "databases[0].tls", "cert-manager"),
        ("backup: {enabled: false},", "databases[0].backup.enabled", "not rendered"),
        ("host: s-2,", "databases[0].host", "not a node"),
    ],
)
def test_what_a_container_database_cannot_do_is_a_diagnostic(
    change: str, pointer: str, words: str
) -> None:
    bad = {
        "replicas: 1,": "replicas: 3,",
        "tls: false,": "",
        "backup: {enabled: false},": "",
        "host: s-2,": "host: n-1,",
    }[change]
    first, rest = DATABASES.split("\n- {name: my", 1)
    with pytest.raises(BlueprintInvalid) as info:
        load(services=SERVICES, databases=first.replace(change, bad) + "\n- {name: my" + rest)
    found = [d for d in info.value.diagnostics if d.pointer == pointer]
    assert found and words in found[0].message and found[0].code == "BP024"


def test_a_service_cannot_use_a_database_of_another_cluster() -> None:
    with pytest.raises(BlueprintInvalid) as info:
        services = SERVICES.replace("databases: [pg, big]", "databases: [mongo, big]")
        load(services=services, databases=DATABASES)
    (d,) = [d for d in info.value.diagnostics if d.pointer == "services.backend[0].databases[0]"]
    assert "cannot reach" in d.message and d.code == "BP024"
