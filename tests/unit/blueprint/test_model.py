"""Model rules that need more than one field, and the lookups the other layers rely on."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from attonix.blueprint import BlueprintInvalid, load_bytes


def load_with(example_text: str, mutate: Any) -> list[str]:
    data = yaml.safe_load(example_text)
    mutate(data)
    try:
        load_bytes(yaml.safe_dump(data, sort_keys=False))
    except BlueprintInvalid as exc:
        return [f"{d.pointer}: {d.message}" for d in exc.diagnostics]
    return []


def cluster(d: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in d["orchestration"]["clusters"] if c["name"] == name)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: cluster(d, "k8s-prod").pop("version"),
            "orchestration.clusters[0]: a kubernetes cluster needs 'version'",
        ),
        (
            lambda d: cluster(d, "swarm-edge").update(version="1.30"),
            "orchestration.clusters[1]: 'version' is only for kubernetes clusters, not swarm",
        ),
        (
            lambda d: cluster(d, "podman-tools").update(control_plane=["cp-a"]),
            "orchestration.clusters[2]: podman clusters have no control plane",
        ),
        (
            lambda d: cluster(d, "swarm-edge").update(control_plane=[]),
            "orchestration.clusters[1]: a swarm cluster needs at least one control_plane host",
        ),
        (
            lambda d: d["storage"]["ceph"][0].pop("kubernetes_cluster"),
            "storage.ceph[0]: mode 'rook' needs 'kubernetes_cluster'",
        ),
        (
            lambda d: d["storage"]["ceph"][0]["pools"][0].update(min_size=4),
            "storage.ceph[0].pools[0]: min_size (4) cannot exceed replicas (3)",
        ),
        (
            lambda d: d["databases"][3].pop("managed"),
            "databases[3]: a biganimal database needs 'managed'",
        ),
        (
            lambda d: d["databases"][3].update(cluster="k8s-prod"),
            "databases[3]: a biganimal database is managed: remove 'cluster'",
        ),
        (
            lambda d: d["databases"][0].pop("cluster"),
            "databases[0]: a postgresql database needs 'cluster'",
        ),
        (
            lambda d: d["services"]["backend"][0]["autoscaling"].update(max_replicas=2),
            "services.backend[0].autoscaling: max_replicas (2) is below min_replicas (3)",
        ),
        (
            lambda d: d["users"].update(identity_provider={"kind": "oidc"}),
            "users.identity_provider: an oidc identity provider needs 'issuer' and 'client_id'",
        ),
        (
            lambda d: d["security"]["access_control"]["bindings"].append(
                {"role": "auditor", "environments": ["prod"]}
            ),
            "security.access_control.bindings[4]: a binding needs at least one user or group",
        ),
    ],
)
def test_cross_field_rules(example_text: str, mutate: Any, expected: str) -> None:
    found = load_with(example_text, mutate)
    assert any(f.startswith(expected) for f in found), found


def test_blueprint_is_frozen(example_text: str) -> None:
    bp = load_bytes(example_text).blueprint
    with pytest.raises(ValueError, match="frozen"):
        bp.metadata.name = "other"  # type: ignore[misc]


def test_lookups_and_spread(example_text: str) -> None:
    bp = load_bytes(example_text).blueprint
    k8s = bp.clusters_by_name["k8s-prod"]
    assert [h.name for h in bp.cluster_hosts(k8s)][:2] == ["wk-a1", "wk-a2"]
    swarm = bp.clusters_by_name["swarm-edge"]
    assert [h.name for h in bp.cluster_hosts(swarm)] == ["sw-a", "sw-b", "sw-c"]
    assert bp.pools_by_name["ceph-files"][1].type == "filesystem"
    assert bp.spread_of(bp.workloads_by_name["docs"]) == "host"
    assert bp.spread_of(bp.workloads_by_name["attonix-server"]) == "zone"
    assert set(bp.secrets_by_name) >= {"pg-main-credentials", "attonix-kek"}


def test_numbers_are_accepted_where_strings_are_meant(example_text: str) -> None:
    text = example_text.replace('version: "16"', "version: 16", 1)
    bp = load_bytes(text).blueprint
    assert bp.databases[0].version == "16"


def test_a_copy_with_changes_looks_up_the_new_fields() -> None:
    from pathlib import Path

    from attonix.blueprint import load_file

    bp = load_file(Path(__file__).parents[3] / "examples" / "attonixcorp.yaml").blueprint
    first = bp.databases[0]
    assert bp.databases_by_name[first.name].replicas == first.replicas  # cached now
    bumped = first.model_copy(update={"replicas": first.replicas + 2})
    copy = bp.model_copy(update={"databases": [bumped, *bp.databases[1:]]})
    assert copy.databases_by_name[first.name].replicas == first.replicas + 2
    assert bp.databases_by_name[first.name].replicas == first.replicas
    # A copy without changes may keep the lookups: they still describe its fields.
    assert bp.model_copy().databases_by_name == bp.databases_by_name
