"""Environments and their blueprint versions: upload, list, show, diff, render."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from attonix.server import environments, identity_plans, status
from attonix.server.auth.deps import Ctx, Require, actor_of
from attonix.server.auth.rbac import Permission, Principal
from attonix.server.concurrency import in_thread
from attonix.server.schemas import (
    NAME_PATTERN,
    DiffOut,
    EnvironmentOut,
    EnvironmentStatusOut,
    FindingsPage,
    IdentityPlanOut,
    ImportResult,
    RenderedFileOut,
    RenderedFileText,
    VersionDetail,
    VersionSummary,
)

router = APIRouter(prefix="/environments", tags=["environments"])
Env = Annotated[str, Path(pattern=NAME_PATTERN, max_length=64)]
Version = Annotated[int, Path(ge=1, le=1_000_000)]
Target = Annotated[str, Path(max_length=32)]


class EnvironmentIn(BaseModel):
    """A new environment."""

    name: str = Field(pattern=NAME_PATTERN, max_length=64)
    description: str = Field("", max_length=500)


class BlueprintIn(BaseModel):
    """Blueprint YAML to store as the next version."""

    source: str = Field(min_length=1, max_length=4_000_000)
    filename: str = Field("datacenter.yaml", min_length=1, max_length=255)


@router.get("", response_model=list[EnvironmentOut], name="list_environments")
def list_environments(
    ctx: Ctx, p: Annotated[Principal, Depends(Require(Permission.ENV_LIST))]
) -> list[EnvironmentOut]:
    """The environments the caller may see."""
    return environments.list_environments(ctx, p)


@router.post("", response_model=EnvironmentOut, status_code=201, name="create_environment")
def create_environment(
    body: EnvironmentIn,
    request: Request,
    ctx: Ctx,
    p: Annotated[Principal, Depends(Require(Permission.ENV_CREATE))],
) -> EnvironmentOut:
    """Create an environment (global administrators)."""
    return environments.create_environment(
        ctx, name=body.name, description=body.description, actor=actor_of(request, p)
    )


_READ_ENVIRONMENT = Require(
    Permission.ENV_READ,
    companion=environments.ENVIRONMENT_READ,
    companion_params={"name": "env"},
)


@router.get("/{env}", response_model=EnvironmentOut, name="get_environment")
async def get_environment(
    env: Env,
    request: Request,
    p: Annotated[Principal, Depends(_READ_ENVIRONMENT)],
) -> EnvironmentOut:
    """One environment."""
    # The hottest read. On PostgreSQL it came with the session check, in one statement on
    # the event loop; otherwise it takes one explicit hop (a sync endpoint would cost FastAPI
    # a second hop to validate the response). The context is not a dependency here: each
    # one costs FastAPI's dependency solving a few microseconds per request.
    columns = request.state.companion
    if columns is not None:
        return environments.environment_from_columns(env, columns)
    return await in_thread(environments.get_environment, request.app.state.ctx, env)


@router.post(
    "/{env}/blueprints",
    response_model=ImportResult,
    status_code=201,
    name="upload_blueprint",
)
def upload_blueprint(
    env: Env,
    body: BlueprintIn,
    request: Request,
    ctx: Ctx,
    p: Annotated[Principal, Depends(Require(Permission.BLUEPRINT_WRITE))],
) -> ImportResult:
    """Validate, check and store a blueprint as the next version (422 with diagnostics).

    Its accounts, groups, bindings for this environment and a weaker MFA policy are not
    applied: they become a pending identity plan for an identity administrator to decide."""
    return environments.upload(
        ctx,
        environment=env,
        source=body.source,
        filename=body.filename,
        actor=actor_of(request, p),
    )


class IdentityDecisionIn(BaseModel):
    """Approve (apply) or reject an identity plan."""

    approve: bool


@router.get(
    "/{env}/identity-plans", response_model=list[IdentityPlanOut], name="list_identity_plans"
)
def list_identity_plans(
    env: Env, ctx: Ctx, p: Annotated[Principal, Depends(Require(Permission.BLUEPRINT_READ))]
) -> list[IdentityPlanOut]:
    """Identity plans from uploads into this environment, newest first."""
    return identity_plans.list_plans(ctx, env)


@router.post(
    "/{env}/identity-plans/{plan_id}/decision",
    response_model=IdentityPlanOut,
    name="decide_identity_plan",
)
def decide_identity_plan(
    env: Env,
    plan_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: IdentityDecisionIn,
    request: Request,
    ctx: Ctx,
    p: Annotated[Principal, Depends(Require(Permission.USERS_WRITE))],
) -> IdentityPlanOut:
    """Apply or reject a pending identity plan (identity administrators; under the two-person
    rule, not the uploader). A plan whose changes no longer match the state is superseded (409)."""
    return identity_plans.decide(
        ctx, environment=env, plan_id=plan_id, approve=body.approve, actor=actor_of(request, p)
    )


@router.get("/{env}/blueprints", response_model=list[VersionSummary], name="list_versions")
def list_versions(
    env: Env,
    ctx: Ctx,
    p: Annotated[Principal, Depends(Require(Permission.BLUEPRINT_READ))],
    limit: Annotated[int, Query(ge=1, le=1000, description="Versions per page.")] = 100,
    before: Annotated[
        int | None,
        Query(ge=1, le=1_000_000, description="Only versions older than this one (next page)."),
    ] = None,
) -> list[VersionSummary]:
    """Stored versions, newest first, with their findings counted per severity (the findings
    themselves: ``list_findings``)."""
    return environments.list_versions(ctx, env, limit=limit, before=before)


@router.get("/{env}/blueprints/{version}", response_model=VersionDetail, name="get_version")
def get_version(
    env: Env,
    version: Version,
    ctx: Ctx,
    p: Annotated[Principal, Depends(Require(Permission.BLUEPRINT_READ))],
) -> VersionDetail:
    """A version's raw YAML, parsed JSON and findings."""
    return environments.get_version(ctx, env, version)


