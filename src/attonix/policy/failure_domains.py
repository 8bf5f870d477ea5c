"""What the data center loses when one failure domain (a host, a rack or a zone) goes down.

The analysis is pure and assumes the placement the renderers enforce (see ``placement.py``):

* **Services and frontends** run ``max(replicas, autoscaling.min_replicas)`` replicas, spread
  round-robin with a maximum skew of one over the failure-domain level of the service
  (``spread``, else ``ha.failure_domain``) across its cluster's hosts (workers, else the
  control plane), narrowed by ``placement``. A service is *degraded* when fewer than its
  minimum (``autoscaling.min_replicas``, else ``replicas``) survive, *down* at zero.
* **Databases** run ``replicas`` instances spread the same way over their Kubernetes
  cluster's hosts. One is down without a majority of instances (no quorum for failover), or
  when fewer than the primary plus ``synchronous_replicas`` standbys survive (writes block);
  otherwise losing instances degrades it (the primary may have to fail over).
  **BigAnimal** databases are managed outside the data center's failure domains and are
  never affected.
* **Ceph monitors** (``monitors`` of them) are spread over the Ceph hosts at the cluster's
  failure domain; without a majority the cluster stops.
* **Ceph pools** keep one copy per failure domain of the pool's level over the Ceph hosts, as
  CRUSH does. Placement groups differ in where their copies are, so the worst one is taken:
  losing a domain may remove one copy from every pool-level domain it touches. A pool whose
  worst placement group keeps fewer than ``min_size`` copies blocks I/O (down).
* **Load balancers** are down when every one of their hosts is lost.
* **Control planes** keep a Raft majority: etcd on Kubernetes control-plane nodes, managers
  on Swarm. Podman clusters have none.

Losing something that merely reduces redundancy is reported as degraded; only *down* fails
``attonix ha`` and becomes a finding in ``attonix check``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from attonix.blueprint.diagnostics import Path
from attonix.blueprint.model import Blueprint, DomainLevel, Host
from attonix.policy.components import workloads
from attonix.policy.placement import (
    LEVELS,
    Placer,
    ceph_hosts,
    domain_of,
    minimum_replicas,
    running_replicas,
    spread,
)

State = Literal["ok", "degraded", "down"]
Kind = Literal[
    "service", "database", "ceph-monitors", "ceph-pool", "load-balancer", "control-plane"
]
_Verdict = tuple[State, str] | None


@dataclass(frozen=True, slots=True)
class Impact:
    """What one component suffers when a domain is lost."""

    kind: Kind
    component: str
    path: Path
    state: State
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": self.kind,
            "component": self.component,
            "state": self.state,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class DomainLoss:
    """The loss of one failure domain and everything it breaks."""

    level: DomainLevel
    name: str
    hosts: tuple[str, ...]
    impacts: tuple[Impact, ...]

    @property
    def state(self) -> State:
        """The worst state of any component: ok, degraded or down."""
        states = {i.state for i in self.impacts}
        return "down" if "down" in states else "degraded" if states else "ok"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "level": self.level,
            "name": self.name,
            "hosts": list(self.hosts),
            "state": self.state,
            "impacts": [i.to_dict() for i in self.impacts],
        }


@dataclass(frozen=True, slots=True)
class Analysis:
    """The outcome of losing each failure domain of one level (or one named domain)."""

    level: DomainLevel
    losses: tuple[DomainLoss, ...]

    @property
    def survives(self) -> bool:
        """True when no single loss analysed takes anything down."""
        return all(loss.state != "down" for loss in self.losses)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "level": self.level,
            "survives": self.survives,
            "losses": [loss.to_dict() for loss in self.losses],
        }


@dataclass(frozen=True, slots=True)
class _Tracked:
    kind: Kind
    component: str
    path: Path
    hosts: frozenset[str]
    judge: Callable[[frozenset[str]], _Verdict]


def _lost(placed: Counter[str], lost_hosts: frozenset[str]) -> int:
    return sum(n for h, n in placed.items() if h in lost_hosts)


def _quorum(total: int, lost: int, noun: str) -> _Verdict:
    if lost == 0:
        return None
    left = total - lost
    if left * 2 <= total:
        return "down", f"{left} of {total} {noun} left: no majority"
    return "degraded", f"{left} of {total} {noun} left"


def _workload_judge(placed: Counter[str], running: int, floor: int) -> Callable[..., _Verdict]:
    def judge(lost_hosts: frozenset[str]) -> _Verdict:
        lost = _lost(placed, lost_hosts)
        left = running - lost
        if lost == 0 or left >= floor:
            return None
        if left <= 0:
            return "down", f"all {running} replicas lost"
        return "degraded", f"{left} of {running} replicas left (minimum {floor})"

    return judge


def _database_judge(placed: Counter[str], total: int, sync: int) -> Callable[..., _Verdict]:
    def judge(lost_hosts: frozenset[str]) -> _Verdict:
        lost = _lost(placed, lost_hosts)
        verdict = _quorum(total, lost, "instances")
        left = total - lost
        if verdict is not None and verdict[0] == "degraded" and left < 1 + sync:
            return "down", (
                f"{left} of {total} instances left: writes block waiting for "
                f"{sync} synchronous standby(s)"
            )
        if verdict is not None and verdict[0] == "degraded":
            return "degraded", verdict[1] + " (the primary fails over if it was lost)"
        return verdict

    return judge


def _counted_judge(placed: Counter[str], total: int, noun: str) -> Callable[..., _Verdict]:
    return lambda lost_hosts: _quorum(total, _lost(placed, lost_hosts), noun)


def _pool_judge(
    groups: dict[str, frozenset[str]], copies: int, min_size: int, replicas: int
) -> Callable[..., _Verdict]:
    def judge(lost_hosts: frozenset[str]) -> _Verdict:
        touched = sum(1 for members in groups.values() if members & lost_hosts)
        lost = min(copies, touched)
        if lost == 0:
            return None
        left = copies - lost
        if left < min_size:
            return "down", (
                f"worst placement group keeps {left} of {replicas} copies, below min_size "
                f"{min_size}: I/O blocks"
            )
        return "degraded", f"worst placement group keeps {left} of {replicas} copies"

    return judge


def _lb_judge(hosts: list[str]) -> Callable[..., _Verdict]:
    def judge(lost_hosts: frozenset[str]) -> _Verdict:
        lost = sum(1 for h in hosts if h in lost_hosts)
        if lost == 0:
            return None
        if lost == len(hosts):
            return "down", f"all {len(hosts)} load-balancer host(s) lost"
        return "degraded", f"{len(hosts) - lost} of {len(hosts)} load-balancer hosts left"

    return judge


def _tracked(bp: Blueprint) -> list[_Tracked]:
    placer = Placer(bp)
    out: list[_Tracked] = []
    for path, component, w in workloads(bp):
        running = running_replicas(w)
        if running == 0:
            continue
        placed = placer.place_workload(w)
        judge = _workload_judge(placed, running, minimum_replicas(w))
        out.append(_Tracked("service", component, path, frozenset(placed), judge))
    for i, d in enumerate(bp.databases):
        if d.managed is not None:
            continue  # managed by the provider, outside these failure domains
        placed = placer.place_database(d)
        judge = _database_judge(placed, d.replicas, d.synchronous_replicas)
        out.append(
            _Tracked("database", f"database/{d.name}", ("databases", i), frozenset(placed), judge)
        )
    for i, c in enumerate(bp.storage.ceph):
        hosts = ceph_hosts(bp, c)
        if not hosts:
            continue
        mons = Counter(h.name for h in spread(hosts, c.monitors, c.failure_domain))
        out.append(
            _Tracked(
                "ceph-monitors",
                f"ceph/{c.name}",
                ("storage", "ceph", i, "monitors"),
                frozenset(mons),
                _counted_judge(mons, c.monitors, "monitors"),
            )
        )
        for j, p in enumerate(c.pools):
            level = p.failure_domain or c.failure_domain
            groups: dict[str, set[str]] = {}
            for h in hosts:
                groups.setdefault(domain_of(h, level), set()).add(h.name)
            frozen = {k: frozenset(v) for k, v in groups.items()}
            copies = min(p.replicas, len(frozen))
            out.append(
                _Tracked(
                    "ceph-pool",
                    f"pool/{p.name}",
                    ("storage", "ceph", i, "pools", j),
                    frozenset(h.name for h in hosts),
                    _pool_judge(frozen, copies, p.min_size, p.replicas),
                )
            )
    for i, lb in enumerate(bp.ha.load_balancers):
        names = [n for n in dict.fromkeys(lb.hosts) if n in bp.hosts_by_name]
        if names:
            out.append(
                _Tracked(
                    "load-balancer",
                    f"load-balancer/{lb.name}",
                    ("ha", "load_balancers", i),
                    frozenset(names),
                    _lb_judge(names),
                )
            )
    for i, k in enumerate(bp.orchestration.clusters):
        members = Counter(n for n in dict.fromkeys(k.control_plane) if n in bp.hosts_by_name)
        if k.kind == "podman" or not members:
            continue
        noun = "etcd members" if k.kind == "kubernetes" else "swarm managers"
        out.append(
            _Tracked(
                "control-plane",
                f"cluster/{k.name}",
                ("orchestration", "clusters", i, "control_plane"),
                frozenset(members),
                _counted_judge(members, len(members), noun),
            )
        )
    return out


def domains(bp: Blueprint, level: DomainLevel) -> dict[str, list[Host]]:
    """Every failure domain of ``level`` with its hosts, in name order."""
    groups: dict[str, list[Host]] = {}
    for h in bp.hosts:
        groups.setdefault(domain_of(h, level), []).append(h)
    return {name: groups[name] for name in sorted(groups)}


def resolve(bp: Blueprint, target: str) -> tuple[DomainLevel, str | None] | None:
    """Interpret ``--fail``: a level ("host", "rack", "zone") or the name of one domain.

    A name is looked up as a host, then a rack, then a zone; None if it is none of them.
    """
    for level in LEVELS:
        if target == level:
            return level, None
    for level in LEVELS:
        if any(domain_of(h, level) == target for h in bp.hosts):
            return level, target
    return None


def analyze(bp: Blueprint, *, level: DomainLevel, only: str | None = None) -> Analysis:
    """The impact of losing each domain of ``level`` (or just the one named ``only``)."""
    return _analyze(bp, level, only, _tracked(bp))


def analyze_levels(bp: Blueprint, levels: Iterable[DomainLevel]) -> list[Analysis]:
    """``analyze`` for several levels, placing every component only once."""
    items = _tracked(bp)
    return [_analyze(bp, lv, None, items) for lv in levels]


def _analyze(
    bp: Blueprint, level: DomainLevel, only: str | None, items: list[_Tracked]
) -> Analysis:
    by_domain: dict[str, list[int]] = {}
    hosts = bp.hosts_by_name
    for idx, t in enumerate(items):
        for name in {domain_of(hosts[h], level) for h in t.hosts if h in hosts}:
            by_domain.setdefault(name, []).append(idx)
    losses: list[DomainLoss] = []
    for name, members in domains(bp, level).items():
        if only is not None and name != only:
            continue
        lost = frozenset(h.name for h in members)
        impacts: list[Impact] = []
        for idx in by_domain.get(name, []):
            t = items[idx]
            verdict = t.judge(lost)
            if verdict is not None:
                impacts.append(Impact(t.kind, t.component, t.path, verdict[0], verdict[1]))
        losses.append(DomainLoss(level, name, tuple(sorted(lost)), tuple(impacts)))
    return Analysis(level, tuple(losses))
