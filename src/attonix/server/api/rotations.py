"""Credential rotations over HTTP: request one; it is planned, approved by a second person
(``/deployments/{id}/decision``), run and logged like a deployment of target ``rotation``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from attonix.server import deployments
from attonix.server.auth.deps import Ctx, Require, actor_of
from attonix.server.auth.rbac import Permission, Principal
from attonix.server.schemas import NAME_PATTERN, DeploymentOut

router = APIRouter(prefix="/environments/{env}/rotations", tags=["deployments"])
Env = Annotated[str, Path(pattern=NAME_PATTERN, max_length=64)]


class RotationIn(BaseModel):
    """Which database login to rotate, as a blueprint version declares it."""

    version: int = Field(ge=1, le=1_000_000)
    database: str = Field(pattern=NAME_PATTERN, max_length=64)
    service: str = Field(pattern=NAME_PATTERN, max_length=64)
    kind: Literal["owner", "app", "readonly"] = "app"
    switch: bool = Field(
        True,
        description="Roll the service on its cluster (through the environment's stored "
        "connection) onto the new login before the old one is dropped; false leaves its "
        "replicas to reread the login themselves (the CLI's --no-switch), and the old login is "
        "still dropped only once no session uses it.",
    )


@router.post("", response_model=DeploymentOut, status_code=202, name="request_rotation")
def request_rotation(
    env: Env,
    body: RotationIn,
    request: Request,
    ctx: Ctx,
    p: Annotated[Principal, Depends(Require(Permission.DEPLOY_REQUEST))],
) -> DeploymentOut:
    """Request a rotation: a new login, the service rolled onto it, the old login dropped.

    A plan job says which login is replaced by which; once approved (by someone else where the
    two-person rule applies) a job runs the rotation, logging each step."""
    return deployments.request(
        ctx,
        environment=env,
        version=body.version,
        target="rotation",
        actor=actor_of(request, p),
        rotation={
            "database": body.database,
            "service": body.service,
            "kind": body.kind,
            "switch": body.switch,
        },
    )
