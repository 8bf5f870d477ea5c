"""Request plumbing as plain ASGI middleware: request ids, JSON access logs, metrics, security
headers and the body-size limit. Plain ASGI (not BaseHTTPMiddleware) keeps streaming (SSE)
working and costs little per request."""

from __future__ import annotations

import itertools
import json
import logging
import re
import secrets
import time
from collections.abc import MutableMapping
from typing import Any

from fastapi import HTTPException
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from attonix.server.settings import Settings

access_log = logging.getLogger("attonix.server.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class JsonFormatter(logging.Formatter):
    """One JSON object per log line, with the request id when there is one."""

    _FIELDS = ("request_id", "method", "path", "status", "duration_ms", "client", "user")

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as JSON."""
        doc: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in self._FIELDS:
            if hasattr(record, name):
                doc[name] = getattr(record, name)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


def configure_logging(level: str) -> None:
    """Send the server's logs to stderr as JSON lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("attonix")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = True


class Metrics:
    """The app's Prometheus metrics, in a registry of its own (one per app, not global)."""

    def __init__(self) -> None:
        """Create the registry and its instruments."""
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "attonix_http_requests_total",
            "HTTP requests by method, route (operationId) and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "attonix_http_request_seconds",
            "HTTP request latency by route.",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )


def _security_headers(settings: Settings, path: str) -> list[tuple[bytes, bytes]]:
    # The API serves JSON only; its docs page loads Swagger UI from this server (docs_page.py)
    # and needs one inline script to start it, nothing from elsewhere.
    csp = (
        b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
        if not path.startswith("/docs")
        else b"default-src 'none'; script-src 'self' 'unsafe-inline'; "
        b"style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
        b"frame-ancestors 'none'; base-uri 'none'"
    )
    headers = [
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"content-security-policy", csp),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"cache-control", b"no-store"),
    ]
    if settings.tls:
        headers.append((b"strict-transport-security", b"max-age=63072000; includeSubDomains"))
    return headers


class RequestPlumbing:
    """Request id, security headers, body limit, access log and metrics for each request."""

    def __init__(self, app: ASGIApp, *, settings: Settings, metrics: Metrics) -> None:
        """Wrap ``app``."""
        self.app = app
        self.settings = settings
        self.metrics = metrics
        # Per-request work kept to the minimum: the two header sets are built once, and a
        # request id is a per-process random prefix and a counter (unique without a syscall).
        self._api_headers = _security_headers(settings, "/")
        self._docs_headers = _security_headers(settings, "/docs")
        self._id_prefix = secrets.token_hex(8)
        self._ids = itertools.count(1)
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one HTTP request (other scopes pass through)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = (
            given
            if given and _REQUEST_ID.match(given)
            else f"{self._id_prefix}{next(self._ids):016x}"
        )
        state: MutableMapping[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        start = time.perf_counter()
        status_holder = {"status": 500}
        fixed = self._docs_headers if scope["path"].startswith("/docs") else self._api_headers
        extra = [*fixed, (b"x-request-id", request_id.encode())]
        # A body declared too large is refused inside CORS (outcomes.py), readable by browsers.
        limit = self.settings.max_body_bytes
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI passes HTTPException through its body parsing unchanged, and
                    # the error mapping turns it into a 413 problem.
                    raise HTTPException(
                        413, detail=f"The request body exceeds the limit of {limit} bytes."
                    )
            return message

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        finally:
            self._observe(scope, status_holder["status"], start, request_id)

    def _observe(self, scope: Scope, status: int, start: float, request_id: str) -> None:
        elapsed = time.perf_counter() - start
        # The route's name (its operationId) keeps label values bounded and stable.
        route = scope.get("route")
        template = getattr(route, "name", None) or "unmatched"
        key = (scope["method"], template, str(status))
        children = self._children.get(key)
        if children is None:
            # Route names and statuses are bounded, so this map is too.
            children = (
                self.metrics.requests.labels(*key),
                self.metrics.latency.labels(scope["method"], template),
            )
            self._children[key] = children
        children[0].inc()
        children[1].observe(elapsed)
        if not access_log.isEnabledFor(logging.INFO):
            return
        state = scope.get("state", {})
        principal = state.get("principal")
        access_log.info(
            "request",
            extra={
                "request_id": request_id,
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "client": (scope.get("client") or ("", 0))[0],
                "user": getattr(principal, "name", None),
            },
        )
