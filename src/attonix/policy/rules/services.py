"""Service rules: replicas and their spread, disruption budgets, autoscaling, containers."""

from __future__ import annotations

from collections.abc import Iterator

from attonix.blueprint.model import Blueprint, Frontend, Service
from attonix.policy.components import workloads
from attonix.policy.findings import Area, Context, Issue, Rule, Severity
from attonix.policy.placement import Placer, domain_of, minimum_replicas, running_replicas


def _running(bp: Blueprint) -> Iterator[tuple[tuple[str | int, ...], str, Service | Frontend]]:
    # A service scaled to zero is switched off on purpose: nothing to keep available.
    for path, component, w in workloads(bp):
        if running_replicas(w) > 0:
            yield path, component, w


def _replicas(ctx: Context) -> Iterator[Issue]:
    for path, component, w in _running(ctx.blueprint):
        low = minimum_replicas(w)
        if low < 2:
            where = ("autoscaling", "min_replicas") if w.autoscaling else ("replicas",)
            yield Issue(
                (*path, *where),
                component,
                f"{component} keeps {low} replica; it is down whenever that one is",
            )


def _scaled_to_zero(ctx: Context) -> Iterator[Issue]:
    for path, component, w in workloads(ctx.blueprint):
        if running_replicas(w) == 0:
            yield Issue(
                (*path, "replicas"),
                component,
                f"{component} is scaled to zero: it is declared but nothing runs or answers",
            )


def _spread(ctx: Context) -> Iterator[Issue]:
    bp = ctx.blueprint
    placer = Placer(bp)
    for path, component, w in _running(bp):
        groups = placer.workload_domains(w)
        level = bp.spread_of(w)
        if running_replicas(w) >= 2 and len(groups) == 1 and len(groups[0]) >= 2:
            where = ("placement",) if w.placement else ("cluster",)
            yield Issue(
                (*path, *where),
                component,
                f"every replica of {component} lands in {level} {domain_of(groups[0][0], level)!r}",
                hint=f"Allow hosts in a second {level} (placement or the cluster's hosts), "
                "or spread over a finer level.",
            )


def _unschedulable(ctx: Context) -> Iterator[Issue]:
    bp = ctx.blueprint
    placer = Placer(bp)
    for path, component, w in _running(bp):
        if not placer.workload_hosts(w):
            yield Issue(
                (*path, "placement" if w.placement else "cluster"),
                component,
                f"no host of cluster {w.cluster!r} matches the placement of {component}",
            )


def _budget(ctx: Context) -> Iterator[Issue]:
    for path, component, w in _running(ctx.blueprint):
        if w.min_available is None:
            continue
        floor = minimum_replicas(w)
        if w.min_available >= floor:
            yield Issue(
                (*path, "min_available"),
                component,
                f"min_available {w.min_available} of {component} is not below its {floor} "
                "replica(s): no node can ever be drained",
            )


def _autoscaling(ctx: Context) -> Iterator[Issue]:
    for path, component, w in _running(ctx.blueprint):
        a = w.autoscaling
        if a is None:
            continue
        base = (*path, "autoscaling")
        if a.max_replicas <= a.min_replicas:
            yield Issue(
                (*base, "max_replicas"),
                component,
                f"autoscaling of {component} cannot scale (max {a.max_replicas} = "
                f"min {a.min_replicas})",
            )
        if a.min_replicas < 2:
            yield Issue(
                (*base, "min_replicas"),
                component,
                f"autoscaling of {component} may scale down to {a.min_replicas} replica",
            )
        if not a.min_replicas <= w.replicas <= a.max_replicas:
            yield Issue(
                (*path, "replicas"),
                component,
                f"replicas {w.replicas} of {component} is outside the autoscaling bounds "
                f"{a.min_replicas}..{a.max_replicas}",
            )


def _privileged(ctx: Context) -> Iterator[Issue]:
    for path, component, w in workloads(ctx.blueprint):
        if w.security.privileged:
            yield Issue(
                (*path, "security", "privileged"),
                component,
                f"{component} runs privileged containers with full access to the host",
            )


def _root(ctx: Context) -> Iterator[Issue]:
    for path, component, w in workloads(ctx.blueprint):
        if w.security.run_as_root:
            yield Issue((*path, "security", "run_as_root"), component, f"{component} runs as root")
        elif w.security.run_as_user == 0:
            yield Issue(
                (*path, "security", "run_as_user"), component, f"{component} runs as user 0 (root)"
            )


def _capabilities(ctx: Context) -> Iterator[Issue]:
    for path, component, w in workloads(ctx.blueprint):
        if w.security.capabilities_add:
            caps = ", ".join(w.security.capabilities_add)
            yield Issue(
                (*path, "security", "capabilities_add"),
                component,
                f"{component} adds Linux capabilities: {caps}",
            )


def _writable_root(ctx: Context) -> Iterator[Issue]:
    for path, component, w in workloads(ctx.blueprint):
        if not w.security.read_only_root_filesystem:
            yield Issue(
                (*path, "security", "read_only_root_filesystem"),
                component,
                f"{component} can write to its root filesystem",
            )


def image_problem(image: str) -> str | None:
    """Why an image reference is not pinned, or None when it has a fixed tag or a digest."""
    if "@" in image:
        return None
    name = image.rsplit("/", 1)[-1]
    if ":" not in name:
        return "has no tag (it means 'latest')"
    if name.rsplit(":", 1)[1] == "latest":
        return "uses the moving tag 'latest'"
    return None


