"""Tables of the Central Server (SQLAlchemy 2, typed), portable across SQLite, PostgreSQL, MariaDB.

Portability choices: every string has a length (MariaDB needs one for indexes); large text and
binary use MEDIUM* variants on MariaDB (plain TEXT/BLOB stop at 64 KiB there); timestamps are
stored as naive UTC with microseconds and handed back timezone-aware.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes stored as naive UTC with microsecond precision on every engine."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        """MariaDB's DATETIME drops fractions unless asked for six digits."""
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        """Normalise to naive UTC before storing."""
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        """Hand back aware UTC."""
        return None if value is None else value.replace(tzinfo=dt.UTC)


BigText = Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
BigBlob = LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so migrations name constraints the same."""

    metadata = MetaData(naming_convention=NAMING)


def _now_col() -> Mapped[dt.datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, nullable=False)


# --------------------------------------------------------------------------- identity


class User(Base):
    """A person (or automation owner) who logs in."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254), default="")
    full_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(16), default="local")
    mfa_secret: Mapped[bytes | None] = mapped_column(BigBlob, nullable=True)
    mfa_pending_secret: Mapped[bytes | None] = mapped_column(BigBlob, nullable=True)
    mfa_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    mfa_last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[dt.datetime] = _now_col()
    updated_at: Mapped[dt.datetime] = _now_col()

    groups: Mapped[list[Group]] = relationship(
        secondary="group_members", back_populates="members", lazy="selectin"
    )


class Group(Base):
    """A named set of users; bindings grant roles to groups."""

    __tablename__ = "groups"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    source: Mapped[str] = mapped_column(String(16), default="local")
    members: Mapped[list[User]] = relationship(
        secondary="group_members", back_populates="groups", lazy="selectin"
    )


class GroupMember(Base):
    """Membership of a user in a group."""

    __tablename__ = "group_members"
    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )


class RoleBinding(Base):
    """Grants ``role`` in ``environment`` to one user or one group."""

    __tablename__ = "role_bindings"
    __table_args__ = (UniqueConstraint("role", "environment", "subject_kind", "subject"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    environment: Mapped[str] = mapped_column(String(64))
    subject_kind: Mapped[str] = mapped_column(String(8))  # "user" | "group"
    subject: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16), default="local")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)


class RecoveryCode(Base):
    """A one-time MFA recovery code, hashed."""

    __tablename__ = "recovery_codes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(255))
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AuthSession(Base):
    """A login: the family of its refresh tokens; revoking it kills its access tokens too."""

    __tablename__ = "auth_sessions"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = _now_col()
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_reason: Mapped[str] = mapped_column(String(64), default="")
    source_ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    # Set when MFA is required for the user's roles but this session did not prove a second
    # factor: it may only enrol (or re-authenticate, and change the password) until it does.
    mfa_enrol_required: Mapped[bool] = mapped_column(Boolean, default=False)
    # The sign-in (or a later enrolment confirmed in it) proved a second factor.
    mfa_verified: Mapped[bool] = mapped_column(Boolean, default=False)


class RefreshToken(Base):
    """One refresh token of a session (hashed); used ones stay to detect reuse."""

    __tablename__ = "refresh_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = _now_col()
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class MfaChallenge(Base):
    """The short-lived proof that a password was right, awaiting the second factor."""

    __tablename__ = "mfa_challenges"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class ApiToken(Base):
    """A scoped token for automation; only its hash is stored."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = _now_col()
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Created by a session that had proved a second factor: only such tokens work while the
    # owner's roles require MFA.
    mfa_verified: Mapped[bool] = mapped_column(Boolean, default=False)


class Throttle(Base):
    """Login attempts per source address in the current window."""

    __tablename__ = "throttles"
    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    window_start: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    count: Mapped[int] = mapped_column(Integer, default=0)


# --------------------------------------------------------------------------- audit


class AuditEntry(Base):
    """One hash-chained audit record."""

    __tablename__ = "audit_log"
    # Filtered reads page by sequence number (keyset): each filter has an index ending in seq,
    # so "the newest 100 entries of one actor" reads 100 index entries, not the whole log.
    __table_args__ = (
        Index("ix_audit_log_actor_seq", "actor", "seq"),
        Index("ix_audit_log_action_seq", "action", "seq"),
        Index("ix_audit_log_environment_seq", "environment", "seq"),
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_target", "target", postgresql_ops={"target": "varchar_pattern_ops"}),
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(255), default="")
    source_ip: Mapped[str] = mapped_column(String(64), default="")
    outcome: Mapped[str] = mapped_column(String(16), default="success")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # HMAC under the audit key (true), or a plain SHA-256 written before keyed chaining.
    keyed: Mapped[bool] = mapped_column(Boolean, default=True)
    # The environment the entry concerns ("" for none): derived from target and detail when
    # written (``audit.environment_of``), so verify can tell when it was edited.
    environment: Mapped[str] = mapped_column(String(64), default="", server_default="")


class AuditHead(Base):
    """The chain's head (one row): locked while appending so the chain never forks."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64))


