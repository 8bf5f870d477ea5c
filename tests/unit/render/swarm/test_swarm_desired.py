"""The Swarm renderer's typed desired state: what the driver plans from, next to the stack file.
Every fact it carries (replicas, secret mounts, networks, volumes) must be what the file says."""

from __future__ import annotations

from typing import Any

from tests.unit.render._sites import site

from attonix.render.desired import DesiredState
from attonix.render.swarm import render, rendered, stack_name, with_secret_names

DATABASES = """
- {name: pg, engine: postgresql, version: "17", cluster: swarm, host: s-2, replicas: 1,
   tls: false, backup: {enabled: false}, credentials_secret: db-creds, database: orders}
"""
SERVICES = """
- {name: api, cluster: swarm, image: "localhost/api:1", replicas: 3,
   ports: [{name: http, port: 8000}], databases: [pg],
   secrets: [{secret: db-creds, mount_path: /run/secrets/app}]}
- {name: store, cluster: swarm, image: "localhost/store:1", replicas: 1,
   ports: [{name: http, port: 9000}], volumes: [{name: data, mount_path: /data}]}
"""


def _state() -> tuple[DesiredState, dict[str, Any], str]:
    bp = site(services=SERVICES, databases=DATABASES)
    out = rendered(bp)
    state = out.of("swarm", "swarm")
    assert [a.path for a in out.artifacts] == ["swarm/swarm/docker-stack.yaml"]
    assert state.files == out.artifacts and list(out.artifacts) == render(bp)
    return state, state.files[0].content, f"{stack_name(bp, 'swarm')}_"


def test_workloads_carry_effective_replicas_and_engine_names() -> None:
    state, doc, prefix = _state()
    assert {w.name: w.replicas for w in state.workloads} == {
        f"{prefix}api": 3,
        f"{prefix}store": 1,
        f"{prefix}pg": 1,
    }
    for w in state.workloads:
        assert w.replicas == doc["services"][w.key]["deploy"]["replicas"]
        # How the engine runs it, typed: what the stack file gives the engine.
        svc, c = doc["services"][w.key], w.container
        assert c is not None and (c.image, c.user) == (svc["image"], svc["user"])
        assert c.update_order == svc["deploy"]["update_config"]["order"]
        assert c.healthcheck is not None
        assert list(c.healthcheck.test) == [
            t.replace("$$", "$") for t in svc["healthcheck"]["test"]
        ]
        assert state.workload(w.name) is w
    assert state.workload(f"{prefix}missing") is None


def test_secret_mounts_are_typed_references_matching_the_file() -> None:
    state, doc, _ = _state()
    for w in state.workloads:
        files = doc["services"][w.key].get("secrets", [])
        in_file = [(s["source"], s["target"], s["uid"]) for s in files]
        typed = [(m.ref.ref, m.path, str(m.uid)) for m in w.secrets]
        assert typed == in_file
    api = next(w for w in state.workloads if w.key == "api")
    assert {(m.ref.secret, m.ref.key, m.path) for m in api.secrets} >= {
        ("db-creds", "username", "/run/secrets/app/username"),
        ("db-creds", "password", "/run/secrets/app/password"),
    }
    # The service's own database login, a secret of its own: no string to decode.
    assert any(m.ref.secret != "db-creds" and m.ref.key == "password" for m in api.secrets)
    assert {r.ref: r.base for r in state.secrets} == {
        ref: spec["name"] for ref, spec in doc["secrets"].items()
    }
    assert all(spec["external"] is True for spec in doc["secrets"].values())


def test_networks_and_volumes_match_the_file() -> None:
    state, doc, prefix = _state()
    assert {n.key for n in state.networks} == set(doc["networks"])
    for n in state.networks:
        assert n.name == prefix + n.key
        assert n.labels == doc["networks"][n.key]["labels"] and n.driver == "overlay"
    assert {v.key: v.name for v in state.volumes} == {k: prefix + k for k in doc["volumes"]}
    for w in state.workloads:
        svc = doc["services"][w.key]
        assert w.networks == tuple(prefix + n for n in svc["networks"])
        named = [v["source"] for v in svc["volumes"] if v["type"] == "volume"]
        assert w.volumes == tuple(prefix + v for v in named)
    store = next(w for w in state.workloads if w.key == "store")
    assert store.volumes == (f"{prefix}store-data",)


def test_versioned_secret_names_go_into_a_copy_of_the_file() -> None:
    state, doc, _ = _state()
    names = {r: f"{r.base}-0123456789" for r in state.secrets}
    named = with_secret_names(doc, names)
    assert {spec["name"] for spec in named["secrets"].values()} == set(names.values())
    assert all(not spec["name"].endswith("-0123456789") for spec in doc["secrets"].values())
    assert named["services"] is doc["services"]


def test_a_cluster_without_workloads_has_an_empty_state() -> None:
    bp = site(services=SERVICES, databases=DATABASES)
    empty = rendered(bp).of("swarm", "podman")
    assert empty.workloads == () and empty.files == () and empty.secrets == ()
