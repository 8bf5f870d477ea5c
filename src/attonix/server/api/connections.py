"""Cluster connections over HTTP: endpoints readable, credentials write-only (admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Request

from attonix.server import connections
from attonix.server.auth.deps import Ctx, Require, actor_of
from attonix.server.auth.rbac import Permission, Principal
from attonix.server.schemas import NAME_PATTERN, ConnectionCheckOut, ConnectionOut

router = APIRouter(prefix="/environments/{env}/connections", tags=["connections"])
Env = Annotated[str, Path(pattern=NAME_PATTERN, max_length=64)]
Cluster = Annotated[str, Path(pattern=NAME_PATTERN, max_length=64)]
Reader = Annotated[Principal, Depends(Require(Permission.CONNECTION_READ))]
Writer = Annotated[Principal, Depends(Require(Permission.CONNECTION_WRITE))]


@router.get("", response_model=list[ConnectionOut], name="list_connections")
def list_connections(env: Env, ctx: Ctx, p: Reader) -> list[ConnectionOut]:
    """Every cluster connection of the environment: endpoints and credential names only."""
    return connections.list_connections(ctx, environment=env)


@router.get("/{cluster}", response_model=ConnectionOut, name="get_connection")
def get_connection(env: Env, cluster: Cluster, ctx: Ctx, p: Reader) -> ConnectionOut:
    """One cluster's connection (no credential)."""
    return connections.get_connection(ctx, environment=env, cluster=cluster)


@router.put("/{cluster}", response_model=ConnectionOut, name="put_connection")
def put_connection(
    env: Env,
    cluster: Cluster,
    body: Annotated[connections.ConnectionIn, Body()],
    request: Request,
    ctx: Ctx,
    p: Writer,
) -> ConnectionOut:
    """Create or replace a cluster's connection; credentials are sealed in the vault and never
    returned."""
    return connections.put_connection(
        ctx, environment=env, cluster=cluster, body=body, actor=actor_of(request, p)
    )


@router.delete("/{cluster}", status_code=204, name="delete_connection")
def delete_connection(env: Env, cluster: Cluster, request: Request, ctx: Ctx, p: Writer) -> None:
    """Remove a cluster's connection (it cannot be deployed to until one is stored again)."""
    connections.delete_connection(ctx, environment=env, cluster=cluster, actor=actor_of(request, p))


@router.post("/{cluster}/check", response_model=ConnectionCheckOut, name="check_connection")
def check_connection(env: Env, cluster: Cluster, ctx: Ctx, p: Writer) -> ConnectionCheckOut:
    """Reach the cluster's engine now with the stored credentials: unreachable, a wrong
    certificate and refused credentials are told apart and named."""
    return connections.check_connection(ctx, environment=env, cluster=cluster)