# --------------------------------------------------------------------------- domain


class Environment(Base):
    """An environment (prod, staging…) holding versioned blueprints."""

    __tablename__ = "environments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    # Copied from the newest blueprint, so that login need not parse YAML.
    mfa_required_for: Mapped[list[str]] = mapped_column(JSON, default=lambda: ["admin"])
    created_at: Mapped[dt.datetime] = _now_col()


class BlueprintVersion(Base):
    """One uploaded blueprint of an environment, with its validation and check results."""

    __tablename__ = "blueprint_versions"
    __table_args__ = (UniqueConstraint("environment_id", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment_id: Mapped[int] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(BigText)
    filename: Mapped[str] = mapped_column(String(255), default="datacenter.yaml")
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    uploaded_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = _now_col()


class IdentityPlan(Base):
    """Identity changes an upload asked for, held until an identity administrator decides."""

    __tablename__ = "identity_plans"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment_id: Mapped[int] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE"), index=True
    )
    version_id: Mapped[int] = mapped_column(ForeignKey("blueprint_versions.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))  # pending|applied|declined|superseded
    requested_by: Mapped[str] = mapped_column(String(64))
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = _now_col()
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Secret(Base):
    """A vault secret: its value sealed with envelope encryption, never stored in clear."""

    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("environment_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment_id: Mapped[int] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    sealed: Mapped[bytes] = mapped_column(BigBlob)
    kek_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[dt.datetime] = _now_col()
    updated_by: Mapped[str] = mapped_column(String(64))


class Certificate(Base):
    """A certificate issued by the environment's internal CA (``kind`` "ca" for the CA)."""

    __tablename__ = "certificates"
    __table_args__ = (UniqueConstraint("environment_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment_id: Mapped[int] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(8), default="leaf")
    cert_pem: Mapped[str] = mapped_column(BigText)
    key_sealed: Mapped[bytes] = mapped_column(BigBlob)
    not_after: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    issued_at: Mapped[dt.datetime] = _now_col()


class Deployment(Base):
    """A request to apply one blueprint version to one target, through approval to apply."""

    __tablename__ = "deployments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment_id: Mapped[int] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE"), index=True
    )
    version_id: Mapped[int] = mapped_column(ForeignKey("blueprint_versions.id"))
    target: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(24))
    requested_by: Mapped[str] = mapped_column(String(64))
    approved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    plan: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    rollback_of: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The blueprint cluster it deploys to: named in the request, else the only cluster of
    # the target's kind, set when it is planned ("" until then).
    cluster: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = _now_col()
    updated_at: Mapped[dt.datetime] = _now_col()


class ClusterConnection(Base):
    """Where one blueprint cluster's engine is (endpoint and non-secret settings), with its
    credentials sealed like vault secrets (never stored in clear, never returned)."""

    __tablename__ = "cluster_connections"
    __table_args__ = (UniqueConstraint("environment_id", "cluster"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment_id: Mapped[int] = mapped_column(
        ForeignKey("environments.id", ondelete="CASCADE"), index=True
    )
    cluster: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # docker, podman, kubernetes, vsphere, openstack
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    credential_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    sealed: Mapped[bytes] = mapped_column(BigBlob)
    kek_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[dt.datetime] = _now_col()
    updated_by: Mapped[str] = mapped_column(String(64))


class Job(Base):
    """A unit of background work, claimed by one worker with a row lock."""

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    deployment_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), index=True)
    lock_key: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    # Equal to lock_key while running, else NULL: the unique index lets one job per key run.
    running_lock: Mapped[str | None] = mapped_column(String(128), nullable=True, unique=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    worker: Mapped[str | None] = mapped_column(String(128), nullable=True)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    run_after: Mapped[dt.datetime] = _now_col()
    created_at: Mapped[dt.datetime] = _now_col()
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    error: Mapped[str] = mapped_column(String(2000), default="")
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class JobLog(Base):
    """One line of a job's log, streamed to clients (SSE)."""

    __tablename__ = "job_logs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = _now_col()
    line: Mapped[str] = mapped_column(String(2000))
