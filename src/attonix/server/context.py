"""What every service function needs, built once from the settings and passed down."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import timedelta

from attonix.server.db.engine import Database, make_database
from attonix.server.security.envelope import KeyRing
from attonix.server.security.tokens import TokenSigner
from attonix.server.settings import Settings, write_private


@dataclass
class ServerContext:
    """Settings, database, token signer and vault keys of one server process."""

    settings: Settings
    db: Database
    signer: TokenSigner
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
            write_private(path, KeyRing.generate_line())
        return KeyRing.from_settings(kek=None, kek_file=str(path))


def build_context(settings: Settings, *, db: Database | None = None) -> ServerContext:
    """Create the database engine and token signer for ``settings``."""
    database = db or make_database(
        settings.effective_database_url(),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )
    signer = TokenSigner(
        settings.resolve_signing_key().encode(),
        issuer=settings.issuer,
        audience=settings.audience,
        access_ttl=timedelta(seconds=settings.access_ttl_seconds),
        previous_keys=[k.get_secret_value().encode() for k in settings.previous_signing_keys],
    )
    return ServerContext(settings=settings, db=database, signer=signer)
