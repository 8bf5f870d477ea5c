"""The ONE authorization dependency: ``Require(Permission.X)`` on every route, deny by default."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy import Select

from attonix.server.audit import Actor
from attonix.server.auth import sessions
from attonix.server.auth.rbac import ROLE_PERMISSIONS, Permission, Principal
from attonix.server.concurrency import in_thread
from attonix.server.context import ServerContext
from attonix.server.db.loop_reads import LoopReads
from attonix.server.errors import Forbidden, Unauthorized


async def get_ctx(request: Request) -> ServerContext:
    """The server context of the running app (async: no I/O, so no worker-thread hop)."""
    ctx: ServerContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ServerContext, Depends(get_ctx)]


def loop_reads(request: Request) -> LoopReads | None:
    """The app's reads on the event loop, if it has them and runs on their loop."""
    reads: LoopReads | None = request.app.state.loop_reads
    if reads is not None and reads.loop is asyncio.get_running_loop():
        return reads
    return None


def client_ip(request: Request) -> str:
    """The caller's address: the connection's peer, which the proxy-headers middleware has
    replaced by the forwarded client only when the peer is a configured trusted proxy
    (``trusted_proxies``). No other header (X-Client-IP, True-Client-IP…) is ever read."""
    return (request.client.host if request.client else "")[:64]


def anonymous_actor(request: Request) -> Actor:
    """An actor for unauthenticated calls (sign-in), named later by the service."""
    return Actor(name="anonymous", source_ip=client_ip(request))


class Require(HTTPBearer):
    """Dependency that authenticates the caller and checks one permission.

    Environment-scoped permissions read the ``env`` path parameter. The app factory refuses
    to start if any API route lacks this dependency.

    It is the bearer security scheme itself (FastAPI's documented way to customise one), so
    OpenAPI declares the scheme on every route as before, and each request solves one
    dependency instead of this one and a separate ``HTTPBearer`` that built a credentials
    model (about a tenth of the framework's own work on the hottest read).
    """

    def __init__(
        self,
        permission: Permission,
        *,
        companion: Select[Any] | None = None,
        companion_params: Mapping[str, str] | None = None,
    ) -> None:
        """Remember which permission the route needs.

        ``companion`` is the route's own read of at most one row (bind name → path parameter
        in ``companion_params``). On PostgreSQL it runs in the same statement as the session
        check, and its columns are left in ``request.state.companion`` for the endpoint.
        """
        super().__init__(
            auto_error=False,
            scheme_name="HTTPBearer",
            description="An access token or an API token.",
        )
        self.permission = permission
        self._joined = sessions.with_companion(companion) if companion is not None else None
        self._companion_params = dict(companion_params or {})

    def __repr__(self) -> str:
        """Show the permission (it names the dependency in debugging output)."""
        return f"Require({self.permission.value})"

    async def __call__(  # type: ignore[override]
        self, request: Request
    ) -> Principal | None:
        """Resolve the principal and check the permission; raise 401/403 otherwise."""
        if self.permission is Permission.PUBLIC:
            return None
        scheme, token = get_authorization_scheme_param(request.headers.get("Authorization"))
        if not token or scheme.lower() != "bearer":
            raise Unauthorized("Sign in first: this endpoint needs a bearer token.")
        # Async: on PostgreSQL the read runs on the event loop; elsewhere (and for API
        # tokens) with one explicit hop to a thread. The permission check needs no thread.
        ctx: ServerContext = request.app.state.ctx
        reads = loop_reads(request)
        if reads is not None and not sessions.is_api_token(token):
            params = {k: request.path_params.get(v) for k, v in self._companion_params.items()}
            principal, companion = await sessions.authenticate_on_loop(
                ctx, reads, token, self._joined, params
            )
            if self._joined is not None:
                request.state.companion = companion
        else:
            principal = await in_thread(sessions.authenticate, ctx, token)
            request.state.companion = None
        request.state.principal = principal
        env = request.path_params.get("env")
        if not principal.can(self.permission, env):
            if principal.restricted == "password_change":
                raise Forbidden(
                    "Change your one-time password before doing anything else.",
                    hint="POST /api/v1/me/password",
                )
            if principal.restricted == "mfa_enrollment":
                raise Forbidden(
                    "Your role requires multi-factor authentication; enrol a device first.",
                    hint="POST /api/v1/me/mfa/enroll, then /api/v1/me/mfa/confirm.",
                )
            if principal.restricted == "mfa_reauthentication":
                raise Forbidden(
                    "Your role now requires multi-factor authentication, and this credential "
                    "was not established with it.",
                    hint="Sign in again with your code; create new API tokens after that.",
                )
            where = f" in environment {env!r}" if env else ""
            raise Forbidden(
                f"You lack the {self.permission.value!r} permission{where}.",
                hint=_who_may(self.permission, env),
            )
        return principal


def _who_may(permission: Permission, env: str | None) -> str:
    """Which roles grant ``permission``, for the 403's hint (the role table is public)."""
    roles = ", ".join(r for r, perms in ROLE_PERMISSIONS.items() if permission in perms)
    if env is not None and roles:
        return f"Roles that grant it: {roles}; ask an administrator to bind one to you in {env!r}."
    if permission is Permission.AUDIT_READ:
        return f"Roles that grant it (in any environment): {roles}."
    return "Only a global administrator holds it."


def actor_of(request: Request, principal: Principal) -> Actor:
    """The audit actor for an authenticated request."""
    return Actor(name=principal.name, source_ip=client_ip(request))
