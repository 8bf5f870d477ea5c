"""What can go wrong talking to the Central Server, as errors a user can act on.

::

    ClientError                 (an attonix.Error: the CLI prints it and exits 3)
    ├── Unreachable             no answer: refused, timed out, name unknown
    ├── TlsFailure              the server's certificate is not trusted or does not match
    ├── NotSignedIn             no context, or the context has no credentials
    ├── SessionExpired          401: the token expired or was revoked; sign in again
    ├── PermissionDenied        403: the caller lacks a role (the server names the ones that do)
    ├── Refused                 any other 4xx; ``diagnostics`` carries a rejected blueprint's
    └── ServerFailed            5xx, or an answer that is not what the API publishes

No message ever contains a token: they are built from the server's problem details and the
context's name and address only.
"""

from __future__ import annotations

from typing import Any

from attonix.errors import Error


class ClientError(Error):
    """Talking to the Central Server failed."""

    #: The HTTP status, when the server answered.
    status: int = 0


class Unreachable(ClientError):
    """The server did not answer."""


class TlsFailure(ClientError):
    """The TLS handshake failed: the certificate is not trusted or names another host."""


class NotSignedIn(ClientError):
    """There is no context to use, or it holds no credentials."""


class SessionExpired(ClientError):
    """The server refused the credentials (expired, revoked, or the account was reset)."""

    status = 401


class PermissionDenied(ClientError):
    """The caller is known but lacks the permission."""

    status = 403


class Refused(ClientError):
    """The server refused the request (400, 404, 409, 422, 429)."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        hint: str = "",
        diagnostics: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.diagnostics = diagnostics or []


class ServerFailed(ClientError):
    """The server failed (5xx) or answered something the API does not publish."""
