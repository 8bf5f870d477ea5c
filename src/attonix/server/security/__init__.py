"""Security primitives of the Central Server: passwords, tokens, MFA, vault, CA, backups.

Pure library code: no database, no web framework, no global mutable state. The server's
auth, vault and backup services are built on these functions.
"""

from __future__ import annotations

from attonix.server.security.archive import open_archive, seal_archive
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
from attonix.server.security.pki import (
    CertificateInfo,
    KeyPair,
    certificate_info,
    create_ca,
    issue_certificate,
    needs_renewal,
)
from attonix.server.security.tokens import (
    AccessClaims,
    TokenSigner,
    hash_token,
    new_opaque_token,
    tokens_equal,
)
from attonix.server.security.totp import (
    hash_recovery_code,
    new_recovery_codes,
    new_totp_secret,
    provisioning_uri,
    qr_svg,
    totp_now,
    verify_recovery_code,
    verify_totp,
)

__all__ = [
    "DUMMY_HASH",
    "AccessClaims",
    "ArchiveError",
    "CertificateInfo",
    "InvalidToken",
    "KeyPair",
    "KeyRing",
    "PkiError",
    "Sealed",
    "SecurityError",
    "TokenSigner",
    "VaultError",
    "certificate_info",
    "check_password_policy",
    "create_ca",
    "generate_password",
    "hash_password",
    "hash_recovery_code",
    "hash_token",
    "issue_certificate",
    "needs_rehash",
    "needs_renewal",
    "new_opaque_token",
    "new_recovery_codes",
    "new_totp_secret",
    "open_archive",
    "provisioning_uri",
    "qr_svg",
    "seal_archive",
    "tokens_equal",
    "totp_now",
    "verify_dummy",
    "verify_password",
    "verify_recovery_code",
    "verify_totp",
]
