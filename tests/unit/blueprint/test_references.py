"""Every cross-section reference is checked, at the line of the reference."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from attonix.blueprint import BlueprintInvalid, load_bytes


def diags(example_text: str, mutate: Any) -> list[tuple[str, str, str]]:
    data = yaml.safe_load(example_text)
    mutate(data)
    with pytest.raises(BlueprintInvalid) as info:
        load_bytes(yaml.safe_dump(data, sort_keys=False))
    return [(d.code, d.pointer, d.message) for d in info.value.diagnostics]


def backend(d: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in d["services"]["backend"] if s["name"] == name)


@pytest.mark.parametrize(
    ("mutate", "pointer", "message"),
    [
        (
            lambda d: d["orchestration"]["clusters"][0]["workers"].append("wk-z9"),
            "orchestration.clusters[0].workers[6]",
            "unknown host 'wk-z9'",
        ),
        (
            lambda d: d["storage"]["ceph"][0].update(kubernetes_cluster="swarm-edge"),
            "storage.ceph[0].kubernetes_cluster",
            "'swarm-edge' is a swarm cluster, not a kubernetes cluster",
        ),
        (
            lambda d: d["storage"]["openstack"][0]["instances"][0].update(network="nope"),
            "storage.openstack[0].instances[0].network",
            "unknown openstack network 'nope'",
        ),
        (
            lambda d: d["storage"]["vsphere"][0].update(credentials_secret="vs-creds"),
            "storage.vsphere[0].credentials_secret",
            "unknown secret 'vs-creds'",
        ),
        (
            lambda d: d["security"]["firewall"]["rules"][0].update(destination="dmzz"),
            "security.firewall.rules[0].destination",
            "unknown firewall zone 'dmzz'",
        ),
        (
            lambda d: d["security"]["access_control"]["bindings"][1].update(users=["bobby"]),
            "security.access_control.bindings[1].users[0]",
            "unknown account 'bobby'",
        ),
        (
            lambda d: d["users"]["accounts"][0].update(groups=["admins"]),
            "users.accounts[0].groups[0]",
            "unknown group 'admins'",
        ),
        (
            lambda d: d["configuration"]["chef"].update(validation_secret="x"),
            "configuration.chef.validation_secret",
            "unknown secret 'x'",
        ),
        (
            lambda d: d["cicd"].pop("gitlab"),
            "cicd.pipelines[2].provider",
            "provider 'gitlab' is not configured",
        ),
        (
            lambda d: d["cicd"]["pipelines"][0]["services"].append("ghost"),
            "cicd.pipelines[0].services[2]",
            "unknown service 'ghost'",
        ),
        (
            lambda d: d["databases"][0]["backup"].update(object_pool="ceph-bucket"),
            "databases[0].backup.object_pool",
            "unknown ceph pool 'ceph-bucket'",
        ),
        (
            lambda d: backend(d, "orders-api").update(depends_on=["orders-api"]),
            "services.backend[2].depends_on[0]",
            "unknown backend service 'orders-api'",
        ),
        (
            lambda d: backend(d, "attonix-server")["secrets"].append({"secret": "jwt"}),
            "services.backend[0].secrets[3].secret",
            "unknown secret 'jwt'",
        ),
        (
            lambda d: backend(d, "docs").update(zone="lan"),
            "services.backend[6].zone",
            "unknown firewall zone 'lan'",
        ),
        (
            lambda d: backend(d, "docs").update(placement={"racks": ["rack-z"]}),
            "services.backend[6].placement.racks[0]",
            "unknown rack 'rack-z'",
        ),
        (
            lambda d: backend(d, "docs").update(health={"port": 9999}),
            "services.backend[6].health.port",
            "health port 9999 is not one of the service's ports",
        ),
        (
            lambda d: d["services"]["frontend"][0].update(backends=["attonix-console"]),
            "services.frontend[0].backends[0]",
            "unknown backend service 'attonix-console'",
        ),
        (
            lambda d: d["ha"]["load_balancers"][0]["frontends"][0].update(backend="portal"),
            "ha.load_balancers[0].frontends[0].backend",
            "unknown service or kubernetes cluster 'portal'",
        ),
        (
            # Only a Kubernetes cluster has an API server behind a load balancer.
            lambda d: d["ha"]["load_balancers"][0]["frontends"][0].update(backend="swarm-edge"),
            "ha.load_balancers[0].frontends[0].backend",
            "'swarm-edge' is a swarm cluster, not a service or kubernetes cluster",
        ),
        (
            lambda d: d["services"]["frontend"][0].update(name="attonix-server"),
            "services.frontend[0].name",
            "duplicate service name 'attonix-server'",
        ),
    ],
)
def test_reference_errors(example_text: str, mutate: Any, pointer: str, message: str) -> None:
    found = diags(example_text, mutate)
    assert any(p == pointer and m.startswith(message) for _, p, m in found), found


def _hints(example_text: str, mutate: Any) -> dict[str, str]:
    data = yaml.safe_load(example_text)
    mutate(data)
    with pytest.raises(BlueprintInvalid) as info:
        load_bytes(yaml.safe_dump(data, sort_keys=False))
    return {d.pointer: f"{d.message} | {d.hint}" for d in info.value.diagnostics}


@pytest.mark.parametrize(
    ("mutate", "pointer", "says"),
    [
        (
            lambda d: backend(d, "attonix-server")["secrets"].append({"secret": "stripe-key"}),
            "services.backend[0].secrets[3].secret",
            "unknown secret 'stripe-key' | Declare 'stripe-key' under 'security.secrets' "
            "(its name only; the value goes in the vault), or use one of: attonix-audit-key, "
            "attonix-kek, attonix-signing-key, backup-s3-credentials, biganimal-credentials, "
            "chef-validator, mongo-events-credentials, mysql-apps-credentials, "
            "openstack-credentials, "
            "pg-main-credentials, vsphere-credentials.",
        ),
        (
            lambda d: backend(d, "orders-api")["databases"].append("mysql-app"),
            "services.backend[2].databases[1]",
            "unknown database 'mysql-app' | Did you mean 'mysql-apps'? Declare 'mysql-app' "
            "under 'databases', or use one of: analytics, mongo-events, mysql-apps, pg-main.",
        ),
        (
            lambda d: d["orchestration"]["clusters"][0]["workers"].append("wk-z9"),
            "orchestration.clusters[0].workers[6]",
            "unknown host 'wk-z9' | Did you mean 'wk-c2'? Declare 'wk-z9' under 'hosts'.",
        ),
        (
            lambda d: d["security"]["firewall"]["rules"][0].update(destination="dmx"),
            "security.firewall.rules[0].destination",
            "unknown firewall zone 'dmx' | Did you mean 'dmz'? Declare 'dmx' under "
            "'security.firewall.zones', or use one of: app, data, dmz, mgmt, web.",
        ),
        (
            lambda d: d["ha"]["load_balancers"][0]["frontends"][1].update(backend="swarm-edge"),
            "ha.load_balancers[0].frontends[1].backend",
            "'swarm-edge' is a swarm cluster, not a service or kubernetes cluster | Declare it "
            "under 'services' or as a kubernetes cluster under 'orchestration.clusters', or use "
            "one of: analytics-api, attonix-console, attonix-server, attonix-worker, docs, "
            "events-api, k8s-prod, orders-api, status-page.",
        ),
        (
            lambda d: d["security"]["access_control"]["bindings"][0].update(groups=["ops"]),
            "security.access_control.bindings[0].groups[0]",
            "unknown group 'ops' | Declare 'ops' under 'users.groups', or use one of: "
            "auditors, developers, platform.",
        ),
    ],
)
def test_unknown_names_say_where_they_are_declared(
    example_text: str, mutate: Any, pointer: str, says: str
) -> None:
    assert _hints(example_text, mutate)[pointer] == says


def test_first_of_its_kind_says_there_is_none_yet(example_text: str) -> None:
    def no_groups(d: dict[str, Any]) -> None:
        d["users"]["groups"] = []
        for a in d["users"]["accounts"]:
            a.pop("groups", None)
        d["security"]["access_control"]["bindings"] = [
            {"role": "admin", "environments": ["prod"], "groups": ["ops"]}
        ]

    assert _hints(example_text, no_groups)["security.access_control.bindings[0].groups[0]"] == (
        "unknown group 'ops' | Declare 'ops' under 'users.groups'; there is no group yet."
    )
