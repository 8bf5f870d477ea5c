"""TOTP second factor (RFC 6238: SHA-1, 6 digits, 30 s) and one-time recovery codes.

SHA-1 / 6 digits / 30 s is what every authenticator app implements; HMAC-SHA-1 is not weakened
by SHA-1's collision attacks. Codes come from ``cryptography``'s TOTP, so no extra dependency.

The QR code is drawn by ``segno``: pure Python, no dependencies of its own (no Pillow), and it
writes SVG directly, which the console can inline without serving an image.

Recovery codes carry 60 bits (12 symbols of Crockford base32) and are stored as argon2id
hashes with the password parameters: a database leak must not let anyone skip the second factor.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import io
import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

import segno
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from attonix.server.security.passwords import hash_password, verify_password

SECRET_BYTES = 20  # 160 bits, RFC 4226's recommended length
DIGITS = 6
PERIOD_SECONDS = 30
_CODE_RE = re.compile(r"[0-9]{6}")
# Crockford's base32: no i, l, o or u, so codes survive being read aloud or hand-copied.
_RECOVERY_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_RECOVERY_GROUPS = 3
_RECOVERY_GROUP_LEN = 4
_RECOVERY_LOOKALIKES = str.maketrans({"o": "0", "i": "1", "l": "1", "-": None, " ": None})


def new_totp_secret() -> str:
    """Return a new 160-bit TOTP secret, base32 without padding (what authenticator apps take)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")


def _secret_bytes(secret: str) -> bytes:
    """Decode a base32 secret, tolerating lower case, spaces and missing padding."""
    text = secret.replace(" ", "").upper()
    try:
        return base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        raise ValueError("a TOTP secret is base32 text") from None


def _totp(secret: str) -> TOTP:
    """The RFC 6238 generator for a secret."""
    # HMAC-SHA-1 is what authenticator apps compute; collisions do not weaken HMAC.
    return TOTP(_secret_bytes(secret), DIGITS, SHA1(), PERIOD_SECONDS)  # noqa: S303


def _timestamp(now: datetime | None) -> float:
    """Seconds since the epoch for ``now`` (timezone-aware) or the current time."""
    if now is None:
        return datetime.now(UTC).timestamp()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.timestamp()


def provisioning_uri(secret: str, *, account: str, issuer: str = "Attonix") -> str:
    """Return the ``otpauth://`` URI an authenticator app enrols from (shown as a QR code)."""
    label = quote(f"{issuer}:{account}", safe=":@")
    query = urlencode(
        {
            "secret": secret,
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": PERIOD_SECONDS,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"


def totp_now(secret: str, *, now: datetime | None = None) -> str:
    """Return the code an authenticator shows at ``now`` (for tests and end-to-end runs)."""
    return _totp(secret).generate(int(_timestamp(now))).decode("ascii")


def verify_totp(
    secret: str,
    code: str,
    *,
    last_used_step: int | None,
    now: datetime | None = None,
    window: int = 1,
) -> int | None:
    """Return the time step ``code`` belongs to, or None; steps up to ``last_used_step`` are spent.

    ``window`` steps either side of now are accepted for clock drift. The caller stores the
    returned step as the new ``last_used_step``, so a code cannot be replayed.
    """
    if window < 0:
        raise ValueError("window must not be negative")
    candidate = code.replace(" ", "") if isinstance(code, str) else ""
    if not _CODE_RE.fullmatch(candidate):
        return None
    generator = _totp(secret)
    current = int(_timestamp(now)) // PERIOD_SECONDS
    matched: int | None = None
    # Every step in the window is computed and compared, so timing does not tell which matched.
    for step in range(current - window, current + window + 1):
        expected = generator.generate(step * PERIOD_SECONDS)
        fresh = last_used_step is None or step > last_used_step
        if hmac.compare_digest(expected, candidate.encode("ascii")) and fresh and matched is None:
            matched = step
    return matched


def qr_svg(uri: str) -> str:
    """Return a standalone SVG document of ``uri`` as a QR code, for the enrolment page."""
    buffer = io.BytesIO()
    segno.make(uri, error="m", micro=False).save(
        buffer,
        kind="svg",
        scale=4,
        border=4,
        xmldecl=False,
        svgns=True,
        title="Authenticator enrolment code",
    )
    return buffer.getvalue().decode("utf-8")


def new_recovery_codes(count: int = 10) -> list[str]:
    """Return ``count`` distinct one-time recovery codes shaped ``xxxx-xxxx-xxxx``."""
    if count < 1:
        raise ValueError("count must be positive")
    codes: list[str] = []
    while len(codes) < count:
        raw = "".join(
            secrets.choice(_RECOVERY_ALPHABET)
            for _ in range(_RECOVERY_GROUPS * _RECOVERY_GROUP_LEN)
        )
        code = "-".join(
            raw[i : i + _RECOVERY_GROUP_LEN] for i in range(0, len(raw), _RECOVERY_GROUP_LEN)
        )
        if code not in codes:
            codes.append(code)
    return codes


def _normalise_recovery_code(code: str) -> str | None:
    """Lower-case, drop dashes and spaces, map look-alikes; None if it cannot be a code."""
    text = code.strip().lower().translate(_RECOVERY_LOOKALIKES)
    if len(text) != _RECOVERY_GROUPS * _RECOVERY_GROUP_LEN:
        return None
    if any(c not in _RECOVERY_ALPHABET for c in text):
        return None
    return text


def hash_recovery_code(code: str) -> str:
    """Return the argon2id hash of a recovery code's normalised form, for storage."""
    normalised = _normalise_recovery_code(code)
    if normalised is None:
        raise ValueError("not a recovery code")
    return hash_password(normalised)


def verify_recovery_code(code: str, hashes: Sequence[str]) -> int | None:
    """Return the index of the hash ``code`` matches, or None; the caller then deletes that hash."""
    normalised = _normalise_recovery_code(code) if isinstance(code, str) else None
    if normalised is None:
        return None
    for index, stored in enumerate(hashes):
        if verify_password(stored, normalised):
            return index
    return None
