"""Renderers enforce the placement contract the failure-domain analysis assumes."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from attonix.blueprint.model import Blueprint
from attonix.policy.placement import monitor_rule, workload_rule
from attonix.render import render

EXAMPLE = Path(__file__).resolve().parents[2].parent / "examples" / "attonixcorp.yaml"


def _example(edit: Any = None) -> Blueprint:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data = copy.deepcopy(data)
    if edit is not None:
        edit(data)
    return Blueprint.model_validate(data)


def _docs(bp: Blueprint, target: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for a in render(bp, target):
        if isinstance(a.content, dict):
            out.append(a.content)
        elif isinstance(a.content, list):
            out.extend(d for d in a.content if isinstance(d, dict))
    return out


def test_topology_spread_counts_only_candidate_hosts() -> None:
    bp = _example()
    (dep,) = [
        d
        for d in _docs(bp, "kubernetes")
        if d.get("kind") == "Deployment" and d["metadata"]["name"] == "attonix-worker"
    ]
    hard = dep["spec"]["template"]["spec"]["topologySpreadConstraints"][0]
    assert hard["whenUnsatisfiable"] == "DoNotSchedule"
    assert (hard["nodeAffinityPolicy"], hard["nodeTaintsPolicy"]) == ("Honor", "Honor")


def test_swarm_spreads_over_managers_too() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["orchestration"]["clusters"][1]["workers"] = ["wk-c2"]
        d["services"]["backend"][5].update(spread="host", replicas=2)

    bp = _example(edit)
    rule = workload_rule(bp, bp.workloads_by_name["status-page"])
    assert [h.name for h in rule.hosts] == ["sw-a", "sw-b", "sw-c", "wk-c2"]
    (stack,) = _docs(bp, "swarm")
    placement = stack["services"]["status-page"]["deploy"]["placement"]
    # Two tasks over four nodes: one per node, so no single node holds both (was 2 per node).
    assert placement["max_replicas_per_node"] == rule.per_domain == 1


def test_ceph_monitors_one_per_failure_domain() -> None:
    bp = _example()
    (cluster,) = [d for d in _docs(bp, "kubernetes") if d.get("kind") == "CephCluster"]
    assert monitor_rule(bp, bp.storage.ceph[0]).level == "zone"
    terms = cluster["spec"]["placement"]["mon"]["podAntiAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]
    assert terms == [
        {
            "topologyKey": "topology.kubernetes.io/zone",
            "labelSelector": {"matchLabels": {"app": "rook-ceph-mon"}},
        }
    ]


def test_swarm_service_with_local_volumes_is_pinned_where_the_analysis_looks() -> None:
    def edit(d: dict[str, Any]) -> None:
        d["services"]["backend"][5].update(
            replicas=1, volumes=[{"name": "data", "mount_path": "/data"}], stateful=True
        )

    bp = _example(edit)
    rule = workload_rule(bp, bp.workloads_by_name["status-page"])
    assert [h.name for h in rule.hosts] == ["sw-a"]
