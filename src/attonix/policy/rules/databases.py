"""Database rules: replication, synchronous commit, encryption, TLS and backups."""

from __future__ import annotations

from collections.abc import Iterator

from attonix.policy.findings import Area, Context, Issue, Rule, Severity


def _replicas(ctx: Context) -> Iterator[Issue]:
    for i, d in enumerate(ctx.blueprint.databases):
        if d.managed is None and d.replicas < 3:
            yield Issue(
                ("databases", i, "replicas"),
                f"database/{d.name}",
                f"database {d.name!r} has {d.replicas} replica(s); a majority cannot survive "
                "the loss of one",
            )


def _synchronous(ctx: Context) -> Iterator[Issue]:
    for i, d in enumerate(ctx.blueprint.databases):
        if d.primary and d.synchronous_replicas < 1:
            yield Issue(
                ("databases", i, "synchronous_replicas"),
                f"database/{d.name}",
                f"primary database {d.name!r} replicates asynchronously; a failover can lose "
                "committed transactions",
            )


def _encryption(ctx: Context) -> Iterator[Issue]:
    for i, d in enumerate(ctx.blueprint.databases):
        if not d.encryption_at_rest:
            yield Issue(
                ("databases", i, "encryption_at_rest"),
                f"database/{d.name}",
                f"database {d.name!r} stores its data unencrypted",
            )


def _tls(ctx: Context) -> Iterator[Issue]:
    for i, d in enumerate(ctx.blueprint.databases):
        if not d.tls:
            yield Issue(
                ("databases", i, "tls"),
                f"database/{d.name}",
                f"database {d.name!r} accepts unencrypted client connections",
            )


def _backup_enabled(ctx: Context) -> Iterator[Issue]:
    for i, d in enumerate(ctx.blueprint.databases):
        if not d.backup.enabled:
            yield Issue(
                ("databases", i, "backup", "enabled"),
                f"database/{d.name}",
                f"backups of database {d.name!r} are disabled",
            )


def _backup_pool(ctx: Context) -> Iterator[Issue]:
    for i, d in enumerate(ctx.blueprint.databases):
        # Managed databases are backed up by their provider; only in-house ones need a pool.
        if d.managed is None and d.backup.enabled and d.backup.object_pool is None:
            yield Issue(
                ("databases", i, "backup", "object_pool"),
                f"database/{d.name}",
                f"backups of database {d.name!r} have no object pool to go to",
            )


def _backup_retention(ctx: Context) -> Iterator[Issue]:
    for i, d in enumerate(ctx.blueprint.databases):
        if d.backup.enabled and d.backup.retention_days < 7:
            yield Issue(
                ("databases", i, "backup", "retention_days"),
                f"database/{d.name}",
                f"backups of database {d.name!r} are kept {d.backup.retention_days} day(s)",
            )


def _managed_ha(ctx: Context) -> Iterator[Issue]:
    for i, d in enumerate(ctx.blueprint.databases):
        if d.managed is not None and not d.managed.high_availability:
            yield Issue(
                ("databases", i, "managed", "high_availability"),
                f"database/{d.name}",
                f"managed database {d.name!r} runs without high availability",
            )


RULES: tuple[Rule, ...] = (
    Rule(
        id="ATX001",
        title="Database has fewer than three replicas",
        severity=Severity.high,
        area=Area.databases,
        rationale="Automatic failover needs a majority of instances; with one or two, losing "
        "a single host leaves no quorum and the database stops or splits.",
        fix="Set 'replicas: 3' (or more, odd) on the database.",
        check=_replicas,
    ),
    Rule(
        id="ATX002",
        title="Primary database without synchronous replication",
        severity=Severity.high,
        area=Area.databases,
        rationale="With asynchronous replication a failover promotes a standby that may miss "
        "the last committed transactions of the primary database.",
        fix="Set 'synchronous_replicas: 1' (at least) on the primary database.",
        check=_synchronous,
    ),
    Rule(
        id="ATX003",
        title="Database not encrypted at rest",
        severity=Severity.high,
        area=Area.databases,
        rationale="Unencrypted data files and volumes leak everything to whoever gets a disk, "
        "a snapshot or a backup copy.",
        fix="Remove 'encryption_at_rest: false' from the database.",
        check=_encryption,
    ),
    Rule(
        id="ATX004",
        title="Database without TLS",
        severity=Severity.high,
        area=Area.databases,
        rationale="Credentials and rows cross the network in clear text and can be read or "
        "altered by anyone on the path.",
        fix="Remove 'tls: false' from the database; clients get certificates from the CA.",
        check=_tls,
    ),
    Rule(
        id="ATX005",
        title="Database backups disabled",
        severity=Severity.high,
        area=Area.databases,
        rationale="Replicas copy mistakes and corruption instantly; only backups recover from "
        "a dropped table or ransomware.",
        fix="Set 'backup.enabled: true' and an 'object_pool'.",
        check=_backup_enabled,
    ),
    Rule(
        id="ATX006",
        title="Database backups without an object pool",
        severity=Severity.medium,
        area=Area.databases,
        rationale="Backups that are enabled but have nowhere to go are never taken.",
        fix="Set 'backup.object_pool' to a Ceph object pool.",
        check=_backup_pool,
    ),
    Rule(
        id="ATX007",
        title="Database backups kept less than a week",
        severity=Severity.low,
        area=Area.databases,
        rationale="Problems are often noticed days later; a short retention deletes the last "
        "good copy before anyone looks.",
        fix="Set 'backup.retention_days' to 7 or more (30 is usual).",
        check=_backup_retention,
    ),
    Rule(
        id="ATX008",
        title="Managed database without high availability",
        severity=Severity.high,
        area=Area.databases,
        rationale="A single-instance managed database is down for every maintenance window "
        "and every failure of its one node.",
        fix="Set 'managed.high_availability: true'.",
        check=_managed_ha,
    ),
)