def _image(ctx: Context) -> Iterator[Issue]:
    for path, component, w in workloads(ctx.blueprint):
        problem = image_problem(w.image)
        if problem is not None:
            yield Issue((*path, "image"), component, f"image of {component} {problem}")


def _health(ctx: Context) -> Iterator[Issue]:
    for path, component, w in _running(ctx.blueprint):
        if w.health_check() is None:
            yield Issue(
                (*path, "health"),
                component,
                f"{component} has no health check; traffic reaches replicas that are not ready",
            )


def _limits(ctx: Context) -> Iterator[Issue]:
    for path, component, w in workloads(ctx.blueprint):
        missing = [k for k in ("cpu_limit", "memory_limit") if getattr(w.resources, k) is None]
        if missing:
            yield Issue(
                (*path, "resources", missing[0]),
                component,
                f"{component} has no {' or '.join(m.replace('_', ' ') for m in missing)}",
            )


RULES: tuple[Rule, ...] = (
    Rule(
        id="ATX020",
        title="Service runs a single replica",
        severity=Severity.high,
        area=Area.services,
        rationale="One replica is a single point of failure: every restart, node drain or host "
        "failure is an outage.",
        fix="Set 'replicas: 2' or more (and autoscaling.min_replicas to match).",
        check=_replicas,
    ),
    Rule(
        id="ATX021",
        title="Service replicas cannot spread across failure domains",
        severity=Severity.high,
        area=Area.services,
        rationale="Replicas confined to one zone, rack or host all fail together when it does.",
        fix="Widen 'placement' or the cluster's hosts to two or more failure domains.",
        check=_spread,
    ),
    Rule(
        id="ATX022",
        title="Service placement matches no host",
        severity=Severity.high,
        area=Area.services,
        rationale="A placement that excludes every host of the cluster leaves the service "
        "unschedulable.",
        fix="Correct 'placement' so that it names hosts, racks or zones of the service's cluster.",
        check=_unschedulable,
    ),
    Rule(
        id="ATX023",
        title="Disruption budget blocks every eviction",
        severity=Severity.medium,
        area=Area.services,
        rationale="A min_available at or above the replica count means no replica may ever be "
        "evicted, so node drains and upgrades hang.",
        fix="Lower 'min_available' below the replica count, or leave it unset to derive it.",
        check=_budget,
    ),
    Rule(
        id="ATX024",
        title="Autoscaling bounds are not sane",
        severity=Severity.medium,
        area=Area.services,
        rationale="An autoscaler that cannot scale, may scale to one replica, or disagrees with "
        "'replicas' gives a capacity different from the one reviewed.",
        fix="Use min_replicas >= 2, max_replicas > min_replicas, replicas between the two.",
        check=_autoscaling,
    ),
    Rule(
        id="ATX025",
        title="Privileged container",
        severity=Severity.critical,
        area=Area.services,
        rationale="A privileged container is root on the host: any compromise of the service "
        "compromises the node and everything on it.",
        fix="Remove 'security.privileged: true'; add only the capability needed, if any.",
        check=_privileged,
    ),
    Rule(
        id="ATX026",
        title="Container runs as root",
        severity=Severity.high,
        area=Area.services,
        rationale="Root in a container is one kernel bug away from root on the host.",
        fix="Remove 'run_as_root: true' and use a non-zero 'run_as_user'.",
        check=_root,
    ),
    Rule(
        id="ATX027",
        title="Container adds Linux capabilities",
        severity=Severity.medium,
        area=Area.services,
        rationale="Extra capabilities widen what an attacker can do after breaking in.",
        fix="Remove 'capabilities_add', or keep only the one the service cannot run without.",
        check=_capabilities,
    ),
    Rule(
        id="ATX028",
        title="Writable root filesystem",
        severity=Severity.medium,
        area=Area.services,
        rationale="A writable root filesystem lets an intruder drop tools and persist changes.",
        fix="Set 'read_only_root_filesystem: true'; write only to volumes.",
        check=_writable_root,
    ),
    Rule(
        id="ATX029",
        title="Image not pinned to a tag or digest",
        severity=Severity.medium,
        area=Area.services,
        rationale="'latest' or a missing tag deploys whatever was pushed last: rollouts are not "
        "reproducible and rollbacks do not roll back.",
        fix="Use an explicit version tag (':1.4.2') or a digest ('@sha256:...').",
        check=_image,
    ),
    Rule(
        id="ATX030",
        title="Service without a health check",
        severity=Severity.low,
        area=Area.services,
        rationale="Without readiness and liveness probes, traffic goes to replicas that are "
        "starting or stuck, and hung replicas are never restarted.",
        fix="Add 'health: {path: /healthz}' (HTTP), 'health: {check: tcp}' or "
        "'health: {command: [...]}' (a worker without ports).",
        check=_health,
    ),
    Rule(
        id="ATX031",
        title="Service without resource limits",
        severity=Severity.low,
        area=Area.services,
        rationale="A replica without limits can starve its neighbours on the node.",
        fix="Set 'resources.cpu_limit' and 'resources.memory_limit'.",
        check=_limits,
    ),
    Rule(
        id="ATX032",
        title="Service scaled to zero",
        severity=Severity.low,
        area=Area.services,
        rationale="'replicas: 0' renders and deploys a service that runs nothing: its callers "
        "fail, and availability rules do not apply to it. It is often a leftover.",
        fix="Set replicas (or autoscaling) above zero; if it is switched off on purpose, say "
        "so with a policy exception for this rule and component.",
        check=_scaled_to_zero,
    ),
)
