"""High-availability rules: single points of failure, quorum sizes, and the loss of a domain.

The ``ATX09x`` rules run the failure-domain analysis (``failure_domains.py``) for the
blueprint's ``ha.failure_domain`` level and every finer one, and report each domain whose loss
takes a component down, at that component's line.
"""

from __future__ import annotations

from collections.abc import Iterator

from attonix.blueprint.diagnostics import Path
from attonix.policy.components import workloads
from attonix.policy.failure_domains import Analysis, Kind, analyze_levels
from attonix.policy.findings import (
    Area,
    CheckFn,
    Context,
    FailureDomain,
    Issue,
    Rule,
    Severity,
)
from attonix.policy.placement import Placer, levels_up_to, running_replicas


def _single_lb_host(ctx: Context) -> Iterator[Issue]:
    for i, lb in enumerate(ctx.blueprint.ha.load_balancers):
        if lb.kind == "haproxy" and len(set(lb.hosts)) < 2:
            yield Issue(
                ("ha", "load_balancers", i, "hosts"),
                f"load-balancer/{lb.name}",
                f"load balancer {lb.name!r} runs on {len(set(lb.hosts))} host(s); all traffic "
                "stops with it",
            )


def _no_vip(ctx: Context) -> Iterator[Issue]:
    for i, lb in enumerate(ctx.blueprint.ha.load_balancers):
        if lb.kind == "haproxy" and len(set(lb.hosts)) >= 2 and lb.virtual_ip is None:
            yield Issue(
                ("ha", "load_balancers", i, "hosts"),
                f"load-balancer/{lb.name}",
                f"load balancer {lb.name!r} has several hosts but no virtual IP to move "
                "between them",
            )


def _one_host(ctx: Context) -> Iterator[Issue]:
    placer = Placer(ctx.blueprint)
    for path, component, w in workloads(ctx.blueprint):
        hosts = placer.workload_hosts(w)
        if running_replicas(w) >= 2 and len(hosts) == 1:
            yield Issue(
                (*path, "placement" if w.placement else "cluster"),
                component,
                f"all {running_replicas(w)} replicas of {component} run on host {hosts[0].name!r}",
            )


def _control_plane(ctx: Context) -> Iterator[Issue]:
    for i, k in enumerate(ctx.blueprint.orchestration.clusters):
        n = len(set(k.control_plane))
        if k.kind == "podman":
            continue
        noun = "control-plane nodes" if k.kind == "kubernetes" else "managers"
        if n < 3 or n % 2 == 0:
            why = (
                "one failure stops the cluster"
                if n < 3
                else "an even count tolerates no more failures than one fewer"
            )
            yield Issue(
                ("orchestration", "clusters", i, "control_plane"),
                f"cluster/{k.name}",
                f"{k.kind} cluster {k.name!r} has {n} {noun}: {why}",
            )


def _analyses(ctx: Context) -> list[Analysis]:
    found = ctx.memo.get("failure-domains")
    if found is None:
        bp = ctx.blueprint
        found = analyze_levels(bp, levels_up_to(bp.ha.failure_domain), down_only=True)
        ctx.memo["failure-domains"] = found
    result: list[Analysis] = found
    return result


def _domain_loss(*kinds: Kind) -> CheckFn:
    """One issue per component that some single loss takes down, listing every such domain
    (finest level first) — not one issue per host, rack and zone."""

    def check(ctx: Context) -> Iterator[Issue]:
        grouped: dict[tuple[str, Path], tuple[list[FailureDomain], list[str]]] = {}
        for analysis in _analyses(ctx):
            for loss in analysis.losses:
                for impact in loss.impacts:
                    if impact.state != "down" or impact.kind not in kinds:
                        continue
                    domains, details = grouped.setdefault((impact.component, impact.path), ([], []))
                    domain = FailureDomain(loss.level, loss.name)
                    if domain not in domains:
                        domains.append(domain)
                    if impact.detail not in details:
                        details.append(impact.detail)
        for (component, path), (domains, details) in grouped.items():
            yield Issue(
                path,
                component,
                f"losing {_any_of(domains)} takes {component} down: {'; '.join(details)}",
                domains=tuple(domains),
            )

    return check


