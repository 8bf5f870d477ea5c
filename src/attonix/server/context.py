"""What every service function needs, built once from the settings and passed down."""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from attonix.server import audit
from attonix.server.db.engine import Database, make_database
from attonix.server.security.envelope import KeyRing
from attonix.server.security.tokens import AccessClaims, TokenSigner, hash_token
from attonix.server.settings import Settings, create_key_once


class VerifiedTokens:
    """Access tokens whose signature this process has already checked, by SHA-256 digest.

    Verifying an HS256 token costs more than the whole database read that follows it, and a
    client sends the same token until it expires. A token's bytes never change, so a checked
    signature stays checked; what can change — the session being revoked, the user disabled,
    a role removed — is read from the database on every request regardless. Entries are used
    only before their ``exp``; the map is bounded, oldest out first. Digests, not tokens,
    are kept, so the map holds nothing a caller could present.
    """

    def __init__(self, limit: int = 10_000) -> None:
        """An empty map holding at most ``limit`` tokens."""
        self._limit = limit
        self._claims: dict[str, AccessClaims] = {}
        self._lock = threading.Lock()

    def verify(self, signer: TokenSigner, token: str) -> AccessClaims:
        """The claims of ``token``: remembered if still unexpired, else checked by ``signer``."""
        digest = hash_token(token)
        claims = self._claims.get(digest)
        if claims is not None and datetime.now(UTC) < claims.expires_at:
            return claims
        claims = signer.verify_access(token)  # raises InvalidToken
        with self._lock:
            while len(self._claims) >= self._limit:
                del self._claims[next(iter(self._claims))]
            self._claims[digest] = claims
        return claims


@dataclass
class ServerContext:
    """Settings, database, token signer and vault keys of one server process."""

    settings: Settings
    db: Database
    signer: TokenSigner
    verified_tokens: VerifiedTokens = field(default_factory=VerifiedTokens, repr=False)
    #: The OpenID Connect provider's cached discovery document and keys (auth.oidc).
    oidc_provider: object = field(default=None, repr=False)
    _keyring: KeyRing | None = field(default=None, repr=False)

    @functools.cached_property
    def keyring(self) -> KeyRing:
        """The vault's key-encryption keys (from the settings, or a key file created once)."""
        if self._keyring is not None:
            return self._keyring
        s = self.settings
        if s.kek is not None:
            return KeyRing.from_settings(kek=s.kek.get_secret_value(), kek_file=None)
        path = s.kek_path()
        if not path.exists():
            create_key_once(path, KeyRing.generate_line())
        return KeyRing.from_settings(kek=None, kek_file=str(path))


def build_context(settings: Settings, *, db: Database | None = None) -> ServerContext:
    """Create the database engine and token signer for ``settings``."""
    database = db or make_database(
        settings.effective_database_url(),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    # Every session of this database carries the audit key (audit.record and audit.verify
    # read it there); it never goes into the database.
    # Resolved on first use, so building an app to print its OpenAPI document creates no key.
    database.sessions.configure(info={audit.KEY_INFO: functools.cache(settings.resolve_audit_key)})
    signer = TokenSigner(
        settings.resolve_signing_key().encode(),
        issuer=settings.issuer,
        audience=settings.audience,
        access_ttl=timedelta(seconds=settings.access_ttl_seconds),
        previous_keys=[k.get_secret_value().encode() for k in settings.previous_signing_keys],
    )
    return ServerContext(settings=settings, db=database, signer=signer)
