"""HTTP routes, one module per resource; each route declares its permission with Require."""

from __future__ import annotations

from fastapi import FastAPI

from attonix.server.api import (
    account,
    admin,
    audit,
    auth,
    certificates,
    connections,
    deployments,
    environments,
    jobs,
    rotations,
    secrets,
    system,
)
from attonix.server.errors import PROBLEM_RESPONSES


def include_routers(app: FastAPI, *, prefix: str) -> None:
    """Mount every router: probes and metrics at the root, the API under ``prefix``."""
    app.include_router(system.router)
    # Routes are matched in order, one by one: the most frequent reads come first.
    for module in (
        environments,
        deployments,
        rotations,
        secrets,
        certificates,
        connections,
        jobs,
        audit,
        account,
        auth,
        admin,
    ):
        app.include_router(module.router, prefix=prefix, responses=PROBLEM_RESPONSES)