def _any_of(domains: list[FailureDomain]) -> str:
    """``host 'a' or 'b', rack 'r1' or zone 'z1'``: the domains grouped by level."""
    by_level: dict[str, list[str]] = {}
    for d in domains:
        by_level.setdefault(d.level, []).append(repr(d.name))
    parts = [f"{level} {' or '.join(names)}" for level, names in by_level.items()]
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " or " + parts[-1]


RULES: tuple[Rule, ...] = (
    Rule(
        id="ATX080",
        title="Load balancer on a single host",
        severity=Severity.high,
        area=Area.ha,
        rationale="Every request enters through the load balancer; on one host it is the "
        "single point of failure of the whole data center.",
        fix="List two or more 'hosts' in different failure domains and set a 'virtual_ip'.",
        check=_single_lb_host,
    ),
    Rule(
        id="ATX081",
        title="Load balancer pair without a virtual IP",
        severity=Severity.medium,
        area=Area.ha,
        rationale="keepalived moves the virtual IP to a surviving host; without one, clients "
        "keep addressing the host that failed.",
        fix="Set 'virtual_ip' on the load balancer.",
        check=_no_vip,
    ),
    Rule(
        id="ATX082",
        title="All replicas on one host",
        severity=Severity.high,
        area=Area.ha,
        rationale="Several replicas on the only allowed host fail together with it.",
        fix="Widen 'placement' (or add hosts to the cluster) so replicas can use two hosts.",
        check=_one_host,
    ),
    Rule(
        id="ATX083",
        title="Control plane without a fault-tolerant quorum",
        severity=Severity.high,
        area=Area.ha,
        rationale="etcd and Swarm's Raft need a majority: fewer than three members, or an even "
        "number, means one failure (or a split) stops scheduling and changes.",
        fix="Use three (or five) control-plane nodes / managers in different failure domains.",
        check=_control_plane,
    ),
    Rule(
        id="ATX090",
        title="Losing one failure domain takes a service down",
        severity=Severity.high,
        area=Area.ha,
        rationale="Every replica of the service sits in the lost domain, so users see an outage.",
        fix="Spread the service over more failure domains (more replicas, wider placement).",
        check=_domain_loss("service"),
    ),
    Rule(
        id="ATX091",
        title="Losing one failure domain takes a database down",
        severity=Severity.high,
        area=Area.ha,
        rationale="The surviving instances lack a majority, or cannot satisfy synchronous "
        "replication, so the database stops accepting writes.",
        fix="Run three or more instances over three failure domains of the database's cluster.",
        check=_domain_loss("database"),
    ),
    Rule(
        id="ATX092",
        title="Losing one failure domain breaks Ceph monitor quorum",
        severity=Severity.high,
        area=Area.ha,
        rationale="Without a monitor majority Ceph stops serving all of its pools.",
        fix="Run an odd number (3 or 5) of monitors over Ceph hosts in distinct failure domains.",
        check=_domain_loss("ceph-monitors"),
    ),
    Rule(
        id="ATX093",
        title="Losing one failure domain drops a Ceph pool below min_size",
        severity=Severity.high,
        area=Area.ha,
        rationale="Placement groups below min_size stop accepting I/O; every volume and bucket "
        "on the pool hangs.",
        fix="Add Ceph hosts in more failure domains or use the pool's failure domain level.",
        check=_domain_loss("ceph-pool"),
    ),
    Rule(
        id="ATX094",
        title="Losing one failure domain takes a load balancer down",
        severity=Severity.high,
        area=Area.ha,
        rationale="All the load balancer's hosts are in the lost domain: no traffic gets in.",
        fix="Put the load balancer's hosts in different failure domains.",
        check=_domain_loss("load-balancer"),
    ),
    Rule(
        id="ATX095",
        title="Losing one failure domain breaks a control-plane quorum",
        severity=Severity.high,
        area=Area.ha,
        rationale="Without an etcd or Raft majority the cluster cannot schedule, heal or "
        "change anything.",
        fix="Spread the control-plane nodes / managers over three failure domains.",
        check=_domain_loss("control-plane"),
    ),
)
