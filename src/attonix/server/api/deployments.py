"""Deployments over HTTP: request, approve or reject, roll back, history, live logs (SSE)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from attonix.server import deployments
from attonix.server.auth.deps import Ctx, Require, actor_of
from attonix.server.auth.rbac import Permission, Principal
from attonix.server.schemas import NAME_PATTERN, DeploymentOut, JobOut

router = APIRouter(prefix="/environments/{env}/deployments", tags=["deployments"])
Env = Annotated[str, Path(pattern=NAME_PATTERN, max_length=64)]
DeploymentId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Reader = Annotated[Principal, Depends(Require(Permission.DEPLOY_READ))]


class DeploymentIn(BaseModel):
    """Which version to deploy to which target."""

    version: int = Field(ge=1, le=1_000_000)
    target: Literal["kubernetes", "podman", "swarm", "vsphere"]
    cluster: str | None = Field(
        None,
        pattern=NAME_PATTERN,
        max_length=64,
        description="The blueprint cluster to deploy to; when omitted, the blueprint's only "
        "cluster of the target's kind. It is reached through its stored connection.",
    )


class DecisionIn(BaseModel):
    """Approve or reject a planned deployment."""

    approve: bool


@router.get("", response_model=list[DeploymentOut], name="list_deployments")
def list_deployments(env: Env, ctx: Ctx, p: Reader) -> list[DeploymentOut]:
    """Deployment history, newest first."""
    return deployments.list_deployments(ctx, env, p)


@router.post("", response_model=DeploymentOut, status_code=202, name="request_deployment")
def request_deployment(
    env: Env,
    body: DeploymentIn,
    request: Request,
    ctx: Ctx,
    p: Annotated[Principal, Depends(Require(Permission.DEPLOY_REQUEST))],
) -> DeploymentOut:
    """Request a deployment: check, render and plan run as a job, then it awaits approval."""
    return deployments.request(
        ctx,
        environment=env,
        version=body.version,
        target=body.target,
        cluster=body.cluster,
        actor=actor_of(request, p),
    )


@router.get("/{deployment_id}", response_model=DeploymentOut, name="get_deployment")
def get_deployment(env: Env, deployment_id: DeploymentId, ctx: Ctx, p: Reader) -> DeploymentOut:
    """One deployment with its plan, findings and whether the caller may approve it."""
    return deployments.get_deployment(ctx, env, deployment_id, p)


@router.post("/{deployment_id}/decision", response_model=DeploymentOut, name="decide_deployment")
def decide_deployment(
    env: Env,
    deployment_id: DeploymentId,
    body: DecisionIn,
    request: Request,
    ctx: Ctx,
    p: Annotated[Principal, Depends(Require(Permission.DEPLOY_APPROVE))],
) -> DeploymentOut:
    """Approve (the apply job starts) or reject a planned deployment."""
    return deployments.decide(
        ctx,
        environment=env,
        deployment_id=deployment_id,
        approve=body.approve,
        actor=actor_of(request, p),
    )


@router.post("/{deployment_id}/cancel", response_model=DeploymentOut, name="cancel_deployment")
def cancel_deployment(
    env: Env,
    deployment_id: DeploymentId,
    request: Request,
    ctx: Ctx,
    p: Annotated[Principal, Depends(Require(Permission.DEPLOY_REQUEST))],
) -> DeploymentOut:
    """Cancel one's own deployment while it awaits approval."""
    return deployments.cancel(
        ctx, environment=env, deployment_id=deployment_id, actor=actor_of(request, p)
    )


@router.post(
    "/{deployment_id}/rollback",
    response_model=DeploymentOut,
    status_code=202,
    name="rollback_deployment",
)
def rollback_deployment(
    env: Env,
    deployment_id: DeploymentId,
    request: Request,
    ctx: Ctx,
    p: Annotated[Principal, Depends(Require(Permission.DEPLOY_REQUEST))],
) -> DeploymentOut:
    """Deploy again the version of an earlier deployment (it goes through approval)."""
    return deployments.rollback(
        ctx, environment=env, deployment_id=deployment_id, actor=actor_of(request, p)
    )


@router.get("/{deployment_id}/jobs", response_model=list[JobOut], name="deployment_jobs")
def deployment_jobs(env: Env, deployment_id: DeploymentId, ctx: Ctx, p: Reader) -> list[JobOut]:
    """The plan and apply jobs of a deployment."""
    return deployments.deployment_jobs(ctx, env, deployment_id)


@router.get(
    "/{deployment_id}/logs",
    name="stream_deployment_logs",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-sent events"}},
)
async def stream_deployment_logs(
    env: Env,
    deployment_id: DeploymentId,
    request: Request,
    ctx: Ctx,
    p: Reader,
    last_event_id: Annotated[int, Header(ge=0, le=2**31 - 1)] = 0,
) -> StreamingResponse:
    """Live log lines as server-sent events (``log`` events, then one ``end``)."""
    await run_in_threadpool(deployments.get_deployment, ctx, env, deployment_id)

    async def events() -> AsyncIterator[str]:
        after, idle = last_event_id, 0
        while not await request.is_disconnected() and idle < 600:
            lines, done = await run_in_threadpool(
                deployments.log_lines, ctx, env, deployment_id, after=after
            )
            for line in lines:
                after = line.id
                data = json.dumps({"at": line.at.isoformat(), "line": line.line})
                yield f"id: {line.id}\nevent: log\ndata: {data}\n\n"
            if done and not lines:
                yield "event: end\ndata: {}\n\n"
                return
            idle = 0 if lines else idle + 1
            await asyncio.sleep(0.5)

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"}
    )
