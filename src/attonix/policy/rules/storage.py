"""Storage rules: Ceph monitors, pool replication and encryption; vSphere and OpenStack HA."""

from __future__ import annotations

from collections.abc import Iterator

from attonix.blueprint.model import Ceph
from attonix.policy.findings import Area, Context, Issue, Rule, Severity
from attonix.policy.placement import ceph_hosts, domain_of


def _monitors(ctx: Context) -> Iterator[Issue]:
    for i, c in enumerate(ctx.blueprint.storage.ceph):
        if c.monitors < 3 or c.monitors % 2 == 0:
            why = (
                "losing one leaves no majority"
                if c.monitors < 3
                else "an even count tolerates no more failures than one fewer"
            )
            yield Issue(
                ("storage", "ceph", i, "monitors"),
                f"ceph/{c.name}",
                f"Ceph cluster {c.name!r} runs {c.monitors} monitor(s): {why}",
            )


def _pools(ctx: Context) -> Iterator[tuple[int, int, Ceph, str, int, int]]:
    for i, c in enumerate(ctx.blueprint.storage.ceph):
        for j, p in enumerate(c.pools):
            yield i, j, c, p.name, p.replicas, p.min_size


def _pool_replicas(ctx: Context) -> Iterator[Issue]:
    for i, j, _, name, replicas, _ in _pools(ctx):
        if replicas < 3:
            yield Issue(
                ("storage", "ceph", i, "pools", j, "replicas"),
                f"pool/{name}",
                f"Ceph pool {name!r} keeps {replicas} copy(ies) of each object",
            )


def _pool_min_size(ctx: Context) -> Iterator[Issue]:
    for i, j, _, name, _, min_size in _pools(ctx):
        if min_size < 2:
            yield Issue(
                ("storage", "ceph", i, "pools", j, "min_size"),
                f"pool/{name}",
                f"Ceph pool {name!r} accepts writes with a single copy (min_size {min_size})",
            )


def _pool_domains(ctx: Context) -> Iterator[Issue]:
    bp = ctx.blueprint
    for i, c in enumerate(bp.storage.ceph):
        hosts = ceph_hosts(bp, c)
        for j, p in enumerate(c.pools):
            level = p.failure_domain or c.failure_domain
            domains = {domain_of(h, level) for h in hosts}
            if len(domains) < p.replicas:
                yield Issue(
                    ("storage", "ceph", i, "pools", j, "replicas"),
                    f"pool/{p.name}",
                    f"Ceph pool {p.name!r} needs {p.replicas} {level}s for its replicas but "
                    f"its OSD hosts span {len(domains)}",
                    hint=f"Add OSD hosts in more {level}s, or lower the pool's failure_domain.",
                )


def _osd_encryption(ctx: Context) -> Iterator[Issue]:
    for i, c in enumerate(ctx.blueprint.storage.ceph):
        if not c.encryption:
            yield Issue(
                ("storage", "ceph", i, "encryption"),
                f"ceph/{c.name}",
                f"Ceph cluster {c.name!r} writes OSD data unencrypted",
            )


def _wire_encryption(ctx: Context) -> Iterator[Issue]:
    for i, c in enumerate(ctx.blueprint.storage.ceph):
        if not c.network_encryption:
            yield Issue(
                ("storage", "ceph", i, "network_encryption"),
                f"ceph/{c.name}",
                f"Ceph cluster {c.name!r} replicates data over the network in clear text",
            )


def _managers(ctx: Context) -> Iterator[Issue]:
    for i, c in enumerate(ctx.blueprint.storage.ceph):
        if c.managers < 2:
            yield Issue(
                ("storage", "ceph", i, "managers"),
                f"ceph/{c.name}",
                f"Ceph cluster {c.name!r} has a single manager",
            )


