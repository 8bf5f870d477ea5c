"""Typed shapes the services return and the API publishes (the console's client is generated
from them). No shape here ever carries a secret value, a password hash or a token hash."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from attonix.server.db import models
from attonix.server.states import DeploymentStatus, JobStatus

NAME_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$"
RoleName = Literal["admin", "operator", "developer", "auditor"]


class Out(BaseModel):
    """Base of response models: built from ORM rows."""

    model_config = ConfigDict(from_attributes=True)


class UserOut(Out):
    """A user as administrators see it."""

    id: int
    name: str
    email: str
    full_name: str
    is_admin: bool
    disabled: bool
    mfa_enabled: bool
    must_change_password: bool
    source: str
    groups: list[str] = Field(default_factory=list)
    locked_until: dt.datetime | None = None
    created_at: dt.datetime

    @classmethod
    def of(cls, user: models.User) -> UserOut:
        """Build from a row, with group names."""
        return cls(
            id=user.id,
            name=user.name,
            email=user.email,
            full_name=user.full_name,
            is_admin=user.is_admin,
            disabled=user.disabled,
            mfa_enabled=user.mfa_enabled,
            must_change_password=user.must_change_password,
            source=user.source,
            groups=sorted(g.name for g in user.groups),
            locked_until=user.locked_until,
            created_at=user.created_at,
        )


class UserCreated(BaseModel):
    """A new account and its one-time password (shown once; to be changed at first sign-in)."""

    user: UserOut
    one_time_password: str


class GroupOut(Out):
    """A group and its members."""

    name: str
    description: str
    source: str
    members: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, group: models.Group) -> GroupOut:
        """Build from a row, with member names."""
        return cls(
            name=group.name,
            description=group.description,
            source=group.source,
            members=sorted(u.name for u in group.members),
        )


class BindingOut(Out):
    """A role granted to a user or a group in one environment."""

    id: int
    role: str
    environment: str
    subject_kind: Literal["user", "group"]
    subject: str
    source: str
    disabled: bool


class ApiTokenOut(Out):
    """An API token's metadata (never its value)."""

    id: int
    name: str
    scopes: list[str]
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class ApiTokenCreated(BaseModel):
    """A new API token: its value is shown this once and stored only as a hash."""

    token: str
    info: ApiTokenOut


class EnvironmentOut(Out):
    """An environment and its newest blueprint version."""

    name: str
    description: str
    mfa_required_for: list[str]
    latest_version: int | None = None
    created_at: dt.datetime


Severity = Literal["info", "low", "medium", "high", "critical"]


class SuppressionOut(BaseModel):
    """The blueprint exception waiving a finding."""

    reason: str
    expires: str
    file: str = ""
    line: int = 0


class FailureDomainOut(BaseModel):
    """A host, rack or zone whose loss a finding concerns."""

    level: Literal["host", "rack", "zone"]
    name: str


class FindingOut(BaseModel):
    """A policy finding (the policy engine's ``Finding.to_dict`` form)."""

    rule: str
    severity: Severity
    title: str = ""
    message: str
    component: str = Field("", description="The ``kind/name`` id of the component concerned.")
    path: str = Field("", description="Dotted blueprint path (``databases[0].replicas``).")
    file: str = ""
    line: int = 0
    col: int = 0
    hint: str = ""
    fingerprint: str = ""
    suppressed: bool = False
    suppression: SuppressionOut | None = None
    failure_domains: list[FailureDomainOut] = Field(
        default_factory=list,
        description="Every failure domain whose loss the finding concerns (one finding per "
        "component and rule, not one per domain).",
    )


class PlanChangeOut(BaseModel):
    """One resource of a plan: what will happen to it, and the diff saying why."""

    kind: str
    name: str
    action: Literal["create", "update", "delete", "unchanged"]
    diff: str = ""


