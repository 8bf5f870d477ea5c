"""Password verifiers computed on the client, so no plaintext password is ever in SQL text
(where statement logging or ``pg_stat_activity`` would show it)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_ITERATIONS = 4096


def scram_sha_256(password: str, *, salt: bytes | None = None) -> str:
    """The PostgreSQL SCRAM-SHA-256 verifier of ``password`` (RFC 5802/7677, as libpq makes)."""
    salt = salt or secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, _ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = base64.b64encode
    return (
        f"SCRAM-SHA-256${_ITERATIONS}:{b64(salt).decode()}"
        f"${b64(stored_key).decode()}:{b64(server_key).decode()}"
    )


def mysql_native(password: str) -> str:
    """The ``mysql_native_password`` hash: ``*`` + upper hex SHA1(SHA1(password))."""
    inner = hashlib.sha1(password.encode("utf-8")).digest()  # noqa: S324 - the protocol's hash
    return "*" + hashlib.sha1(inner).hexdigest().upper()  # noqa: S324


def new_password() -> str:
    """A fresh random password (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)
