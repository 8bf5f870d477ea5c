"""Errors raised by the security primitives.

The tree below :class:`attonix.errors.Error`::

    SecurityError
    ├── InvalidToken   an access token is expired, forged, malformed or for someone else
    ├── VaultError     a sealed secret cannot be opened, or the key ring is misconfigured
    ├── PkiError       a certificate or key cannot be created or read
    └── ArchiveError   a backup archive cannot be opened

No message ever contains a secret value: keys, passwords, tokens and plaintexts stay out.
"""

from __future__ import annotations

from attonix.errors import Error


class SecurityError(Error):
    """Base of the errors raised by :mod:`attonix.server.security`."""


class InvalidToken(SecurityError):
    """An access token was refused; the message says why, never what the token was."""


class VaultError(SecurityError):
    """A sealed secret could not be opened, or the key-encryption keys are unusable."""


class PkiError(SecurityError):
    """A certificate or key could not be created or parsed."""


class ArchiveError(SecurityError):
    """A backup archive could not be opened: wrong file, passphrase, or damaged data."""
