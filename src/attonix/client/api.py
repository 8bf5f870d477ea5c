"""A typed client of the Central Server's API (``/api/v1``), over httpx.

One :class:`Client` per context. Each call returns a model of :mod:`attonix.client.models`
or raises a :class:`~attonix.client.errors.ClientError` that says what happened and what to
do; a session whose access token expired is refreshed once (the rotated pair is handed to
``on_refresh`` to be saved) before the call is given up as ``SessionExpired``.

Tokens travel in the ``Authorization`` header only: they are never part of a URL, a
message, a trace line or a repr.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Iterator
from typing import Any, NoReturn, TypeVar

import httpx
from pydantic import TypeAdapter, ValidationError

from attonix import __version__
from attonix.client import models as m
from attonix.client.config import Credentials
from attonix.client.errors import (
    ClientError,
    PermissionDenied,
    Refused,
    ServerFailed,
    SessionExpired,
    TlsFailure,
    Unreachable,
)

API_PREFIX = "/api/v1"
T = TypeVar("T")
Trace = Callable[[str], None]


def _tls_cause(exc: BaseException) -> ssl.SSLError | None:
    """The ssl error behind a transport error, if the handshake is what failed."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        if isinstance(cur, ssl.SSLError):
            return cur
        seen.add(id(cur))
        cur = cur.__cause__ or cur.__context__
    return None


