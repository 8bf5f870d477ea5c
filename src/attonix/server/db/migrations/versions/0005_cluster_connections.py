"""cluster connections per environment; a deployment names its cluster

Revision ID: 0005_conn
Revises: 0004_audit
Create Date: 2026-11-29 03:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

import attonix.server.db.models

revision = "0005_conn"
down_revision = "0004_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "cluster_connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("environment_id", sa.Integer(), nullable=False),
        sa.Column("cluster", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("credential_keys", sa.JSON(), nullable=False),
        sa.Column(
            "sealed",
            sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb"),
            nullable=False,
        ),
        sa.Column("kek_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", attonix.server.db.models.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["environment_id"],
            ["environments.id"],
            name=op.f("fk_cluster_connections_environment_id_environments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cluster_connections")),
        sa.UniqueConstraint(
            "environment_id", "cluster", name=op.f("uq_cluster_connections_environment_id")
        ),
    )
    with op.batch_alter_table("cluster_connections", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cluster_connections_environment_id"), ["environment_id"], unique=False
        )
    # Deployments made before this revision went to the server's local engine, unnamed.
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("cluster", sa.String(length=64), nullable=False, server_default="")
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_column("cluster")
    with op.batch_alter_table("cluster_connections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cluster_connections_environment_id"))
    op.drop_table("cluster_connections")