class RotationPlanOut(BaseModel):
    """A credential rotation's plan: the login replaced and the one created (no secret)."""

    database: str
    service: str
    kind: str
    credential: str = ""
    old_login: str = ""
    new_login: str = ""
    generation: int = 0
    step: str = Field("", description="Where a stopped rotation of this login resumes.")
    switch: bool = Field(
        True, description="Whether the rotation rolls the service onto the new login."
    )


class PlanOut(BaseModel):
    """A deployment's plan (``Plan.to_dict``); empty while planning, ``error`` if it failed."""

    target: str = ""
    cluster: str = ""
    empty: bool | None = None
    counts: dict[str, int] | None = Field(
        None, description="Resources per action; absent until planned."
    )
    changes: list[PlanChangeOut] = Field(default_factory=list)
    error: str = Field("", description="Why planning failed (status plan_failed).")
    hint: str = ""
    rotation: RotationPlanOut | None = Field(
        None, description="For target 'rotation': the database login it replaces."
    )
    endpoint: str = Field(
        "", description="The engine endpoint the plan was read from and the apply will touch."
    )
    endpoints: list[str] = Field(
        default_factory=list,
        description="Every endpoint the apply will touch, one line each (a Podman cluster of "
        "several hosts: one per host, 'host: url').",
    )
    connection_version: int | None = Field(
        None, description="The version of the cluster's connection the plan was read through."
    )


class VersionOut(Out):
    """One stored blueprint version (without its text)."""

    version: int
    sha256: str
    filename: str
    uploaded_by: str
    created_at: dt.datetime
    findings: list[FindingOut] = Field(default_factory=list)


class VersionSummary(Out):
    """One stored blueprint version in a list: its findings counted, not sent (a version of
    10,000 services has hundreds; page them with ``list_findings``)."""

    version: int
    sha256: str
    filename: str
    uploaded_by: str
    created_at: dt.datetime
    findings_count: int = Field(0, description="All findings, waived ones included.")
    findings_by_severity: dict[str, int] = Field(
        default_factory=dict, description="Findings per severity (severities with none absent)."
    )


class VersionDetail(VersionOut):
    """A blueprint version with its raw YAML and parsed JSON."""

    source: str
    parsed: dict[str, Any]


class DiffOut(BaseModel):
    """A unified diff between two versions (one page of its lines when ``limit`` is given)."""

    from_version: int
    to_version: int
    diff: str
    total_lines: int = Field(0, description="Lines of the whole diff.")
    next_cursor: int | None = Field(
        None, description="Pass as ``cursor`` for the next page of lines (none: the last)."
    )


class FindingsPage(BaseModel):
    """One page of a version's findings, filtered on the server."""

    items: list[FindingOut]
    total: int = Field(description="Findings of the version, before filtering.")
    matched: int = Field(description="Findings matching the filters.")
    next_cursor: int | None = Field(
        None, description="Pass as ``cursor`` for the next page (none: the last)."
    )


class SecretOut(Out):
    """A secret's metadata. The value is write-only and never appears here."""

    name: str
    keys: list[str]
    version: int
    updated_at: dt.datetime
    updated_by: str


class DeploymentOut(Out):
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
    cluster: str = Field(
        "", description="The blueprint cluster it deploys to (set by the request or the plan)."
    )
    created_at: dt.datetime
    updated_at: dt.datetime
    job_id: int | None = None
    two_person_rule: bool = Field(
        False, description="Whether the approver must differ from the requester here."
    )
    can_approve: bool = Field(
        False,
        description="Whether the caller may approve or reject it now (status, permission and "
        "the two-person rule).",
    )
    can_cancel: bool = Field(
        False,
        description="Whether the caller may cancel it now: they requested it and it still "
        "awaits approval.",
    )