def _vsphere(ctx: Context) -> Iterator[Issue]:
    for i, v in enumerate(ctx.blueprint.storage.vsphere):
        if not v.ha_enabled:
            yield Issue(
                ("storage", "vsphere", i, "ha_enabled"),
                f"vsphere/{v.name}",
                f"vSphere cluster {v.name!r} does not restart VMs when a host fails",
            )
        if not v.vm_encryption:
            yield Issue(
                ("storage", "vsphere", i, "vm_encryption"),
                f"vsphere/{v.name}",
                f"vSphere cluster {v.name!r} stores VM disks unencrypted",
                hint="Set 'vm_encryption: true'.",
            )


def _openstack_zones(ctx: Context) -> Iterator[Issue]:
    for i, o in enumerate(ctx.blueprint.storage.openstack):
        for j, g in enumerate(o.instances):
            if g.count > 1 and len(set(g.availability_zones)) < 2:
                yield Issue(
                    ("storage", "openstack", i, "instances", j, "availability_zones"),
                    f"openstack/{o.name}",
                    f"instance group {g.name!r} puts {g.count} instances in one availability zone",
                )


RULES: tuple[Rule, ...] = (
    Rule(
        id="ATX010",
        title="Ceph monitor count is not odd and at least three",
        severity=Severity.high,
        area=Area.storage,
        rationale="Monitors keep quorum by majority: one or two monitors tolerate no failure, "
        "and an even count tolerates no more failures than the odd count below it.",
        fix="Set 'monitors: 3' (or 5).",
        check=_monitors,
    ),
    Rule(
        id="ATX011",
        title="Ceph pool keeps fewer than three copies",
        severity=Severity.high,
        area=Area.storage,
        rationale="With two copies, one failed disk leaves a single copy and the next failure "
        "loses data.",
        fix="Set the pool's 'replicas: 3'.",
        check=_pool_replicas,
    ),
    Rule(
        id="ATX012",
        title="Ceph pool accepts writes with a single copy",
        severity=Severity.high,
        area=Area.storage,
        rationale="min_size 1 acknowledges writes held by one OSD only; losing it loses them.",
        fix="Set the pool's 'min_size: 2'.",
        check=_pool_min_size,
    ),
    Rule(
        id="ATX013",
        title="Too few failure domains for the pool's replicas",
        severity=Severity.high,
        area=Area.storage,
        rationale="CRUSH puts each copy in a different failure domain; with fewer domains than "
        "copies placement groups stay undersized and one domain loss can block I/O.",
        fix="Add OSD hosts in more failure domains, or choose a finer pool failure_domain.",
        check=_pool_domains,
    ),
    Rule(
        id="ATX014",
        title="Ceph OSDs not encrypted",
        severity=Severity.high,
        area=Area.storage,
        rationale="Every block, object and file in the data center sits on the OSD disks; "
        "unencrypted, a discarded or stolen disk gives it all away.",
        fix="Set 'encryption: true' on the Ceph cluster (dm-crypt OSDs).",
        check=_osd_encryption,
    ),
    Rule(
        id="ATX015",
        title="Ceph network traffic not encrypted",
        severity=Severity.medium,
        area=Area.storage,
        rationale="Replication and client traffic carry all stored data between hosts.",
        fix="Set 'network_encryption: true' (msgr2 secure mode).",
        check=_wire_encryption,
    ),
    Rule(
        id="ATX016",
        title="Ceph cluster with a single manager",
        severity=Severity.medium,
        area=Area.storage,
        rationale="Without a standby manager, metrics, the orchestrator and the dashboard stop "
        "whenever the manager's host does.",
        fix="Set 'managers: 2'.",
        check=_managers,
    ),
    Rule(
        id="ATX017",
        title="vSphere cluster without HA or VM encryption",
        severity=Severity.medium,
        area=Area.storage,
        rationale="vSphere HA restarts VMs of a failed host elsewhere; VM encryption protects "
        "their disks on shared datastores.",
        fix="Set 'ha_enabled: true' and 'vm_encryption: true'.",
        check=_vsphere,
    ),
    Rule(
        id="ATX018",
        title="OpenStack instance group in a single availability zone",
        severity=Severity.medium,
        area=Area.storage,
        rationale="Instances in one availability zone all go down with it.",
        fix="List two or more 'availability_zones' for the instance group.",
        check=_openstack_zones,
    ),
)
