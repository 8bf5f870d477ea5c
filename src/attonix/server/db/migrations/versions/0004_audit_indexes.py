"""audit log: an environment column and indexes for keyset-paged, filtered reads

Revision ID: 0004_audit
Revises: 0003_sec
Create Date: 2026-11-29 03:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from attonix.server.audit import environment_of

revision = "0004_audit"
down_revision = "0003_sec"
branch_labels = None
depends_on = None

_BATCH = 5000


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("environment", sa.String(length=64), nullable=False, server_default="")
        )
    _backfill_environment()
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_action")
        batch_op.create_index("ix_audit_log_actor_seq", ["actor", "seq"], unique=False)
        batch_op.create_index("ix_audit_log_action_seq", ["action", "seq"], unique=False)
        batch_op.create_index("ix_audit_log_environment_seq", ["environment", "seq"], unique=False)
        batch_op.create_index("ix_audit_log_at", ["at"], unique=False)
        batch_op.create_index(
            "ix_audit_log_target",
            ["target"],
            unique=False,
            postgresql_ops={"target": "varchar_pattern_ops"},
        )


def _backfill_environment() -> None:
    """Entries written before this revision get the environment their target and detail name
    (the same derivation ``audit.record`` uses, which ``audit verify`` checks)."""
    conn = op.get_bind()
    log = sa.table(
        "audit_log",
        sa.column("seq", sa.Integer),
        sa.column("target", sa.String),
        sa.column("detail", sa.JSON),
        sa.column("environment", sa.String),
    )
    last = 0
    while True:
        rows = conn.execute(
            sa.select(log.c.seq, log.c.target, log.c.detail)
            .where(log.c.seq > last)
            .order_by(log.c.seq)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        updates = [
            {"s": seq, "e": env}
            for seq, target, detail in rows
            if (env := environment_of(target or "", detail or {}))
        ]
        if updates:
            by_seq = log.update().where(log.c.seq == sa.bindparam("s"))
            conn.execute(by_seq.values(environment=sa.bindparam("e")), updates)
        last = rows[-1].seq


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_log_target")
        batch_op.drop_index("ix_audit_log_at")
        batch_op.drop_index("ix_audit_log_environment_seq")
        batch_op.drop_index("ix_audit_log_action_seq")
        batch_op.drop_index("ix_audit_log_actor_seq")
        batch_op.create_index("ix_audit_log_action", ["action"], unique=False)
        batch_op.drop_column("environment")
