"""What the data center loses when one failure domain (a host, a rack or a zone) goes down.

The analysis is pure. It assumes exactly the placement contract of ``placement.py`` (what the
rendered spread and affinity rules guarantee) and takes, for every component, the worst
placement those rules allow: nothing below a rule's level is assumed, so a domain that holds
replicas may hold them all on the host that is lost. Per engine (docs/policy.md has the table):

* **Services and frontends** are *degraded* when fewer than their minimum
  (``autoscaling.min_replicas``, else ``replicas``) survive, *down* at zero.
* **PostgreSQL** (CloudNativePG) without synchronous standbys: while one instance survives,
  CloudNativePG promotes the most advanced standby if the primary was lost — *degraded*, and
  writes the primary acknowledged but had not yet shipped may be lost. With
  ``synchronous_replicas: N`` (``dataDurability: required``) a failover loses no committed
  write, but every commit waits for N synchronous standbys: with fewer than N standbys left
  beside the primary, writes block until enough come back (reads go on) — *down*.
* **MySQL** (InnoDB Cluster, Group Replication) and **MongoDB** (replica set) need a majority
  of their members to accept writes; ``synchronous_replicas`` means nothing to them.
* **BigAnimal** databases are managed outside the data center's failure domains.
* **Ceph monitors** need a majority (Paxos). **Ceph pools** keep one copy per domain of the
  pool's level (CRUSH); the worst placement group loses one copy per pool-level domain the
  loss touches, and below ``min_size`` copies its I/O blocks (down).
* **Load balancers** (keepalived moves the virtual IP) are down when every host is lost.
* **Control planes** keep a Raft majority: etcd on Kubernetes control-plane nodes, managers
  on Swarm (which may run tasks too, see ``placement.py``). Podman clusters have none.

Losing something that merely reduces redundancy is reported as degraded; only *down* fails
``attonix ha`` and becomes a finding in ``attonix check``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from attonix.blueprint.diagnostics import Path
from attonix.blueprint.model import Blueprint, Database, DomainLevel, Host
from attonix.policy.components import workloads
from attonix.policy.placement import (
    LEVELS,
    Rule,
    WorkloadRules,
    ceph_hosts,
    database_rule,
    domain_of,
    minimum_replicas,
    monitor_rule,
)

State = Literal["ok", "degraded", "down"]
Kind = Literal[
    "service", "database", "ceph-monitors", "ceph-pool", "load-balancer", "control-plane"
]
Verdict = tuple[State, str] | None
#: An engine's verdict from how many of its running instances were lost.
CountJudge = Callable[[int], Verdict]


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
class Placed:
    """A component whose instances the schedulers place under a contract rule."""

    kind: Kind
    component: str
    path: Path
    rule: Rule
    judge: CountJudge
    # Components with equal keys and candidate hosts get the same verdict for every loss
    # (services: the rule's terms and the replica floor), so it is judged once per domain.
    same_as: Hashable | None = None


@dataclass(frozen=True, slots=True)
class _Tracked:
    kind: Kind
    component: str
    path: Path
    hosts: frozenset[str]
    judge: Callable[[frozenset[str]], Verdict]
    same_as: Hashable | None = None
    # Placed components: their contract rule and count judge, so the analysis can count the
    # rule's domains a loss touches once per candidate set instead of once per component.
    rule: Rule | None = None
    count_judge: CountJudge | None = None


def _unscheduled(rule: Rule) -> str:
    missing = rule.count - rule.running
    if missing <= 0:
        return ""
    return (
        f" ({missing} of {rule.count} cannot be scheduled: at most {rule.per_domain} "
        f"per {rule.level})"
    )


def quorum(
    total: int, noun: str, *, lost_majority: str = "no majority", note: str = ""
) -> CountJudge:
    """A majority system (Raft, Paxos, Group Replication, replica-set elections)."""

    def judge(lost: int) -> Verdict:
        if lost == 0:
            return None
        left = max(0, total - lost)
        if left * 2 <= total:
            return "down", f"{left} of {total} {noun} left: {lost_majority}"
        return "degraded", f"{left} of {total} {noun} left{note}"

    return judge


def service_judge(running: int, floor: int) -> CountJudge:
    """Replicas of a stateless service: degraded below ``floor``, down at zero."""

    def judge(lost: int) -> Verdict:
        left = running - lost
        if lost == 0 or left >= floor:
            return None
        if left <= 0:
            return "down", f"all {running} replicas lost"
        return "degraded", f"{left} of {running} replicas left (minimum {floor})"

    return judge


def postgresql_judge(running: int, sync: int) -> CountJudge:
    """CloudNativePG: failover to a survivor; with synchronous standbys, writes need them."""

    def judge(lost: int) -> Verdict:
        if lost == 0:
            return None
        left = running - lost
        if left <= 0:
            return "down", f"all {running} instances lost"
        head = f"{left} of {running} instances left"
        if sync == 0:
            return "degraded", (
                f"{head}: if the primary was lost, CloudNativePG promotes the most advanced "
                "standby; writes not yet replicated to it are lost (asynchronous replication)"
            )
        if left - 1 < sync:
            return "down", (
                f"{head}: writes block until {sync} synchronous standby(s) are back "
                f"(only {left - 1} left beside the primary); reads continue"
            )
        return "degraded", (
            f"{head}: a synchronous standby takes over if the primary was lost; no committed "
            "write is lost"
        )

    return judge


def database_judge(db: Database, running: int) -> CountJudge:
    """The verdict of each engine on losing some of its ``running`` instances."""
    if db.engine == "postgresql":
        return postgresql_judge(running, db.synchronous_replicas)
    if db.engine == "mysql":
        return quorum(
            running,
            "Group Replication members",
            lost_majority="no majority, the group stops accepting writes",
            note=" (a new primary is elected if the primary was lost)",
        )
    return quorum(
        running,
        "replica-set members",
        lost_majority="no majority, no primary can be elected and writes stop (secondaries "
        "still serve reads)",
        note=" (the members elect a new primary if the primary was lost)",
    )


def _with_note(judge: CountJudge, note: str) -> CountJudge:
    if not note:
        return judge

    def noted(lost: int) -> Verdict:
        verdict = judge(lost)
        return None if verdict is None else (verdict[0], verdict[1] + note)

    return noted


def placed_components(bp: Blueprint) -> list[Placed]:
    """Every component placed by a scheduler, with its contract rule and its engine's judge."""
    out: list[Placed] = []
    rules = WorkloadRules(bp)
    for path, component, w in workloads(bp):
        rule = rules(w)
        if rule.count == 0:
            continue
        floor = minimum_replicas(w)
        judge = service_judge(rule.running, floor)
        key = (rule.count, rule.level, rule.guarantee, rule.per_domain, floor)
        out.append(Placed("service", component, path, rule, judge, key))
    # A database's rule depends only on these terms: databases sharing them share one rule
    # (its candidate hosts grouped by domain once), and with the same engine and synchronous
    # standbys they are judged alike.
    db_rules: dict[tuple[object, ...], Rule] = {}
    for i, d in enumerate(bp.databases):
        if d.managed is not None:
            continue  # managed by the provider, outside these failure domains
        terms = (d.cluster, d.host, d.replicas, bp.spread_of(d))
        if terms not in db_rules:
            db_rules[terms] = database_rule(bp, d)
        rule = db_rules[terms]
        judge = _with_note(database_judge(d, rule.running), _unscheduled(rule))
        sync = d.synchronous_replicas if d.engine == "postgresql" else 0
        same = ("database", terms, d.engine, sync)
        out.append(Placed("database", f"database/{d.name}", ("databases", i), rule, judge, same))
    for i, c in enumerate(bp.storage.ceph):
        rule = monitor_rule(bp, c)
        if not rule.hosts:
            continue
        judge = _with_note(quorum(rule.running, "monitors"), _unscheduled(rule))
        path = ("storage", "ceph", i, "monitors")
        out.append(Placed("ceph-monitors", f"ceph/{c.name}", path, rule, judge))
    return out


