"""The FastAPI app factory: ``create_app(settings)`` wires settings, database, routes, errors,
middleware and the in-process job worker. Nothing happens at import time."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute, iter_route_contexts
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from attonix import __version__
from attonix.server.api import include_routers
from attonix.server.auth.deps import Require
from attonix.server.context import ServerContext, build_context
from attonix.server.db import migrate
from attonix.server.db.loop_reads import LoopReads
from attonix.server.docs_page import install_docs
from attonix.server.errors import Problem, install_error_handlers
from attonix.server.jobs import BackgroundWorker
from attonix.server.middleware import Metrics, RequestPlumbing, configure_logging
from attonix.server.outcomes import ChangeOutcomes
from attonix.server.settings import Settings

log = logging.getLogger("attonix.server")
API_PREFIX = "/api/v1"


def _operation_id(route: APIRoute) -> str:
    # Stable, readable operationIds (the console's generated client method names).
    return route.name


def route_requirement(route: APIRoute) -> Require | None:
    """The ``Require`` dependency a route declares (searched through its dependency tree)."""
    stack = [route.dependant]
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, Require):
            return dep.call
        stack.extend(dep.dependencies)
    return None


def api_routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    """Every (method, full path, route) of the app's API routes, included routers flattened."""
    out: list[tuple[str, str, APIRoute]] = []
    for rc in iter_route_contexts(app.routes):
        route = rc.original_route
        if isinstance(route, APIRoute) and rc.path:
            out.extend((m, rc.path, route) for m in sorted(rc.methods or ()))
    return out


def _check_every_route_declares_a_permission(app: FastAPI) -> None:
    missing = [
        f"{method} {path}"
        for method, path, route in api_routes(app)
        if route_requirement(route) is None
    ]
    if missing:
        raise RuntimeError(f"routes without Require(...): {', '.join(missing)}")


def prepare_database(ctx: ServerContext) -> None:
    """Upgrade the schema when allowed (embedded default); otherwise refuse an outdated one."""
    if ctx.settings.should_auto_migrate:
        migrate.upgrade(ctx.db)
    else:
        migrate.require_current(ctx.db)


def create_app(settings: Settings, *, ctx: ServerContext | None = None) -> FastAPI:
    """Build the Central Server's ASGI app for ``settings``."""
    context = ctx or build_context(settings)
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        prepare_database(context)
        worker = None
        if settings.run_workers:
            worker = BackgroundWorker(context)
            worker.start()
        # The hot reads run on this loop (PostgreSQL), over a few connections.
        reads = LoopReads.for_engine(context.db.engine, settings.db_loop_connections)
        app.state.loop_reads = reads
        if ctx is None:
            # What start-up built (modules, routes, validators, the schema) is never garbage:
            # moved out of the collector's generations, it is not scanned again, and a full
            # collection under load scans only what requests allocate (shorter pauses, a lower
            # p99). Only for a served app: a test's app shares its process with the tests.
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            app.state.loop_reads = None
            if reads is not None:
                await reads.close()
            if worker is not None:
                worker.stop()
            if ctx is None:
                context.db.dispose()

    app = FastAPI(
        title="Attonix Central Server",
        version=__version__,
        summary="Blueprints, deployments, users, audit trail and secrets of a data center.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # served from the package itself: docs_page.py
        redoc_url=None,
        generate_unique_id_function=_operation_id,
        lifespan=lifespan,
    )
    app.state.ctx = context
    app.state.loop_reads = None  # set by the lifespan
    metrics = Metrics()
    app.state.metrics = metrics
    install_error_handlers(app)

    include_routers(app, prefix=API_PREFIX)
    install_docs(app, openapi_url=f"{API_PREFIX}/openapi.json", title=app.title)
    _check_every_route_declares_a_permission(app)
    _publish_problem_schema(app)

    # Inside CORS, so that its 500s and 413s carry the CORS headers too (outcomes.py).
    app.add_middleware(
        ChangeOutcomes, max_body_bytes=settings.max_body_bytes, api_prefix=API_PREFIX
    )
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(settings.cors_origins),
        allow_credentials=False,  # bearer tokens, not cookies
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["Authorization", "Content-Type", "X-Request-ID", "Last-Event-ID"],
        expose_headers=["X-Request-ID", "Retry-After", "Content-Disposition", "X-Next-Cursor"],
        max_age=600,
    )
    app.add_middleware(RequestPlumbing, settings=settings, metrics=metrics)
    if settings.trusted_proxies:
        # Outermost: the client address every layer sees (throttle, audit, access log) is
        # the right-most X-Forwarded-For entry not itself a trusted proxy, and only when the
        # connection comes from one. The server runs uvicorn with its own proxy handling off.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    return app


def _publish_problem_schema(app: FastAPI) -> None:
    """Add the problem-details schema that every error response refers to."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = generate()
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, sub in problem.pop("$defs", {}).items():
                schemas.setdefault(name, sub)
            schemas["Problem"] = problem
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def openapi_document(settings: Settings | None = None) -> dict[str, Any]:
    """The OpenAPI document, without starting anything (for `attonix openapi`)."""
    s = settings or Settings(database_url="sqlite://", signing_key="x" * 48, run_workers=False)
    app = create_app(s)
    doc: dict[str, Any] = app.openapi()
    app.state.ctx.db.dispose()
    return doc
