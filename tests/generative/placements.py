"""Property 3: ``ha --fail`` verdicts equal a brute force over every placement the rendered
rules allow.

The rules are read back from the rendered files, not from the placement contract: the
Kubernetes topology spread constraint (``maxSkew``, ``DoNotSchedule``, the topology key) and
node affinity of each workload, the required anti-affinity of each database operator's
resource and of the Ceph monitors, and Swarm's ``max_replicas_per_node`` or ``spread``
preference. Every assignment of replicas to candidate hosts that those rules admit is
enumerated; for each lost domain the worst engine verdict over all of them must be the
analysis's verdict. Only topologies small enough to enumerate are compared.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from attonix.blueprint.model import Blueprint, Host
from attonix.policy.failure_domains import Placed, analyze, placed_components
from attonix.policy.placement import LEVELS, domain_of
from attonix.render.base import Artifact

KEY_LEVEL = {
    "kubernetes.io/hostname": "host",
    "attonix.io/rack": "rack",
    "topology.rook.io/rack": "rack",
    "topology.kubernetes.io/zone": "zone",
    "node.labels.zone": "zone",
    "node.labels.rack": "rack",
    "node.labels.host": "host",
}
MAX_HOSTS = 6
MAX_REPLICAS = 5
_RANK = {None: 0, "degraded": 1, "down": 2}

# (level, "even" | "at-most", per-domain cap, allowed host names)
Rendered = tuple[str, str, int, frozenset[str]]


def _nodes(bp: Blueprint, cluster: str) -> list[Host]:
    k = bp.clusters_by_name[cluster]
    names = [*k.control_plane, *k.workers] if k.kind == "swarm" else k.workers or k.control_plane
    return [bp.hosts_by_name[n] for n in dict.fromkeys(names)]


def _affinity_hosts(hosts: list[Host], pod: dict[str, Any]) -> list[Host]:
    terms = (
        pod.get("affinity", {})
        .get("nodeAffinity", {})
        .get("requiredDuringSchedulingIgnoredDuringExecution", {})
        .get("nodeSelectorTerms", [])
    )
    if not terms:
        return hosts
    (term,) = terms
    out = hosts
    for e in term["matchExpressions"]:
        level = KEY_LEVEL[e["key"]]
        out = [h for h in out if domain_of(h, level) in e["values"]]  # type: ignore[arg-type]
    return out


def _k8s_rules(bp: Blueprint, artifacts: list[Artifact]) -> dict[str, Rendered]:
    out: dict[str, Rendered] = {}
    for a in artifacts:
        docs = a.content if isinstance(a.content, list) else [a.content]
        for d in docs:
            if not isinstance(d, dict):
                continue
            kind, name = d.get("kind"), d.get("metadata", {}).get("name", "")
            if kind in ("Deployment", "StatefulSet"):
                pod = d["spec"]["template"]["spec"]
                hard = [
                    c
                    for c in pod.get("topologySpreadConstraints", [])
                    if c["whenUnsatisfiable"] == "DoNotSchedule"
                ]
                w = bp.workloads_by_name.get(name)
                if w is None or len(hard) != 1 or hard[0]["maxSkew"] != 1:
                    continue
                hosts = _affinity_hosts(_nodes(bp, w.cluster), pod)
                level = KEY_LEVEL[hard[0]["topologyKey"]]
                out[name] = (level, "even", 1, frozenset(h.name for h in hosts))
            elif kind == "Cluster" and name in bp.databases_by_name:
                level = KEY_LEVEL[d["spec"]["affinity"]["topologyKey"]]
                assert d["spec"]["affinity"]["podAntiAffinityType"] == "required"
                out[f"database/{name}"] = (level, "at-most", 1, frozenset())
            elif kind in ("InnoDBCluster", "MongoDBCommunity") and name in bp.databases_by_name:
                spec = d["spec"]
                pod = (
                    spec["podSpec"]
                    if kind == "InnoDBCluster"
                    else spec["statefulSet"]["spec"]["template"]["spec"]
                )
                (term,) = pod["affinity"]["podAntiAffinity"][
                    "requiredDuringSchedulingIgnoredDuringExecution"
                ]
                out[f"database/{name}"] = (
                    KEY_LEVEL[term["topologyKey"]],
                    "at-most",
                    1,
                    frozenset(),
                )
            elif kind == "CephCluster":
                mon = d["spec"].get("placement", {}).get("mon", {})
                terms = mon.get("podAntiAffinity", {}).get(
                    "requiredDuringSchedulingIgnoredDuringExecution", []
                )
                level = KEY_LEVEL[terms[0]["topologyKey"]] if terms else "host"
                if d["spec"]["mon"]["allowMultiplePerNode"] is False:
                    out[f"ceph/{name}"] = (level, "at-most", 1, frozenset())
    return out


def _swarm_rules(bp: Blueprint, artifacts: list[Artifact]) -> dict[str, Rendered]:
    out: dict[str, Rendered] = {}
    for a in artifacts:
        for name, svc in a.content["services"].items():
            placement = svc["deploy"].get("placement", {})
            is_db = svc["labels"].get("app.kubernetes.io/component") == "database"
            owner = bp.databases_by_name[name] if is_db else bp.workloads_by_name[name]
            hosts = _nodes(bp, owner.cluster or "")
            key = f"database/{name}" if is_db else name
            for c in placement.get("constraints", []):
                label, op, value = (
                    c.partition("==")
                    if "==" in c
                    else (c.partition("!=")[0], "!=", c.partition("!=")[2])
                )
                level = {
                    "node.labels.zone": "zone",
                    "node.labels.rack": "rack",
                    "node.hostname": "host",
                }[label]
                if op == "==":
                    hosts = [h for h in hosts if domain_of(h, level) == value]  # type: ignore[arg-type]
                else:
                    hosts = [h for h in hosts if domain_of(h, level) != value]  # type: ignore[arg-type]
            names = frozenset(h.name for h in hosts)
            if "max_replicas_per_node" in placement:
                out[key] = ("host", "at-most", placement["max_replicas_per_node"], names)
            elif placement.get("preferences"):
                label = placement["preferences"][0]["spread"]
                out[key] = (KEY_LEVEL[label], "even", 1, names)
    return out


def _placements(hosts: list[str], count: int) -> Iterator[dict[str, int]]:
    """Every way to put ``count`` identical replicas on ``hosts``."""
    for combo in itertools.combinations_with_replacement(hosts, count):
        placed: dict[str, int] = {}
        for h in combo:
            placed[h] = placed.get(h, 0) + 1
        yield placed


def _admits(bp: Blueprint, rule: Rendered, candidates: list[Host], placed: dict[str, int]) -> bool:
    level, kind, cap, _ = rule
    per: dict[str, int] = {domain_of(h, level): 0 for h in candidates}  # type: ignore[arg-type]
    for h in candidates:
        per[domain_of(h, level)] += placed.get(h.name, 0)  # type: ignore[arg-type]
    counts = list(per.values())
    if kind == "even":
        return max(counts) - min(counts) <= 1
    return max(counts) <= cap


def _schedulable(bp: Blueprint, rule: Rendered, candidates: list[Host], count: int) -> int:
    """How many replicas fit at all under an ``at-most`` rule (the rest stay pending)."""
    level, kind, cap, _ = rule
    if kind == "even" or not candidates:
        return count if candidates else 0
    domains = {domain_of(h, level) for h in candidates}  # type: ignore[arg-type]
    return min(count, cap * len(domains))


def _brute(
    bp: Blueprint, p: Placed, rule: Rendered, candidates: list[Host]
) -> dict[tuple[str, str], str | None]:
    """The worst verdict over every admitted placement, per (level, lost domain)."""
    count = _schedulable(bp, rule, candidates, p.rule.count)
    names = [h.name for h in candidates]
    admitted = [pl for pl in _placements(names, count) if _admits(bp, rule, candidates, pl)]
    worst: dict[tuple[str, str], str | None] = {}
    for level in LEVELS:
        for dom in {domain_of(h, level) for h in bp.hosts}:
            lost_hosts = {h.name for h in bp.hosts if domain_of(h, level) == dom}
            state: str | None = None
            for pl in admitted:
                lost = sum(n for h, n in pl.items() if h in lost_hosts)
                verdict = p.judge(lost)
                s = None if verdict is None else verdict[0]
                if _RANK[s] > _RANK[state]:
                    state = s
            worst[(level, dom)] = state
    return worst


def ha_mismatches(bp: Blueprint, artifacts: dict[str, list[Artifact]]) -> list[tuple[str, str]]:
    """Where the analysis and the brute force disagree (empty when they agree).

    ``artifacts`` are the blueprint's rendered files per target; the rules are read from them.
    """
    if not bp.hosts:
        return []
    rendered: dict[str, Rendered] = {}
    rendered.update(_k8s_rules(bp, artifacts.get("kubernetes", [])))
    rendered.update(_swarm_rules(bp, artifacts.get("swarm", [])))
    analyses = {level: analyze(bp, level=level) for level in LEVELS}
    out: list[tuple[str, str]] = []
    for p in placed_components(bp):
        key = p.component.split("/", 1)[1] if p.kind == "service" else p.component
        rule = rendered.get(key)
        if rule is None:
            continue  # nothing rendered to enforce (podman, mode hosts): nothing to compare
        candidates = [h for h in p.rule.hosts if not rule[3] or h.name in rule[3]]
        if rule[3] and {h.name for h in candidates} != set(rule[3]):
            out.append((p.component, f"candidate hosts differ: {sorted(rule[3])}"))
            continue
        if not candidates or len(candidates) > MAX_HOSTS or p.rule.count > MAX_REPLICAS:
            continue  # nothing can run (a placement finding), or too large to enumerate
        worst = _brute(bp, p, rule, candidates)
        for level, analysis in analyses.items():
            for loss in analysis.losses:
                got = next((i.state for i in loss.impacts if i.component == p.component), None)
                want = worst[(level, loss.name)]
                if got != want:
                    out.append(
                        (
                            f"{p.component} losing {level} {loss.name}",
                            f"analysis says {got or 'ok'}, brute force over the rendered rules "
                            f"says {want or 'ok'} (rule {rule[:3]})",
                        )
                    )
    return out
