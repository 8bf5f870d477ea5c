"""The placement contract: what the rendered scheduling rules guarantee about where replicas run.

Renderers and the failure-domain analysis read this one module, so the analysis assumes
exactly what the output enforces and nothing more. Every replicated component gets a
:class:`Rule`: its candidate hosts, how many replicas it asks for, a failure-domain level and
one of two guarantees over the domains of that level:

* ``even`` — the replica counts of any two domains differ by at most one. Kubernetes
  renders it as a topology spread constraint (``maxSkew: 1``, ``whenUnsatisfiable:
  DoNotSchedule``, taints and node affinity honoured, so only candidate hosts count); Swarm as
  a ``spread`` placement preference over the level's node label, which the scheduler follows
  while every node is available (the steady state the analysis starts from).
* ``at-most`` — no domain holds more than ``per_domain`` replicas. Kubernetes renders one per
  domain as a required pod anti-affinity (the database operators' instances, Ceph monitors);
  Swarm renders ``max_replicas_per_node`` at host level, and pins a service with ``local``
  volumes to the first candidate host (``node.hostname==…``), where its volumes live.

A database on Swarm or Podman is one container pinned to the node that holds its volume
(``at-most`` one on that host).

Podman has no scheduler, so no rendered rule enforces anything there: its rule (``even`` over
hosts) is what the deploy step does. The Podman driver talks to each host's own engine (one
Podman connection per host; it refuses one connection for a cluster of several hosts) and
plays replicas round-robin over the candidate hosts in blueprint order, so counts differ by at
most one; validation keeps an exposed workload, whose ports are published on each host, at
no more replicas than candidate hosts (one per host). The one exception is a lab set-up with
no connection at all, where this machine's Podman stands in for every host and every plan
says so.

Nothing is guaranteed below the rule's level: inside a domain, every replica may be on the
same host. Blueprint order and host names never decide anything, so the worst case over every
placement the rules allow is what :meth:`Rule.worst_lost` returns.

Candidate hosts: a Kubernetes cluster's workers (its control-plane nodes when it has no
workers: they are tainted otherwise); every node of a Swarm cluster, managers included (the
stack does not keep tasks off managers); a Podman cluster's hosts. ``placement`` narrows them
(every list that is set must match).
"""

from __future__ import annotations

import functools
import math
import weakref
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from attonix.blueprint.model import (
    Blueprint,
    Ceph,
    Cluster,
    Database,
    DomainLevel,
    Frontend,
    Host,
    Placement,
    Service,
)

LEVELS: tuple[DomainLevel, ...] = ("host", "rack", "zone")
Guarantee = Literal["even", "at-most"]


def domain_of(host: Host, level: DomainLevel) -> str:
    """The name of the failure domain of ``level`` that ``host`` belongs to."""
    if level == "host":
        return host.name
    if level == "rack":
        return host.rack
    return host.zone


def levels_up_to(level: DomainLevel) -> tuple[DomainLevel, ...]:
    """``level`` and every finer level (a zone contains racks, a rack contains hosts)."""
    return LEVELS[: LEVELS.index(level) + 1]


def group_by_domain(hosts: Iterable[Host], level: DomainLevel) -> dict[str, list[Host]]:
    """Hosts grouped by their domain at ``level``, domains in name order."""
    groups: dict[str, list[Host]] = {}
    for host in hosts:
        groups.setdefault(domain_of(host, level), []).append(host)
    return {name: groups[name] for name in sorted(groups)}


@dataclass(frozen=True)
class Rule:
    """What the rendered rules guarantee about one component's replicas (see the module doc)."""

    hosts: tuple[Host, ...]
    count: int
    level: DomainLevel
    guarantee: Guarantee
    per_domain: int = 1

    @functools.cached_property
    def domains(self) -> dict[str, list[Host]]:
        """The candidate hosts grouped by domain at the rule's level, in name order."""
        return group_by_domain(self.hosts, self.level)

    @functools.cached_property
    def domain_index(self) -> dict[str, str]:
        """The domain of each candidate host, by host name."""
        return {h.name: domain_of(h, self.level) for h in self.hosts}

    @functools.cached_property
    def running(self) -> int:
        """How many replicas can be scheduled at all (``at-most`` caps them per domain)."""
        d = len(self.domains)
        if d == 0:
            return 0
        if self.guarantee == "even":
            return self.count
        return min(self.count, self.per_domain * d)

    def allows(self, placed: Mapping[str, int]) -> bool:
        """Whether replicas per host name ``placed`` satisfy the rule (for enumeration)."""
        names = {h.name for h in self.hosts}
        if any(n not in names for n, k in placed.items() if k) or sum(placed.values()) != (
            self.running
        ):
            return False
        per: Counter[str] = Counter(dict.fromkeys(self.domains, 0))
        for h in self.hosts:
            per[domain_of(h, self.level)] += placed.get(h.name, 0)
        counts = list(per.values())
        if self.guarantee == "even":
            return max(counts) - min(counts) <= 1
        return max(counts) <= self.per_domain

    def worst_lost(self, lost_hosts: frozenset[str]) -> int:
        """The most replicas any allowed placement loses with ``lost_hosts``."""
        index = self.domain_index
        return self.lost_touching(len({index[h] for h in lost_hosts if h in index}))

    def lost_touching(self, touched: int) -> int:
        """The most replicas any allowed placement loses when ``touched`` of its domains go."""
        if touched == 0:
            return 0
        if self.guarantee == "even":
            q, r = divmod(self.count, len(self.domains))
            return touched * q + min(touched, r)
        return min(self.running, self.per_domain * touched)