def _pool_judge(
    groups: dict[str, frozenset[str]], copies: int, min_size: int, replicas: int
) -> Callable[[frozenset[str]], Verdict]:
    def judge(lost_hosts: frozenset[str]) -> Verdict:
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


def _lb_judge(hosts: list[str]) -> Callable[[frozenset[str]], Verdict]:
    def judge(lost_hosts: frozenset[str]) -> Verdict:
        lost = sum(1 for h in hosts if h in lost_hosts)
        if lost == 0:
            return None
        if lost == len(hosts):
            return "down", f"all {len(hosts)} load-balancer host(s) lost"
        return "degraded", f"{len(hosts) - lost} of {len(hosts)} load-balancer hosts left"

    return judge


def _members_judge(members: list[str], judge: CountJudge) -> Callable[[frozenset[str]], Verdict]:
    return lambda lost_hosts: judge(sum(1 for n in members if n in lost_hosts))


def _by_hosts(p: Placed) -> Callable[[frozenset[str]], Verdict]:
    rule, judge = p.rule, p.judge
    return lambda lost_hosts: judge(rule.worst_lost(lost_hosts))


def _tracked(bp: Blueprint) -> list[_Tracked]:
    # One object per distinct set of candidate hosts: thousands of services usually share a
    # few, and the analysis looks each set up once per level instead of walking it again.
    shared: dict[frozenset[str], frozenset[str]] = {}
    of_rule: dict[int, frozenset[str]] = {}  # rules shared by many services (WorkloadRules)
    out: list[_Tracked] = []
    for placed in placed_components(bp):
        candidates = of_rule.get(id(placed.rule))
        if candidates is None:
            candidates = frozenset(h.name for h in placed.rule.hosts)
            candidates = shared.setdefault(candidates, candidates)
            of_rule[id(placed.rule)] = candidates
        key = None if placed.same_as is None else (placed.kind, candidates, placed.same_as)
        out.append(
            _Tracked(
                placed.kind,
                placed.component,
                placed.path,
                candidates,
                _by_hosts(placed),
                key,
                placed.rule,
                placed.judge,
            )
        )
    for i, c in enumerate(bp.storage.ceph):
        hosts = ceph_hosts(bp, c)
        if not hosts:
            continue
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
        members = [n for n in dict.fromkeys(k.control_plane) if n in bp.hosts_by_name]
        if k.kind == "podman" or not members:
            continue
        noun = "etcd members" if k.kind == "kubernetes" else "swarm managers"
        count = quorum(len(members), noun)
        out.append(
            _Tracked(
                "control-plane",
                f"cluster/{k.name}",
                ("orchestration", "clusters", i, "control_plane"),
                frozenset(members),
                _members_judge(members, count),
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


def analyze_levels(
    bp: Blueprint, levels: Iterable[DomainLevel], *, down_only: bool = False
) -> list[Analysis]:
    """``analyze`` for several levels, placing every component only once.

    ``down_only`` keeps only the impacts that take a component down (what ``check`` reports),
    so a large data center does not build an impact per degraded component per host.
    """
    items = _tracked(bp)
    return [_analyze(bp, lv, None, items, down_only=down_only) for lv in levels]


def _analyze(
    bp: Blueprint,
    level: DomainLevel,
    only: str | None,
    items: list[_Tracked],
    *,
    down_only: bool = False,
) -> Analysis:
    # Components that are judged alike (same ``same_as``) are judged once per domain.
    groups: dict[Hashable, list[int]] = {}
    for idx, t in enumerate(items):
        groups.setdefault(("item", idx) if t.same_as is None else t.same_as, []).append(idx)
    hosts = bp.hosts_by_name
    by_domain: dict[str, list[list[int]]] = {}
    domains_of: dict[frozenset[str], list[str]] = {}
    for members in groups.values():
        names_at = items[members[0]].hosts
        names = domains_of.get(names_at)
        if names is None:
            names = sorted({domain_of(hosts[h], level) for h in names_at if h in hosts})
            domains_of[names_at] = names
        for name in names:
            by_domain.setdefault(name, []).append(members)
    # How many of a rule's domains a loss touches depends only on the candidate hosts and the
    # rule's level: counted once per (candidates, level, lost domain), and a group's verdict
    # once per number of replicas lost.
    touched_by: dict[tuple[frozenset[str], DomainLevel], int] = {}
    verdicts: dict[tuple[int, int], Verdict] = {}
    losses: list[DomainLoss] = []
    for name, in_domain in domains(bp, level).items():
        if only is not None and name != only:
            continue
        lost = frozenset(h.name for h in in_domain)
        touched_by.clear()
        hit: list[tuple[int, State, str]] = []
        for members in by_domain.get(name, []):
            first = items[members[0]]
            rule, count_judge = first.rule, first.count_judge
            if rule is None or count_judge is None:
                verdict = first.judge(lost)
            else:
                key = (first.hosts, rule.level)
                touched = touched_by.get(key)
                if touched is None:
                    touched = len({domain_of(hosts[h], rule.level) for h in lost & first.hosts})
                    touched_by[key] = touched
                lost_count = rule.lost_touching(touched)
                memo_key = (members[0], lost_count)
                if memo_key in verdicts:
                    verdict = verdicts[memo_key]
                else:
                    verdict = verdicts[memo_key] = count_judge(lost_count)
            if verdict is None or (down_only and verdict[0] != "down"):
                continue
            hit.extend((idx, verdict[0], verdict[1]) for idx in members)
        hit.sort(key=lambda h: h[0])  # components in their blueprint order
        impacts = tuple(
            Impact(items[i].kind, items[i].component, items[i].path, state, detail)
            for i, state, detail in hit
        )
        losses.append(DomainLoss(level, name, tuple(sorted(lost)), impacts))
    return Analysis(level, tuple(losses))