@router.get("/{env}/diff", response_model=DiffOut, name="diff_versions")
def diff_versions(
    env: Env,
    ctx: Ctx,
    p: Annotated[Principal, Depends(Require(Permission.BLUEPRINT_READ))],
    from_version: Annotated[int, Query(alias="from", ge=1, le=1_000_000)],
    to_version: Annotated[int, Query(alias="to", ge=1, le=1_000_000)],
    limit: Annotated[
        int | None, Query(ge=1, le=100_000, description="Lines per page (none: the whole diff).")
    ] = None,
    cursor: Annotated[
        int, Query(ge=0, le=100_000_000, description="The previous page's next_cursor.")
    ] = 0,
) -> DiffOut:
    """Unified diff between two versions, whole or a page of ``limit`` lines."""
    return environments.diff(ctx, env, from_version, to_version, limit=limit, cursor=cursor)


@router.get(
    "/{env}/blueprints/{version}/findings", response_model=FindingsPage, name="list_findings"
)
def list_findings(
    env: Env,
    version: Version,
    ctx: Ctx,
    p: Annotated[Principal, Depends(Require(Permission.BLUEPRINT_READ))],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[
        int, Query(ge=0, le=100_000_000, description="The previous page's next_cursor.")
    ] = 0,
    severity: Annotated[str | None, Query(max_length=16, description="Exact severity.")] = None,
    rule: Annotated[str | None, Query(max_length=16, description="Exact rule id.")] = None,
    component: Annotated[
        str | None, Query(max_length=255, description="Exact component id (kind/name).")
    ] = None,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Text in the rule, title, message, component or path."),
    ] = None,
    suppressed: Annotated[
        bool | None, Query(description="Only waived (true) or only open (false) findings.")
    ] = None,
) -> FindingsPage:
    """A page of a version's findings, filtered on the server, in blueprint order."""
    return environments.findings_page(
        ctx,
        env,
        version,
        limit=limit,
        cursor=cursor,
        severity=severity,
        rule=rule,
        component=component,
        text=q,
        suppressed=suppressed,
    )


@router.get(
    "/{env}/blueprints/{version}/render/{target}",
    name="render_version",
    response_class=Response,
    responses={200: {"content": {"application/gzip": {}}, "description": "A .tar.gz"}},
)
def render_version(
    env: Env,
    version: Version,
    target: Annotated[str, Path(max_length=32)],
    ctx: Ctx,
    p: Annotated[Principal, Depends(Require(Permission.BLUEPRINT_READ))],
) -> Response:
    """The rendered files of one target, as a .tar.gz download."""
    data = environments.render_tarball(ctx, env, version, target)
    name = f"{env}-v{version}-{target}.tar.gz"
    return Response(
        data,
        media_type="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get(
    "/{env}/blueprints/{version}/renders/{target}/files",
    response_model=list[RenderedFileOut],
    name="list_rendered_files",
)
def list_rendered_files(
    env: Env,
    version: Version,
    target: Target,
    ctx: Ctx,
    p: Annotated[Principal, Depends(Require(Permission.BLUEPRINT_READ))],
) -> list[RenderedFileOut]:
    """The rendered files of one target: path, component, size and SHA-256 (no content)."""
    return environments.rendered_files(ctx, env, version, target)


@router.get(
    "/{env}/blueprints/{version}/renders/{target}/files/{path:path}",
    response_model=RenderedFileText,
    name="get_rendered_file",
)
def get_rendered_file(
    env: Env,
    version: Version,
    target: Target,
    path: Annotated[str, Path(max_length=1024)],
    ctx: Ctx,
    p: Annotated[Principal, Depends(Require(Permission.BLUEPRINT_READ))],
) -> RenderedFileText:
    """One rendered file of a target, with its text."""
    return environments.rendered_file(ctx, env, version, target, path)


@router.get("/{env}/status", response_model=EnvironmentStatusOut, name="environment_status")
def environment_status(
    env: Env, ctx: Ctx, p: Annotated[Principal, Depends(Require(Permission.DEPLOY_READ))]
) -> EnvironmentStatusOut:
    """Live health per component (``kind/name``) from the last successful deployment's target;
    ``unknown`` when never deployed or when the target cannot be read in time."""
    return status.environment_status(ctx, env)