class ConnectionOut(Out):
    """A cluster's connection: where its engine is and which credentials are stored (by name;
    credential values are write-only and never appear here)."""

    cluster: str
    kind: Literal["docker", "podman", "kubernetes", "vsphere", "openstack"]
    endpoint: str = Field(description="The endpoint in words, as plans and logs name it.")
    endpoints: list[str] = Field(
        default_factory=list,
        description="Every endpoint it touches, one line each (a Podman cluster of several "
        "hosts: one per host, 'host: url').",
    )
    settings: dict[str, Any] = Field(
        description="The non-secret part: host or URL (and fallback managers), TLS on or "
        "off, the pinned SSH host key, the kubeconfig context and its API server, the "
        "OpenStack cloud's name, Keystone URL and region."
    )
    credential_keys: list[str] = Field(description="Names of the stored credentials.")
    version: int
    updated_at: dt.datetime
    updated_by: str


class ConnectionCheckOut(BaseModel):
    """Whether the server reached a cluster's engine with the stored credentials."""

    cluster: str
    endpoint: str
    ok: bool
    message: str = ""
    hint: str = ""


class JobOut(Out):
    """A background job."""

    id: int
    kind: str
    status: JobStatus
    attempts: int
    worker: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    error: str
    result: dict[str, Any]


class JobLogLine(Out):
    """One log line of a job."""

    id: int
    at: dt.datetime
    line: str


class CertificateOut(Out):
    """An issued certificate (the private key stays sealed in the vault)."""

    name: str
    kind: str
    cert_pem: str
    not_after: dt.datetime
    issued_at: dt.datetime


class AuditEntryOut(BaseModel):
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
    environment: str = Field("", description="The environment the entry concerns (or empty).")


class AuditVerifyOut(BaseModel):
    """The result of recomputing the audit chain."""

    ok: bool
    checked: int
    problems: list[dict[str, Any]]
    warnings: list[str] = Field(default_factory=list)
    checkpoints: int = Field(0, description="Signed checkpoints checked against the chain.")
    seconds: float = Field(0.0, description="How long the check took.")
    rate: float = Field(0.0, description="Entries checked per second.")


class IdentityDrift(BaseModel):
    """Identity changes a blueprint asks for in one environment (see ``server.identity``)."""

    created: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    disabled: list[str] = Field(default_factory=list)
    not_in_blueprint: list[str] = Field(
        default_factory=list, description="Accounts from a blueprint no longer in it (kept)."
    )
    ignored: list[str] = Field(
        default_factory=list,
        description="Bindings for other environments: an upload speaks for its own only.",
    )
    warnings: list[str] = Field(
        default_factory=list, description="Changes whose effect reaches other environments."
    )


class IdentityPlanOut(BaseModel):
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


class ImportResult(BaseModel):
    """A stored blueprint version and the identity plan it produced (never applied by the
    upload itself: ``identity_plan`` is pending approval when it changes anything)."""

    version: VersionOut
    identity: IdentityDrift
    identity_plan: IdentityPlanOut | None = None


Health = Literal["healthy", "degraded", "down", "unknown"]


class ComponentStatusOut(BaseModel):
    """The live state of one component, from its target's engine."""

    component: str = Field(description="The ``kind/name`` id the policy findings use.")
    state: Health
    desired: int = 0
    running: int = 0
    healthy: int = 0
    message: str = ""


class EnvironmentStatusOut(BaseModel):
    """Live health per component, from the last successful deployment's target."""

    environment: str
    deployment_id: int | None = Field(None, description="The deployment the status is read for.")
    version: int | None = None
    target: str | None = None
    reachable: bool = Field(False, description="Whether the target's engine answered in time.")
    message: str = ""
    checked_at: dt.datetime
    components: list[ComponentStatusOut]


class RenderedFileOut(BaseModel):
    """One rendered file of a target, and the component it belongs to (when it has one)."""

    path: str
    component: str = Field("", description="The ``kind/name`` id, or empty when shared.")
    size: int
    sha256: str


class RenderedFileText(RenderedFileOut):
    """One rendered file with its text."""

    text: str
