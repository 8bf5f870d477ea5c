"""Errors a browser can read, and every refused or failed change on the record.

Starlette answers an exception no handler took in its outermost middleware, outside CORS, so
a 500 reached the console without ``Access-Control-Allow-Origin`` and the browser reported
"the API cannot be reached" instead of the problem and its request id. :class:`ChangeOutcomes`
sits just inside the CORS middleware and:

- turns such an exception into the 500 problem itself (so CORS adds its headers to it);
- refuses a request body declared larger than the limit there too (413, also readable);
- writes one audit entry for every change (POST, PUT, PATCH, DELETE) that is refused (4xx)
  or fails (5xx): who, which operation, the status, the problem's detail and the request id.

Not audited: sign-in routes (they audit their own failures, by account), 401 (no identity to
record; the access log has it), 429 (a flood would flood the chain), and paths no route
matched (scanners).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from attonix.server import audit
from attonix.server.auth.deps import client_ip
from attonix.server.errors import problem_response

log = logging.getLogger("attonix.server")

CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_NOT_AUDITED = frozenset({401, 429})
_DETAIL_LIMIT = 300


class ChangeOutcomes:
    """Inner ASGI middleware: readable 500s and 413s, and audited refusals and failures."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, api_prefix: str) -> None:
        """Wrap ``app``; ``api_prefix`` locates the sign-in routes that audit themselves."""
        self.app = app
        self.limit = max_body_bytes
        self.auth_prefix = f"{api_prefix}/auth/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one request (other scopes pass through)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            response = problem_response(
                Request(scope),
                413,
                detail=f"The request body exceeds the limit of {self.limit} bytes.",
            )
            await response(scope, receive, send)
            await self._audit(scope, 413, bytes(response.body))
            return
        status = 0
        error_body = b""

        async def watching_send(message: Message) -> None:
            nonlocal status, error_body
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif (
                message["type"] == "http.response.body" and status >= 400 and len(error_body) < 4096
            ):
                error_body += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, receive, watching_send)
        except Exception as exc:
            if status:  # the response had begun: nothing readable can be sent any more
                raise
            request = Request(scope)
            log.error(
                "unhandled error",
                exc_info=exc,
                extra={"path": scope["path"], "request_id": _request_id(scope)},
            )
            response = problem_response(
                request, 500, detail="An internal error occurred; quote the request id to support."
            )
            await response(scope, receive, send)
            status, error_body = 500, bytes(response.body)
        if status >= 400:
            await self._audit(scope, status, error_body)

    async def _audit(self, scope: Scope, status: int, body: bytes) -> None:
        if scope["method"] not in CHANGES or status in _NOT_AUDITED:
            return
        route = scope.get("route")
        if route is None or scope["path"].startswith(self.auth_prefix):
            return
        app = scope.get("app")
        ctx = getattr(getattr(app, "state", None), "ctx", None)
        if ctx is None:
            return
        principal = (scope.get("state") or {}).get("principal")
        actor = audit.Actor(
            name=getattr(principal, "name", None) or "anonymous",
            source_ip=client_ip(Request(scope)),
        )
        detail: dict[str, Any] = {
            "operation": getattr(route, "name", ""),
            "status": status,
            "request_id": _request_id(scope),
        }
        problem = _problem_detail(body)
        if problem:
            detail["detail"] = problem[:_DETAIL_LIMIT]
        outcome = "failure" if status >= 500 else "refused"
        target = f"{scope['method']} {scope['path']}"

        def write() -> None:
            with ctx.db.session() as s:
                audit.record(
                    s, actor, f"request.{outcome}", target=target, outcome=outcome, detail=detail
                )

        try:
            await run_in_threadpool(write)
        except Exception:
            # The answer has gone out; a database that cannot take the entry is logged.
            log.exception("could not audit a %s change", outcome, extra=detail)


def _request_id(scope: Scope) -> str:
    return str((scope.get("state") or {}).get("request_id", ""))


def _problem_detail(body: bytes) -> str:
    try:
        doc = json.loads(body)
    except ValueError:
        return ""
    return str(doc.get("detail", "")) if isinstance(doc, dict) else ""
