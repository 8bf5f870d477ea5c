"""Security primitives of the Central Server: passwords, tokens, MFA, vault, CA, backups.

Pure library code: no database, no web framework, no global mutable state. The server's
auth, vault and backup services are built on these functions.
"""

from __future__ import annotations

from attonix.server.security.envelope import KeyRing, Sealed
from attonix.server.security.errors import (
    ArchiveError,
    InvalidToken,
    PkiError,
    SecurityError,
    VaultError,
)
from attonix.server.security.passwords import (
    DUMMY_HASH,
    check_password_policy,
    generate_password,
    hash_password,
    needs_rehash,
    verify_dummy,
    verify_password,
)
from attonix.server.security.tokens import (
    AccessClaims,
    TokenSigner,
    hash_token,
    new_opaque_token,
    tokens_equal,
)

__all__ = [
    "DUMMY_HASH",
    "AccessClaims",
    "ArchiveError",
    "InvalidToken",
    "KeyRing",
    "PkiError",
    "Sealed",
    "SecurityError",
    "TokenSigner",
    "VaultError",
    "check_password_policy",
    "generate_password",
    "hash_password",
    "hash_token",
    "needs_rehash",
    "new_opaque_token",
    "tokens_equal",
    "verify_dummy",
    "verify_password",
]
