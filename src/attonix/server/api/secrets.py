"""The vault over HTTP: names and metadata only; values are write-only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field

from attonix.server import vault
from attonix.server.auth.deps import Ctx, Require, actor_of
from attonix.server.auth.rbac import Permission, Principal
from attonix.server.schemas import NAME_PATTERN, SecretOut

router = APIRouter(prefix="/environments/{env}/secrets", tags=["secrets"])
Env = Annotated[str, Path(pattern=NAME_PATTERN, max_length=64)]
SecretName = Annotated[str, Path(pattern=NAME_PATTERN, max_length=128)]
KeyName = Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")]


class SecretIn(BaseModel):
    """The key→value pairs of a secret (stored encrypted; never returned)."""

    values: dict[KeyName, Annotated[str, Field(max_length=65536)]] = Field(
        min_length=1, max_length=64
    )


@router.get("", response_model=list[SecretOut], name="list_secrets")
def list_secrets(
    env: Env, ctx: Ctx, p: Annotated[Principal, Depends(Require(Permission.SECRET_READ))]
) -> list[SecretOut]:
    """Names, keys, versions and timestamps of the environment's secrets."""
    return vault.list_secrets(ctx, environment=env)


@router.put("/{name}", response_model=SecretOut, name="put_secret")
def put_secret(
    env: Env,
    name: SecretName,
    body: SecretIn,
    request: Request,
    ctx: Ctx,
    p: Annotated[Principal, Depends(Require(Permission.SECRET_WRITE))],
) -> SecretOut:
    """Create or replace a secret's value; the response carries metadata only."""
    return vault.put_secret(
        ctx, environment=env, name=name, values=dict(body.values), actor=actor_of(request, p)
    )


@router.delete("/{name}", status_code=204, name="delete_secret")
def delete_secret(
    env: Env,
    name: SecretName,
    request: Request,
    ctx: Ctx,
    p: Annotated[Principal, Depends(Require(Permission.SECRET_WRITE))],
) -> None:
    """Remove a secret."""
    vault.delete_secret(ctx, environment=env, name=name, actor=actor_of(request, p))