def matches(host: Host, placement: Placement | None) -> bool:
    """Whether ``host`` is allowed by ``placement`` (no placement allows every host)."""
    if placement is None:
        return True
    if placement.zones and host.zone not in placement.zones:
        return False
    if placement.racks and host.rack not in placement.racks:
        return False
    return not (placement.hosts and host.name not in placement.hosts)


def minimum_replicas(workload: Service | Frontend) -> int:
    """The replica count the workload must keep: the autoscaler's floor, else ``replicas``."""
    if workload.autoscaling is not None:
        return workload.autoscaling.min_replicas
    return workload.replicas


def running_replicas(workload: Service | Frontend) -> int:
    """How many replicas run in steady state (never fewer than the autoscaler's floor)."""
    return max(workload.replicas, minimum_replicas(workload))


def cluster_nodes(bp: Blueprint, cluster: Cluster) -> list[Host]:
    """The hosts of ``cluster`` that may run its workloads, in blueprint order, once each.

    Kubernetes: the workers (the control plane only when there are none); Swarm: managers and
    workers alike; Podman: its hosts.
    """
    if cluster.kind == "swarm":
        names = [*cluster.control_plane, *cluster.workers]
    else:
        names = cluster.workers or cluster.control_plane
    return [bp.hosts_by_name[n] for n in dict.fromkeys(names) if n in bp.hosts_by_name]


def ceph_hosts(bp: Blueprint, ceph: Ceph) -> list[Host]:
    """The OSD hosts of a Ceph cluster (Rook falls back to its Kubernetes cluster's hosts)."""
    if ceph.hosts:
        return [bp.hosts_by_name[n] for n in dict.fromkeys(ceph.hosts) if n in bp.hosts_by_name]
    if ceph.kubernetes_cluster is not None:
        cluster = bp.clusters_by_name.get(ceph.kubernetes_cluster)
        if cluster is not None:
            return cluster_nodes(bp, cluster)
    return []


def monitor_hosts(bp: Blueprint, ceph: Ceph) -> list[Host]:
    """Where Ceph monitors may run: Rook places them on any schedulable node of its cluster."""
    if ceph.mode == "rook" and ceph.kubernetes_cluster is not None:
        cluster = bp.clusters_by_name.get(ceph.kubernetes_cluster)
        if cluster is not None:
            return cluster_nodes(bp, cluster)
    return ceph_hosts(bp, ceph)


def swarm_max_per_node(count: int, nodes: int) -> int:
    """``max_replicas_per_node`` for a Swarm service spread over hosts: ``ceil(count/nodes)``."""
    return max(1, math.ceil(count / max(1, nodes)))


def workload_rule(bp: Blueprint, workload: Service | Frontend) -> Rule:
    """The rule of a backend service or frontend on its cluster.

    Renderers ask once per workload: the rules of the last blueprint asked about are kept
    (a blueprint is immutable), so its candidate hosts are filtered once per distinct
    placement, not once per workload.
    """
    global _last_rules  # noqa: PLW0603 - a one-entry cache keyed by the blueprint's identity
    last = _last_rules
    if last is None or last[0]() is not bp:
        last = _last_rules = (weakref.ref(bp), WorkloadRules(bp))
    return last[1](workload)


_last_rules: tuple[weakref.ref[Blueprint], WorkloadRules] | None = None


