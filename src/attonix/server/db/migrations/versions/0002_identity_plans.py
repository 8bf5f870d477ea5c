"""identity plans; sessions and API tokens remember a proven second factor

Revision ID: 0002_sec
Revises: 0001
Create Date: 2026-11-29 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import attonix.server.db.models

revision = "0002_sec"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "identity_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("created_at", attonix.server.db.models.UTCDateTime(), nullable=False),
        sa.Column("decided_at", attonix.server.db.models.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name=op.f("fk_identity_plans_environment_id_environments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["blueprint_versions.id"],
            name=op.f("fk_identity_plans_version_id_blueprint_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_plans")),
    )
    with op.batch_alter_table("identity_plans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_identity_plans_environment_id"), ["environment_id"], unique=False
        )
    # Existing sessions and tokens count as unproven: where MFA is required they must be
    # re-established after a sign-in with the second factor.
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("mfa_verified", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("mfa_verified", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("mfa_verified")
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_column("mfa_verified")
    with op.batch_alter_table("identity_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_plans_environment_id"))
    op.drop_table("identity_plans")
