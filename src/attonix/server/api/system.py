"""Probes and metrics: /healthz (the process answers), /readyz (database and schema), /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from attonix import __version__
from attonix.server.auth.deps import Ctx, Require
from attonix.server.auth.rbac import Permission
from attonix.server.db import migrate
from attonix.server.errors import problem_response
from attonix.server.serving import is_draining

router = APIRouter(tags=["system"], dependencies=[Depends(Require(Permission.PUBLIC))])


class Health(BaseModel):
    """The process is alive."""

    status: str
    version: str


class Ready(BaseModel):
    """The database is reachable and its schema current."""

    status: str
    database: str
    schema_revision: str | None


@router.get("/healthz", response_model=Health, name="healthz")
def healthz() -> Health:
    """Answer as long as the process runs (no dependency is checked)."""
    return Health(status="ok", version=__version__)


@router.get(
    "/readyz",
    response_model=Ready,
    name="readyz",
    responses={503: {"description": "Not ready", "content": {"application/problem+json": {}}}},
)
def readyz(request: Request, ctx: Ctx) -> Ready | Response:
    """Ready when the database answers and no migration is pending, and not stopping."""
    if is_draining(request.app):
        return problem_response(
            request, 503, detail="This replica is stopping.", hint="Send requests to another one."
        )
    try:
        ctx.db.ping()
        state = migrate.schema_state(ctx.db)
    except Exception:
        return problem_response(request, 503, detail="The database cannot be reached.")
    if not state.is_current:
        return problem_response(
            request,
            503,
            detail=f"The schema is at {state.current}, {state.head} is needed.",
            hint="Run `attonix db upgrade`.",
        )
    return Ready(status="ready", database=ctx.db.dialect, schema_revision=state.current)


@router.get(
    "/metrics",
    name="metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus metrics"}},
)
def metrics(request: Request) -> Response:
    """Prometheus metrics of this process."""
    data = generate_latest(request.app.state.metrics.registry)
    return Response(data, media_type=CONTENT_TYPE_LATEST)