class WorkloadRules:
    """``workload_rule`` for many workloads of one blueprint.

    Workloads on the same cluster with the same placement share one tuple of candidate hosts,
    and equal rules are one object, so a data center of thousands of services filters its
    hosts and groups them by domain once per distinct rule, not once per service.
    """

    def __init__(self, bp: Blueprint) -> None:
        self._bp = bp
        self._candidates: dict[_Key, tuple[Host, ...]] = {}
        self._rules: dict[tuple[object, ...], Rule] = {}

    def __call__(self, workload: Service | Frontend) -> Rule:
        """The rule of ``workload`` (see :func:`workload_rule`)."""
        bp = self._bp
        cluster = bp.clusters_by_name.get(workload.cluster)
        count = running_replicas(workload)
        level = bp.spread_of(workload)
        if cluster is None:
            return Rule((), count, level, "even")
        pin = workload.placement
        where = _key(cluster, pin)
        hosts = self._candidates.get(where)
        if hosts is None:
            hosts = tuple(h for h in cluster_nodes(bp, cluster) if matches(h, pin))
            self._candidates[where] = hosts
        if cluster.kind == "swarm" and isinstance(workload, Service) and workload.volumes:
            # A local volume lives on one node: the task is pinned to the first candidate.
            return self._rule(where, "first", hosts[:1], count, "host", "at-most", max(1, count))
        if cluster.kind == "podman":
            return self._rule(where, "all", hosts, count, "host", "even", 1)
        if cluster.kind == "swarm" and level == "host":
            per_node = swarm_max_per_node(count, len(hosts))
            return self._rule(where, "all", hosts, count, "host", "at-most", per_node)
        return self._rule(where, "all", hosts, count, level, "even", 1)

    def _rule(
        self,
        where: object,
        which: str,
        hosts: tuple[Host, ...],
        count: int,
        level: DomainLevel,
        guarantee: Guarantee,
        per_domain: int,
    ) -> Rule:
        key = (where, which, count, level, guarantee, per_domain)
        rule = self._rules.get(key)
        if rule is None:
            rule = self._rules[key] = Rule(hosts, count, level, guarantee, per_domain)
        return rule


def database_node(bp: Blueprint, database: Database) -> Host | None:
    """The node of a database run as one container on Swarm or Podman (None elsewhere).

    Its data lives in a local volume on that node, so the renderers pin it there: the node
    named by ``host``, else the cluster's first node.
    """
    cluster = bp.clusters_by_name.get(database.cluster or "")
    if cluster is None or cluster.kind not in ("swarm", "podman"):
        return None
    nodes = cluster_nodes(bp, cluster)
    if database.host is not None:
        return next((h for h in nodes if h.name == database.host), None)
    return nodes[0] if nodes else None


def database_rule(bp: Blueprint, database: Database) -> Rule:
    """The rule of a database's instances: operators keep one instance per domain; on Swarm
    or Podman the one instance stays on its node (:func:`database_node`)."""
    level = bp.spread_of(database)
    cluster = bp.clusters_by_name.get(database.cluster or "")
    if database.managed is not None or cluster is None:
        return Rule((), database.replicas, level, "at-most")
    if cluster.kind in ("swarm", "podman"):
        node = database_node(bp, database)
        return Rule((node,) if node else (), database.replicas, "host", "at-most")
    return Rule(tuple(cluster_nodes(bp, cluster)), database.replicas, level, "at-most")


def monitor_rule(bp: Blueprint, ceph: Ceph) -> Rule:
    """The rule of a Ceph cluster's monitors: one per domain of its failure domain."""
    return Rule(tuple(monitor_hosts(bp, ceph)), ceph.monitors, ceph.failure_domain, "at-most")


# (cluster, placement zones, racks, hosts)
_Key = tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]


@dataclass
class Placer:
    """Candidate hosts per (cluster, placement), cached for blueprints with many services."""

    blueprint: Blueprint
    _candidates: dict[_Key, list[Host]] = field(default_factory=dict, repr=False)
    _domains: dict[tuple[_Key, DomainLevel], list[list[Host]]] = field(
        default_factory=dict, repr=False
    )

    def candidates(self, cluster: Cluster, placement: Placement | None) -> list[Host]:
        """The hosts of ``cluster`` allowed by ``placement``."""
        key = _key(cluster, placement)
        found = self._candidates.get(key)
        if found is None:
            found = [h for h in cluster_nodes(self.blueprint, cluster) if matches(h, placement)]
            self._candidates[key] = found
        return found

    def workload_hosts(self, workload: Service | Frontend) -> list[Host]:
        """The hosts a workload's replicas may run on."""
        cluster = self.blueprint.clusters_by_name.get(workload.cluster)
        if cluster is None:
            return []
        return self.candidates(cluster, workload.placement)

    def workload_domains(self, workload: Service | Frontend) -> list[list[Host]]:
        """A workload's allowed hosts grouped by domain at its spread level."""
        level = self.blueprint.spread_of(workload)
        cluster = self.blueprint.clusters_by_name.get(workload.cluster)
        if cluster is None:
            return []
        key = (_key(cluster, workload.placement), level)
        found = self._domains.get(key)
        if found is None:
            found = list(group_by_domain(self.workload_hosts(workload), level).values())
            self._domains[key] = found
        return found


def _key(cluster: Cluster, placement: Placement | None) -> _Key:
    if placement is None:
        return (cluster.name, (), (), ())
    return (cluster.name, tuple(placement.zones), tuple(placement.racks), tuple(placement.hosts))
