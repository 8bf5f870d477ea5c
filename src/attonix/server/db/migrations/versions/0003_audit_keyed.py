"""audit entries say whether they are chained with the keyed MAC

Revision ID: 0003_sec
Revises: 0002_sec
Create Date: 2026-11-29 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_sec"
down_revision = "0002_sec"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    # Rows already written carry a plain SHA-256: they stay verifiable as the chain's prefix.
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("keyed", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_column("keyed")