class Client:
    """The Central Server at ``server`` (``https://host:port``), with optional credentials."""

    def __init__(
        self,
        server: str,
        *,
        credentials: Credentials | None = None,
        ca_cert: str = "",
        on_refresh: Callable[[Credentials], None] | None = None,
        timeout: float = 30.0,
        trace: Trace | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self.credentials = credentials
        self._on_refresh = on_refresh
        self._trace = trace
        self._timeout = timeout
        verify: ssl.SSLContext | bool = True
        if ca_cert:
            try:
                verify = ssl.create_default_context(cafile=ca_cert)
            except (OSError, ssl.SSLError) as exc:
                raise ClientError(
                    f"cannot use {ca_cert} as the server's CA certificate: {exc.strerror or exc}",
                    hint="Pass the PEM file of the CA that signed the server's certificate.",
                ) from None
        self._http = httpx.Client(
            base_url=self.server + API_PREFIX,
            verify=verify,
            timeout=timeout,
            headers={"User-Agent": f"attonix-cli/{__version__}", "Accept": "application/json"},
            transport=transport,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transport

    def _headers(self) -> dict[str, str]:
        if self.credentials is None:
            return {}
        return {"Authorization": f"Bearer {self.credentials.access_token}"}

    def _send(self, method: str, path: str, *, stream: bool = False, **kw: Any) -> httpx.Response:
        """One request; transport failures become ``Unreachable`` or ``TlsFailure``."""
        started = time.monotonic()
        try:
            request = self._http.build_request(method, path, **kw)
            request.headers.update(self._headers())
            response = self._http.send(request, stream=stream)
        except httpx.TimeoutException:
            raise Unreachable(
                f"{self.server} did not answer within {self._timeout:g} s",
                hint="Check the address and that the Central Server is running.",
            ) from None
        except httpx.TransportError as exc:
            tls = _tls_cause(exc)
            if tls is not None:
                why = getattr(tls, "verify_message", "") or tls.reason or type(tls).__name__
                raise TlsFailure(
                    f"the TLS certificate of {self.server} is not trusted: {why}",
                    hint="Check the address; if the server uses a private CA, log in again "
                    "with --ca-cert CA.pem.",
                ) from None
            raise Unreachable(
                f"cannot reach the Central Server at {self.server} ({type(exc).__name__})",
                hint="Check the address and port, and that the server is running (attonix serve).",
            ) from None
        if self._trace is not None:
            ms = (time.monotonic() - started) * 1000
            self._trace(
                f"{method} {self.server}{API_PREFIX}{path} -> {response.status_code} ({ms:.0f} ms)"
            )
        return response

    def _request(
        self, method: str, path: str, *, sign_in: bool = False, **kw: Any
    ) -> httpx.Response:
        """A request, refreshing an expired session once; errors raised as ``ClientError``."""
        response = self._send(method, path, **kw)
        if response.status_code == 401 and not sign_in and self._refresh():
            response = self._send(method, path, **kw)
        if response.is_success:
            return response
        self._raise(response, sign_in=sign_in)

    def _refresh(self) -> bool:
        """Exchange the refresh token for a new pair; ``False`` if there is none or it failed."""
        creds = self.credentials
        if creds is None or creds.kind != "session" or not creds.refresh_token:
            return False
        saved, self.credentials = self.credentials, None
        response = self._send("POST", "/auth/refresh", json={"refresh_token": creds.refresh_token})
        if not response.is_success:
            self.credentials = saved
            return False
        tokens = self._parse(response, m.TokensOut)
        self.credentials = Credentials(
            kind="session", access_token=tokens.access_token, refresh_token=tokens.refresh_token
        )
        if self._on_refresh is not None:
            self._on_refresh(self.credentials)
        return True

    def _raise(self, response: httpx.Response, *, sign_in: bool) -> NoReturn:
        """Turn an error answer (RFC 9457 problem details) into the matching ``ClientError``."""
        try:
            response.read()
            body = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = {}
        if not isinstance(body, dict):
            body = {}
        status = response.status_code
        detail = str(body.get("detail") or body.get("title") or response.reason_phrase)
        hint = str(body.get("hint") or "")
        rid = str(body.get("request_id") or response.headers.get("x-request-id") or "")
        if status == 401 and not sign_in:
            if self.credentials is not None and self.credentials.kind == "api-token":
                advice = (
                    "The API token expired or was revoked: create a new one in the console "
                    f"and run attonix login {self.server} --token."
                )
            else:
                advice = f"Your session expired or was ended: run attonix login {self.server}."
            raise SessionExpired(
                f"the Central Server refused your credentials: {detail}", hint=advice
            )
        if status == 403:
            raise PermissionDenied(f"permission denied: {detail}", hint=hint)
        if status >= 500:
            where = f" (request id {rid})" if rid else ""
            raise ServerFailed(
                f"the Central Server failed: {status} {detail}{where}",
                hint=hint or "Retry; if it persists, give the request id to its operators.",
            )
        diagnostics = body.get("diagnostics") if isinstance(body.get("diagnostics"), list) else []
        errors = body.get("errors") if isinstance(body.get("errors"), list) else []
        if errors and not hint:
            hint = "; ".join(
                f"{'.'.join(str(p) for p in e.get('loc', []))}: {e.get('msg', '')}"
                for e in errors
                if isinstance(e, dict)
            )
        raise Refused(detail, status=status, hint=hint, diagnostics=diagnostics)

    @staticmethod
    def _parse(response: httpx.Response, shape: type[T]) -> T:
        try:
            return TypeAdapter(shape).validate_json(response.content)
        except ValidationError as exc:
            raise ServerFailed(
                f"the Central Server answered {response.request.url.path} with something this "
                f"CLI does not understand ({exc.error_count()} problem(s))",
                hint="Is the server a different version? Compare attonix --version on both.",
            ) from None

    def _get(self, path: str, shape: type[T], **kw: Any) -> T:
        return self._parse(self._request("GET", path, **kw), shape)

    def _post(self, path: str, shape: type[T], **kw: Any) -> T:
        return self._parse(self._request("POST", path, **kw), shape)

    # ------------------------------------------------------------------ sign-in

    def login(self, username: str, password: str) -> m.LoginOut:
        """The password step: tokens, or a second-factor challenge."""
        return self._post(
            "/auth/login",
            m.LoginOut,
            sign_in=True,
            json={"username": username, "password": password},
        )

    def login_mfa(self, mfa_token: str, code: str) -> m.TokensOut:
        """The second step: a TOTP (or recovery) code."""
        return self._post(
            "/auth/mfa", m.TokensOut, sign_in=True, json={"mfa_token": mfa_token, "code": code}
        )

    def logout(self) -> None:
        """End this session on the server (an API token stays valid until revoked)."""
        self._request("POST", "/auth/logout", sign_in=True)

    def me(self) -> m.MeOut:
        """Who the credentials belong to."""
        return self._get("/me", m.MeOut)

    # ------------------------------------------------------------------ blueprints

    def environments(self) -> list[m.EnvironmentOut]:
        """The environments the caller may see."""
        return self._get("/environments", list[m.EnvironmentOut])

    def environment(self, env: str) -> m.EnvironmentOut:
        """One environment."""
        return self._get(f"/environments/{_seg(env)}", m.EnvironmentOut)

    def upload(self, env: str, source: str, *, filename: str) -> m.ImportResult:
        """Store ``source`` as the next version (``Refused`` with diagnostics if invalid)."""
        return self._post(
            f"/environments/{_seg(env)}/blueprints",
            m.ImportResult,
            json={"source": source, "filename": filename},
        )

    def versions(self, env: str) -> list[m.VersionSummary]:
        """Stored versions, newest first (the server's first page: up to 100), their findings
        counted."""
        return self._get(f"/environments/{_seg(env)}/blueprints", list[m.VersionSummary])

    def version(self, env: str, version: int) -> m.VersionOut:
        """One version with its findings."""
        return self._get(f"/environments/{_seg(env)}/blueprints/{version}", m.VersionOut)

    def version_source(self, env: str, version: int) -> str:
        """The YAML of a stored version, as it was uploaded."""
        path = f"/environments/{_seg(env)}/blueprints/{version}"
        return self._get(path, m.VersionDetail).source

    def diff(self, env: str, from_version: int, to_version: int) -> m.DiffOut:
        """The unified diff between two stored versions."""
        return self._get(
            f"/environments/{_seg(env)}/diff",
            m.DiffOut,
            params={"from": from_version, "to": to_version},
        )

    # ------------------------------------------------------------------ deployments

    def deployments(self, env: str) -> list[m.DeploymentOut]:
        """Deployment history, newest first."""
        return self._get(f"/environments/{_seg(env)}/deployments", list[m.DeploymentOut])

    def deployment(self, env: str, deployment_id: int) -> m.DeploymentOut:
        """One deployment with its plan and findings."""
        return self._get(f"/environments/{_seg(env)}/deployments/{deployment_id}", m.DeploymentOut)

    def request_deployment(
        self, env: str, *, version: int, target: str, cluster: str | None = None
    ) -> m.DeploymentOut:
        """Ask for a deployment (of ``cluster``, else the only cluster of the kind); planning
        starts on the server."""
        body: dict[str, object] = {"version": version, "target": target}
        if cluster is not None:
            body["cluster"] = cluster
        return self._post(f"/environments/{_seg(env)}/deployments", m.DeploymentOut, json=body)

    def decide(self, env: str, deployment_id: int, *, approve: bool) -> m.DeploymentOut:
        """Approve (the apply starts) or reject a planned deployment."""
        return self._post(
            f"/environments/{_seg(env)}/deployments/{deployment_id}/decision",
            m.DeploymentOut,
            json={"approve": approve},
        )

    def cancel(self, env: str, deployment_id: int) -> m.DeploymentOut:
        """Cancel one's own deployment while it awaits approval."""
        return self._post(
            f"/environments/{_seg(env)}/deployments/{deployment_id}/cancel", m.DeploymentOut
        )

    def logs(self, env: str, deployment_id: int, *, after: int = 0) -> Iterator[m.LogEvent]:
        """The deployment's log lines as they come, until the server says it ended.

        A stream the server closes without its ``end`` event (it stops after minutes of
        silence) is resumed from the last line seen (``Last-Event-ID``)."""
        path = f"/environments/{_seg(env)}/deployments/{deployment_id}/logs"
        timeout = httpx.Timeout(self._timeout, read=None)
        while True:
            response = self._send(
                "GET",
                path,
                stream=True,
                headers={"Accept": "text/event-stream", "Last-Event-ID": str(after)},
                timeout=timeout,
            )
            if response.status_code == 401 and self._refresh():
                response.close()
                continue
            try:
                if not response.is_success:
                    self._raise(response, sign_in=False)
                for event, ident, data in _events(response.iter_lines()):
                    if event == "end":
                        return
                    if event == "log":
                        after = ident
                        payload = json.loads(data)
                        yield m.LogEvent(id=ident, at=payload["at"], line=payload["line"])
            except httpx.TransportError:
                raise Unreachable(
                    f"the connection to {self.server} broke while following the log",
                    hint="Run the same command again: it resumes where it stopped.",
                ) from None
            finally:
                response.close()

    # ------------------------------------------------------------------ audit

    def audit(
        self,
        *,
        limit: int = 100,
        newest_first: bool = True,
        action: str | None = None,
        actor: str | None = None,
        target: str | None = None,
        since: str | None = None,
    ) -> list[m.AuditEntryOut]:
        """Audit entries matching every filter given."""
        params: dict[str, Any] = {"limit": limit, "order": "desc" if newest_first else "asc"}
        for key, value in (
            ("action", action),
            ("actor", actor),
            ("target", target),
            ("since", since),
        ):
            if value:
                params[key] = value
        return self._get("/audit", list[m.AuditEntryOut], params=params)


def _seg(value: str) -> str:
    """A path segment, percent-encoded (names are checked by the server; this keeps a typo
    from turning into another path)."""
    from urllib.parse import quote  # noqa: PLC0415

    return quote(value, safe="")


def _events(lines: Iterator[str]) -> Iterator[tuple[str, int, str]]:
    """Server-sent events as (event, id, data)."""
    event, ident, data = "message", 0, ""
    for line in lines:
        if not line:
            if data or event != "message":
                yield event, ident, data
            event, data = "message", ""
            continue
        field_, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field_ == "event":
            event = value
        elif field_ == "id" and value.isdigit():
            ident = int(value)
        elif field_ == "data":
            data = f"{data}\n{value}" if data else value
