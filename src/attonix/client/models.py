"""The shapes the CLI reads from the Central Server's API.

They mirror ``attonix.server.schemas`` (and the auth shapes of ``server.api.auth``) field for
field, but are declared here: importing the server's module would load FastAPI, SQLAlchemy
and the database drivers into every remote command, and a client machine need not have the
server installed. A unit test (tests/unit/client/test_models.py) keeps each model's fields
equal to the server's in name and JSON Schema, so the two cannot drift apart silently.
Unknown fields are ignored, so a newer server still answers an older CLI.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["info", "low", "medium", "high", "critical"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class TokensOut(_Model):
    """A signed-in session's tokens (never printed)."""

    access_token: str = Field(repr=False)
    refresh_token: str = Field(repr=False)
    token_type: str = "bearer"  # noqa: S105
    expires_in: int
    restricted: str = ""


class LoginOut(_Model):
    """Tokens, or ``mfa_required`` with the token for the second step."""

    mfa_required: bool = False
    mfa_token: str | None = Field(None, repr=False)
    tokens: TokensOut | None = None


class EnvironmentAccess(_Model):
    """The caller's roles and permissions in one environment."""

    environment: str
    roles: list[str]
    permissions: list[str]


class MeOut(_Model):
    """Who the credentials belong to, and what they may do where."""

    name: str
    email: str
    full_name: str
    is_admin: bool
    mfa_enabled: bool
    restricted: str = ""
    environments: list[EnvironmentAccess]
    global_permissions: list[str]
    password_rules: list[str] = Field(default_factory=list)


class EnvironmentOut(_Model):
    """An environment and its newest blueprint version."""

    name: str
    description: str
    mfa_required_for: list[str]
    latest_version: int | None = None
    created_at: dt.datetime


class SuppressionOut(_Model):
    """The blueprint exception waiving a finding."""

    reason: str
    expires: str
    file: str = ""
    line: int = 0


class FailureDomainOut(_Model):
    """A host, rack or zone whose loss a finding concerns."""

    level: Literal["host", "rack", "zone"]
    name: str


class FindingOut(_Model):
    """A policy finding."""

    rule: str
    severity: Severity
    title: str = ""
    message: str
    component: str = ""
    path: str = ""
    file: str = ""
    line: int = 0
    col: int = 0
    hint: str = ""
    fingerprint: str = ""
    suppressed: bool = False
    suppression: SuppressionOut | None = None
    failure_domains: list[FailureDomainOut] = Field(default_factory=list)


class PlanChangeOut(_Model):
    """One resource of a plan."""

    kind: str
    name: str
    action: Literal["create", "update", "delete", "unchanged"]
    diff: str = ""


class RotationPlanOut(_Model):
    """A credential rotation's plan: the login replaced and the one created (no secret)."""

    database: str
    service: str
    kind: str
    credential: str = ""
    old_login: str = ""
    new_login: str = ""
    generation: int = 0
    step: str = ""
    switch: bool = True


class PlanOut(_Model):
    """A deployment's plan; empty while planning, ``error`` if it failed."""

    target: str = ""
    cluster: str = ""
    empty: bool | None = None
    counts: dict[str, int] | None = None
    changes: list[PlanChangeOut] = Field(default_factory=list)
    error: str = ""
    hint: str = ""
    rotation: RotationPlanOut | None = None
    endpoint: str = ""
    endpoints: list[str] = Field(default_factory=list)
    connection_version: int | None = None


class VersionOut(_Model):
    """One stored blueprint version (without its text)."""

    version: int
    sha256: str
    filename: str
    uploaded_by: str
    created_at: dt.datetime
    findings: list[FindingOut] = Field(default_factory=list)


class VersionSummary(_Model):
    """One stored blueprint version in the list: its findings counted, not sent."""

    version: int
    sha256: str
    filename: str
    uploaded_by: str
    created_at: dt.datetime
    findings_count: int = 0
    findings_by_severity: dict[str, int] = Field(default_factory=dict)


class VersionDetail(VersionOut):
    """A blueprint version with its YAML as uploaded."""

    source: str


class DiffOut(_Model):
    """A unified diff between two versions."""

    from_version: int
    to_version: int
    diff: str
    total_lines: int = 0
    next_cursor: int | None = None


class IdentityDrift(_Model):
    """Identity changes a blueprint asks for in one environment."""

    created: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    disabled: list[str] = Field(default_factory=list)
    not_in_blueprint: list[str] = Field(default_factory=list)
    ignored: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


class IdentityPlanOut(_Model):
    """Identity changes from an upload, held until an identity administrator decides."""

    id: int
    environment: str
    version: int
    status: Literal["pending", "applied", "declined", "superseded"]
    requested_by: str
    decided_by: str | None = None
    created_at: dt.datetime
    decided_at: dt.datetime | None = None
    changes: IdentityDrift
    two_person_rule: bool = False


class ImportResult(_Model):
    """A stored blueprint version and the identity plan it produced."""

    version: VersionOut
    identity: IdentityDrift
    identity_plan: IdentityPlanOut | None = None


DeploymentStatus = Literal[
    "planning",
    "plan_failed",
    "awaiting_approval",
    "approved",
    "rejected",
    "cancelled",
    "applying",
    "succeeded",
    "failed",
]


class DeploymentOut(_Model):
    """A deployment request and where it stands."""

    id: int
    environment: str
    version: int
    target: str
    status: DeploymentStatus
    requested_by: str
    approved_by: str | None
    plan: PlanOut
    findings: list[FindingOut]
    rollback_of: int | None
    cluster: str = ""
    created_at: dt.datetime
    updated_at: dt.datetime
    job_id: int | None = None
    two_person_rule: bool = False
    can_approve: bool = False
    can_cancel: bool = False


class AuditEntryOut(_Model):
    """One audit record."""

    seq: int
    at: str
    actor: str
    action: str
    target: str
    source_ip: str
    outcome: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str
    environment: str = ""


class LogEvent(_Model):
    """One line of a deployment's live log (a server-sent ``log`` event)."""

    id: int
    at: str
    line: str
