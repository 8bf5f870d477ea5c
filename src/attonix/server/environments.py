"""Environments and their versioned blueprints: upload (validate, check, store), show, diff,
render."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from attonix.server import audit, identity_plans, pipeline
from attonix.server.audit import Actor
from attonix.server.auth.rbac import Principal
from attonix.server.context import ServerContext
from attonix.server.db.models import BlueprintVersion, Environment
from attonix.server.errors import BadRequest, Conflict, NotFound
from attonix.server.schemas import (
    DiffOut,
    EnvironmentOut,
    FindingOut,
    FindingsPage,
    ImportResult,
    RenderedFileOut,
    RenderedFileText,
    VersionDetail,
    VersionOut,
    VersionSummary,
)
from attonix.server.vault import environment_row


def _latest(s: Session, env_id: int) -> int | None:
    latest: int | None = s.execute(
        select(func.max(BlueprintVersion.version)).where(BlueprintVersion.environment_id == env_id)
    ).scalar()
    return latest


def _out(s: Session, env: Environment) -> EnvironmentOut:
    return EnvironmentOut(
        name=env.name,
        description=env.description,
        mfa_required_for=list(env.mfa_required_for),
        latest_version=_latest(s, env.id),
        created_at=env.created_at,
    )


def create_environment(
    ctx: ServerContext, *, name: str, description: str = "", actor: Actor
) -> EnvironmentOut:
    """Create an empty environment."""
    with ctx.db.session() as s:
        if s.execute(select(Environment.id).where(Environment.name == name)).first():
            raise Conflict(f"An environment named {name!r} already exists.")
        env = Environment(name=name, description=description, mfa_required_for=["admin"])
        s.add(env)
        try:
            s.flush()
        except IntegrityError:
            raise Conflict(f"An environment named {name!r} already exists.") from None
        audit.record(s, actor, "environment.create", target=f"environment/{name}")
        return _out(s, env)


def list_environments(ctx: ServerContext, principal: Principal) -> list[EnvironmentOut]:
    """The environments the principal may see."""
    with ctx.db.session() as s:
        envs = s.execute(select(Environment).order_by(Environment.name)).scalars().all()
        visible = set(principal.visible_environments([e.name for e in envs]))
        return [_out(s, e) for e in envs if e.name in visible]


def _get_environment_query() -> Any:  # a Select with one bound parameter, built once
    latest = (
        select(func.max(BlueprintVersion.version))
        .where(BlueprintVersion.environment_id == Environment.id)
        .scalar_subquery()
    )
    return select(
        Environment.name,
        Environment.description,
        Environment.mfa_required_for,
        Environment.created_at,
        latest.label("latest_version"),
    ).where(Environment.name == bindparam("name"))


# Built once: constructing the statement costs more than running it from the compiled cache.
_GET_ENVIRONMENT = _get_environment_query()


def get_environment(ctx: ServerContext, name: str) -> EnvironmentOut:
    """One environment (a single read: it is the API's most frequent call)."""
    with ctx.db.read() as conn:
        row = conn.execute(_GET_ENVIRONMENT, {"name": name}).first()
    if row is None:
        raise NotFound(f"No environment named {name!r}.")
    return EnvironmentOut.model_validate(row._mapping)


#: The environment read, for ``Require(..., companion=...)``: its bind parameter is ``name``.
ENVIRONMENT_READ = _GET_ENVIRONMENT


def environment_from_columns(name: str, columns: tuple[Any, ...]) -> EnvironmentOut:
    """``get_environment`` from the raw columns of ``ENVIRONMENT_READ`` (PostgreSQL)."""
    env_name, description, mfa_required_for, created_at, latest_version = columns
    if env_name is None:
        raise NotFound(f"No environment named {name!r}.")
    return EnvironmentOut(
        name=env_name,
        description=description,
        mfa_required_for=mfa_required_for,
        latest_version=latest_version,
        created_at=created_at.replace(tzinfo=UTC),  # stored as naive UTC (UTCDateTime)
    )


def upload(
    ctx: ServerContext,
    *,
    environment: str,
    source: str,
    filename: str = "datacenter.yaml",
    actor: Actor,
) -> ImportResult:
    """Validate and check a blueprint and store it as the next version; its identity changes
    (scoped to this environment) become a pending plan, never applied here. Invalid text
    raises ``BlueprintInvalid`` (422)."""
    loaded = pipeline.load(source, filename=filename)
    found = pipeline.findings(loaded)
    digest = hashlib.sha256(source.encode()).hexdigest()
    with ctx.db.session() as s:
        # The environment's row lock serialises uploads, so versions are allocated one by one.
        env = s.execute(
            select(Environment).where(Environment.name == environment).with_for_update()
        ).scalar_one_or_none()
        if env is None:
            raise NotFound(f"No environment named {environment!r}.")
        version = (_latest(s, env.id) or 0) + 1
        row = BlueprintVersion(
            environment_id=env.id,
            version=version,
            sha256=digest,
            source=source,
            filename=filename[:255],
            findings=found,
            uploaded_by=actor.name,
        )
        s.add(row)
        try:
            s.flush()
        except IntegrityError:
            raise Conflict("Another upload took this version number; upload again.") from None
        audit.record(
            s,
            actor,
            "blueprint.upload",
            target=f"environment/{environment}/v{version}",
            detail={"sha256": digest, "findings": len(found)},
        )
        drift, plan = identity_plans.hold(
            ctx, s, env=env, version=row, bp=loaded.blueprint, actor=actor
        )
        return ImportResult(
            version=VersionOut.model_validate(row), identity=drift, identity_plan=plan
        )


def _version(s: Session, environment: str, version: int) -> BlueprintVersion:
    env = environment_row(s, environment)
    row = s.execute(
        select(BlueprintVersion).where(
            BlueprintVersion.environment_id == env.id, BlueprintVersion.version == version
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"Environment {environment!r} has no version {version}.")
    return row


def list_versions(
    ctx: ServerContext, environment: str, *, limit: int | None = None, before: int | None = None
) -> list[VersionSummary]:
    """Stored versions, newest first: up to ``limit`` of them below version ``before``.

    The versions' texts are not read, and their findings reach the caller only as counts per
    severity (``findings_page`` pages through them)."""
    with ctx.db.session() as s:
        env = environment_row(s, environment)
        q = (
            select(
                BlueprintVersion.version,
                BlueprintVersion.sha256,
                BlueprintVersion.filename,
                BlueprintVersion.uploaded_by,
                BlueprintVersion.created_at,
                BlueprintVersion.findings,
            )
            .where(BlueprintVersion.environment_id == env.id)
            .order_by(BlueprintVersion.version.desc())
        )
        if before is not None:
            q = q.where(BlueprintVersion.version < before)
        if limit is not None:
            q = q.limit(limit)
        out = []
        for version, sha256, filename, uploaded_by, created_at, findings in s.execute(q):
            severities = Counter(str(f.get("severity", "")) for f in findings or ())
            out.append(
                VersionSummary(
                    version=version,
                    sha256=sha256,
                    filename=filename,
                    uploaded_by=uploaded_by,
                    created_at=created_at,
                    findings_count=sum(severities.values()),
                    findings_by_severity=dict(severities),
                )
            )
        return out


def get_version(ctx: ServerContext, environment: str, version: int) -> VersionDetail:
    """A version's raw YAML and its parsed JSON."""
    with ctx.db.session() as s:
        row = _version(s, environment, version)
        parsed: dict[str, Any] = pipeline.load(
            row.source, filename=row.filename
        ).blueprint.model_dump(mode="json", by_alias=True)
        return VersionDetail(
            **VersionOut.model_validate(row).model_dump(), source=row.source, parsed=parsed
        )


def load_version(ctx: ServerContext, environment: str, version: int) -> pipeline.Loaded:
    """A stored version, loaded."""
    with ctx.db.session() as s:
        row = _version(s, environment, version)
        return pipeline.load(row.source, filename=row.filename)


def diff(
    ctx: ServerContext,
    environment: str,
    a: int,
    b: int,
    *,
    limit: int | None = None,
    cursor: int = 0,
) -> DiffOut:
    """Unified diff of version ``a`` to version ``b``: whole, or ``limit`` lines from line
    ``cursor`` (a 10,000-service blueprint's diff need not reach the browser at once)."""
    with ctx.db.session() as s:
        old, new = _version(s, environment, a), _version(s, environment, b)
        lines = pipeline.diff_lines(
            old.source, new.source, fromfile=f"{environment}/v{a}", tofile=f"{environment}/v{b}"
        )
    end = len(lines) if limit is None else min(len(lines), cursor + limit)
    return DiffOut(
        from_version=a,
        to_version=b,
        diff="".join(lines[cursor:end]),
        total_lines=len(lines),
        next_cursor=end if end < len(lines) else None,
    )


def findings_page(
    ctx: ServerContext,
    environment: str,
    version: int,
    *,
    limit: int,
    cursor: int = 0,
    severity: str | None = None,
    rule: str | None = None,
    component: str | None = None,
    text: str | None = None,
    suppressed: bool | None = None,
) -> FindingsPage:
    """A page of a version's stored findings (in blueprint order) matching every filter
    given; ``cursor`` is the position in the matching list (a version's findings never
    change, so positions are stable)."""
    with ctx.db.session() as s:
        found: list[dict[str, Any]] = _version(s, environment, version).findings or []
    needle = text.casefold() if text else None

    def keep(f: dict[str, Any]) -> bool:
        return (
            (severity is None or f.get("severity") == severity)
            and (rule is None or f.get("rule") == rule)
            and (component is None or f.get("component") == component)
            and (suppressed is None or bool(f.get("suppressed")) == suppressed)
            and (needle is None or any(needle in str(f.get(k, "")).casefold() for k in _SEARCHED))
        )

    matched = [f for f in found if keep(f)]
    end = min(len(matched), cursor + limit)
    return FindingsPage(
        items=[FindingOut.model_validate(f) for f in matched[cursor:end]],
        total=len(found),
        matched=len(matched),
        next_cursor=end if end < len(matched) else None,
    )


#: The fields the findings' free-text filter looks in.
_SEARCHED = ("rule", "title", "message", "component", "path")


def _render(ctx: ServerContext, environment: str, version: int, target: str) -> list[Any]:
    if target not in pipeline.RENDER_TARGETS:
        raise BadRequest(
            f"Unknown render target {target!r}.",
            hint=f"Use one of: {', '.join(pipeline.RENDER_TARGETS)}.",
        )
    loaded = load_version(ctx, environment, version)
    return sorted(pipeline.render_target(loaded, target), key=lambda a: a.path)


def render_tarball(ctx: ServerContext, environment: str, version: int, target: str) -> bytes:
    """The rendered files of ``target`` for a version, as a .tar.gz."""
    artifacts = _render(ctx, environment, version, target)
    return pipeline.tarball(artifacts, prefix=f"{environment}-v{version}-{target}")


def _file(path: str, component: str, text: str) -> RenderedFileText:
    data = text.encode()
    return RenderedFileText(
        path=path,
        component=component,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        text=text,
    )


def rendered_files(
    ctx: ServerContext, environment: str, version: int, target: str
) -> list[RenderedFileOut]:
    """Every rendered file of ``target`` with the component the renderer says it belongs to."""
    return [
        RenderedFileOut.model_validate(
            _file(a.path, a.component, a.text()).model_dump(exclude={"text"})
        )
        for a in _render(ctx, environment, version, target)
    ]


def rendered_file(
    ctx: ServerContext, environment: str, version: int, target: str, path: str
) -> RenderedFileText:
    """One rendered file of ``target`` with its text."""
    for a in _render(ctx, environment, version, target):
        if a.path == path:
            return _file(a.path, a.component, a.text())
    raise NotFound(f"The {target} rendering of version {version} has no file {path!r}.")
