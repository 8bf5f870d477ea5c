"""Where replicas land: the spread the renderers enforce, computed as plain data.

Renderers ask the orchestrators for a topology spread with a maximum skew of one over the
failure-domain level of each workload (``Blueprint.spread_of``). The policy layer reasons about
that same spread without a scheduler, so it is fixed here once:

* the candidate hosts of a workload are its cluster's hosts (``Blueprint.cluster_hosts``),
  narrowed by ``placement`` (zones, racks and hosts; every list that is set must match);
* those hosts are grouped by domain at the spread level, domains in name order, hosts in the
  order the blueprint declares them;
* replica ``i`` goes to domain ``i mod D``, and inside that domain to host ``(i div D) mod H``.

The result is deterministic and never more than one replica apart between two domains.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

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


def spread(hosts: Sequence[Host], count: int, level: DomainLevel) -> list[Host]:
    """The host of each of ``count`` replicas, spread round-robin over domains at ``level``."""
    return _round_robin(list(group_by_domain(hosts, level).values()), count)


def _round_robin(groups: Sequence[Sequence[Host]], count: int) -> list[Host]:
    if not groups:
        return []
    out: list[Host] = []
    for i in range(count):
        members = groups[i % len(groups)]
        out.append(members[(i // len(groups)) % len(members)])
    return out


def ceph_hosts(bp: Blueprint, ceph: Ceph) -> list[Host]:
    """The OSD hosts of a Ceph cluster (Rook falls back to its Kubernetes cluster's hosts)."""
    if ceph.hosts:
        return [bp.hosts_by_name[n] for n in dict.fromkeys(ceph.hosts) if n in bp.hosts_by_name]
    if ceph.kubernetes_cluster is not None:
        cluster = bp.clusters_by_name.get(ceph.kubernetes_cluster)
        if cluster is not None:
            return bp.cluster_hosts(cluster)
    return []


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


# (cluster, placement zones, racks, hosts)
_Key = tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]


@dataclass
class Placer:
    """Computes replica placement for one blueprint, caching per (cluster, placement, level).

    Thousands of services usually share a handful of clusters, so the grouping work is done
    once per distinct key rather than once per service.
    """

    blueprint: Blueprint
    _candidates: dict[_Key, list[Host]] = field(default_factory=dict, repr=False)
    _groups: dict[tuple[_Key, DomainLevel], list[list[Host]]] = field(
        default_factory=dict, repr=False
    )

    def candidates(self, cluster: Cluster, placement: Placement | None) -> list[Host]:
        """The hosts of ``cluster`` allowed by ``placement``."""
        key = _key(cluster, placement)
        found = self._candidates.get(key)
        if found is None:
            hosts = self.blueprint.cluster_hosts(cluster)
            found = [h for h in hosts if matches(h, placement)]
            self._candidates[key] = found
        return found

    def workload_hosts(self, workload: Service | Frontend) -> list[Host]:
        """The hosts a workload's replicas may run on."""
        cluster = self.blueprint.clusters_by_name.get(workload.cluster)
        if cluster is None:
            return []
        return self.candidates(cluster, workload.placement)

    def database_hosts(self, database: Database) -> list[Host]:
        """The hosts a database's instances may run on (none for managed databases)."""
        if database.cluster is None:
            return []
        cluster = self.blueprint.clusters_by_name.get(database.cluster)
        return [] if cluster is None else self.candidates(cluster, None)

    def domains(
        self, cluster: Cluster, placement: Placement | None, level: DomainLevel
    ) -> list[list[Host]]:
        """The allowed hosts of ``cluster`` grouped by domain at ``level``, in name order."""
        key = (_key(cluster, placement), level)
        found = self._groups.get(key)
        if found is None:
            hosts = self.candidates(cluster, placement)
            found = list(group_by_domain(hosts, level).values())
            self._groups[key] = found
        return found

    def workload_domains(self, workload: Service | Frontend) -> list[list[Host]]:
        """A workload's allowed hosts grouped by domain at its spread level."""
        cluster = self.blueprint.clusters_by_name.get(workload.cluster)
        if cluster is None:
            return []
        return self.domains(cluster, workload.placement, self.blueprint.spread_of(workload))

    def place_workload(self, workload: Service | Frontend) -> Counter[str]:
        """Replicas per host name for a running workload."""
        groups = self.workload_domains(workload)
        return Counter(h.name for h in _round_robin(groups, running_replicas(workload)))

    def place_database(self, database: Database) -> Counter[str]:
        """Instances per host name for a database run inside the data center."""
        cluster = self.blueprint.clusters_by_name.get(database.cluster or "")
        if database.cluster is None or cluster is None:
            return Counter()
        groups = self.domains(cluster, None, self.blueprint.spread_of(database))
        return Counter(h.name for h in _round_robin(groups, database.replicas))


def _key(cluster: Cluster, placement: Placement | None) -> _Key:
    if placement is None:
        return (cluster.name, (), (), ())
    return (cluster.name, tuple(placement.zones), tuple(placement.racks), tuple(placement.hosts))
