"""Server errors and the ONE place where errors become HTTP responses (RFC 9457 problems).

Service functions raise the classes below (or ``BlueprintInvalid``); handlers registered by
``install_error_handlers`` turn them into ``application/problem+json`` bodies. Nothing else
chooses a status code for an error, and no stack trace ever reaches a client.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from attonix.blueprint import BlueprintInvalid
from attonix.errors import Error
from attonix.server.db.conflicts import is_lock_conflict

log = logging.getLogger("attonix.server")

PROBLEM_JSON = "application/problem+json"


class ServerError(Error):
    """A Central Server operation failed; ``status`` is its HTTP status."""

    status = 400
    title = "Bad request"


class BadRequest(ServerError):
    """The request is well-formed but cannot be honoured as asked."""


class Unauthorized(ServerError):
    """No valid credentials were presented."""

    status = 401
    title = "Unauthorized"


class Forbidden(ServerError):
    """The caller is known but lacks the permission."""

    status = 403
    title = "Forbidden"


class NotFound(ServerError):
    """The resource does not exist (or the caller may not know it exists)."""

    status = 404
    title = "Not found"


class Conflict(ServerError):
    """The request conflicts with the current state (duplicate name, wrong status…)."""

    status = 409
    title = "Conflict"


class PayloadTooLarge(ServerError):
    """The request body exceeds the configured limit."""

    status = 413
    title = "Payload too large"


class Unprocessable(ServerError):
    """The content is understood but invalid (a password that breaks the policy, a name that
    refers to nothing…); ``errors`` place each problem at its request field."""

    status = 422
    title = "Unprocessable content"

    def __init__(self, message: str, *, hint: str = "", errors: Sequence[FieldError] = ()) -> None:
        super().__init__(message, hint=hint)
        self.errors = list(errors)


class TooManyRequests(ServerError):
    """Throttled; retry after ``retry_after`` seconds."""

    status = 429
    title = "Too many requests"

    def __init__(self, message: str, *, retry_after: int, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.retry_after = max(1, int(retry_after))


class SchemaOutdated(ServerError):
    """The database schema is older than this version of Attonix."""

    status = 503
    title = "Database schema outdated"


#: Seconds a client is asked to wait when the database is unreachable or switching over.
DATABASE_RETRY_AFTER = 2

#: Errors that mean "the database cannot serve this now" (down, restarting, failing over, or a
#: connection to a server that became a read-only standby), identified by class, never by text.
#: SQLAlchemy wraps the driver's: OperationalError (connection refused, closed, admin shutdown),
#: InterfaceError (a closed connection used), InternalError from ReadOnlySqlTransaction. The
#: reads on the event loop (db.loop_reads) raise psycopg's own.
DATABASE_UNAVAILABLE: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,  # no pooled connection came free in time
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg.errors.ReadOnlySqlTransaction,
)


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (raised by a database call) means the database is unavailable now."""
    if isinstance(exc, DATABASE_UNAVAILABLE):
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        return exc.connection_invalidated or isinstance(exc.orig, DATABASE_UNAVAILABLE)
    return False


class Diagnostic(BaseModel):
    """A blueprint problem at file:line:col (``attonix.blueprint.Diagnostic.to_dict``)."""

    code: str
    severity: str
    message: str
    hint: str = ""
    file: str = ""
    line: int = 0
    col: int = 0
    path: str = Field("", description="Dotted blueprint path (``databases[0].replicas``).")


class FieldError(BaseModel):
    """A request field that does not match the API schema (never echoing its value)."""

    loc: list[str]
    msg: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem details body."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str = ""
    instance: str = ""
    hint: str = ""
    request_id: str = ""
    diagnostics: list[Diagnostic] = Field(default_factory=list)
    errors: list[FieldError] = Field(default_factory=list)


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


#: Error responses every API route may give, documented once for the OpenAPI document.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _problem("Bad request"),
    401: _problem("Missing or invalid credentials"),
    403: _problem("Permission denied"),
    404: _problem("Not found"),
    409: _problem("Conflict with the current state"),
    413: _problem("Request body too large"),
    422: _problem("Invalid content (diagnostics or field errors included)"),
    429: _problem("Throttled; see Retry-After"),
    503: _problem("The database is unavailable or switching over; retry after Retry-After"),
}

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def problem_response(
    request: Request,
    status: int,
    *,
    detail: str = "",
    hint: str = "",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """Build the problem+json response every error path uses."""
    body = Problem(
        title=_TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        hint=hint,
        instance=request.url.path,
        request_id=getattr(request.state, "request_id", ""),
        **extra,
    )
    return JSONResponse(
        body.model_dump(exclude_defaults=True) | {"title": body.title, "status": status},
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def _safe_validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Echoing "input" would reflect submitted secrets (passwords, vault values) back.
    return [
        {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": e["type"]}
        for e in exc.errors()
    ]


def install_error_handlers(app: FastAPI) -> None:
    """Register the error → problem-details mapping on ``app``."""

    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ServerError)
        headers = {}
        if isinstance(exc, TooManyRequests):
            headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, Unauthorized):
            headers["WWW-Authenticate"] = "Bearer"
        extra = {"errors": exc.errors} if isinstance(exc, Unprocessable) and exc.errors else {}
        return problem_response(
            request, exc.status, detail=exc.message, hint=exc.hint, headers=headers, **extra
        )

    async def blueprint_invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, BlueprintInvalid)
        diags = [d.to_dict() for d in exc.diagnostics]
        return problem_response(
            request,
            422,
            detail=f"The blueprint has {len(diags)} problem{'' if len(diags) == 1 else 's'}.",
            hint="Fix each diagnostic at its file:line:col and upload again.",
            diagnostics=diags,
        )

    async def attonix_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Error)
        return problem_response(request, 400, detail=exc.message, hint=exc.hint)

    async def validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return problem_response(
            request,
            422,
            detail="The request does not match the API schema.",
            errors=_safe_validation_errors(exc),
        )

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        headers = dict(exc.headers or {})
        detail = exc.detail if isinstance(exc.detail, str) else ""
        return problem_response(request, exc.status_code, detail=detail, headers=headers)

    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning(
            "database unavailable",
            extra={"path": request.url.path, "request_id": request.state.request_id},
        )
        return problem_response(
            request,
            503,
            detail="The database is unavailable (restarting or switching over).",
            hint=f"Retry in {DATABASE_RETRY_AFTER} seconds.",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER)},
        )

    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        if is_lock_conflict(exc):
            return problem_response(
                request,
                409,
                detail="A concurrent change conflicted with this one; nothing was changed.",
                hint="Retry the request.",
            )
        return await unexpected(request, exc)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        if database_unavailable(exc):
            return await unavailable(request, exc)
        log.error(
            "unhandled error",
            exc_info=exc,
            extra={"path": request.url.path, "request_id": request.state.request_id},
        )
        return problem_response(
            request, 500, detail="An internal error occurred; quote the request id to support."
        )

    app.add_exception_handler(ServerError, server_error)
    app.add_exception_handler(BlueprintInvalid, blueprint_invalid)
    app.add_exception_handler(Error, attonix_error)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http_error)
    # Lock conflicts (a lost race) are 409; the rest of the database errors go to
    # ``unexpected``, which answers 503 when the database is unavailable.
    for cls in (*DATABASE_UNAVAILABLE, sa_exc.DBAPIError):
        app.add_exception_handler(cls, database_error)
    app.add_exception_handler(Exception, unexpected)
