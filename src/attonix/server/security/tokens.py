"""Access tokens (HS256 JWTs) and opaque tokens (refresh and API tokens, stored hashed).

Access tokens are short-lived and verified without a database round trip. Only HS256 is
accepted, by an explicit allow-list checked before any signature work, so ``alg: none`` and
algorithm-confusion tokens are refused outright. Each token names its key in the ``kid``
header, which is how a signing-key rotation keeps earlier tokens valid until they expire.

Opaque tokens are random strings with a readable prefix (``atx_rt_…``); the server keeps
only their SHA-256 digest, so a database leak does not hand out usable tokens. SHA-256
without salt is enough here because the tokens carry 256 bits of randomness.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from attonix.server.security.errors import InvalidToken

ALGORITHM = "HS256"
TOKEN_TYPE = "at+jwt"  # noqa: S105  RFC 9068: keeps other JWTs signed with the same key from passing
MIN_KEY_BYTES = 32
_REQUIRED_CLAIMS = ("iss", "aud", "sub", "sid", "jti", "exp", "iat", "nbf")
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")


@dataclass(frozen=True)
class AccessClaims:
    """What a verified access token says: who, in which session, allowed what, until when."""

    subject: str
    session_id: str
    scopes: tuple[str, ...]
    jti: str
    expires_at: datetime
    issued_at: datetime


def key_id(key: bytes) -> str:
    """Return the public identifier of a signing key (a truncated hash; reveals nothing usable)."""
    digest = hashlib.sha256(b"attonix-token-kid\x00" + key).digest()
    return base64.urlsafe_b64encode(digest[:9]).decode("ascii")


def _now(now: datetime | None) -> datetime:
    """Return ``now`` (which must be timezone-aware) or the current UTC time."""
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


class TokenSigner:
    """Issues and verifies access tokens with one active key and any number of previous keys."""

    def __init__(
        self,
        key: bytes,
        *,
        issuer: str,
        audience: str,
        access_ttl: timedelta,
        previous_keys: Sequence[bytes] = (),
        clock_skew: timedelta = timedelta(seconds=30),
    ) -> None:
        """Keep the keys; refuse keys shorter than 32 bytes (HS256 needs a full-strength key)."""
        for candidate in (key, *previous_keys):
            if len(candidate) < MIN_KEY_BYTES:
                raise InvalidToken(
                    f"A token signing key must be at least {MIN_KEY_BYTES} bytes long.",
                    hint="Generate 32 random bytes, e.g. with `openssl rand -base64 32`.",
                )
        if access_ttl <= timedelta(0):
            raise ValueError("access_ttl must be positive")
        self._key = key
        self._kid = key_id(key)
        self._keys = {key_id(k): k for k in previous_keys}
        self._keys[self._kid] = key
        self.issuer = issuer
        self.audience = audience
        self.access_ttl = access_ttl
        self.clock_skew = clock_skew

    def __repr__(self) -> str:
        """Show the issuer, audience and key ids only."""
        return (
            f"TokenSigner(issuer={self.issuer!r}, audience={self.audience!r}, "
            f"active_kid={self._kid!r}, kids={sorted(self._keys)!r})"
        )

    @property
    def active_kid(self) -> str:
        """The ``kid`` of the key new tokens are signed with."""
        return self._kid

    def issue_access(
        self,
        subject: str,
        *,
        session_id: str,
        scopes: list[str] | None = None,
        now: datetime | None = None,
    ) -> str:
        """Return a signed access token for ``subject`` in ``session_id``, valid ``access_ttl``."""
        issued = _now(now)
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "sid": session_id,
            "jti": secrets.token_urlsafe(16),
            "iat": int(issued.timestamp()),
            "nbf": int(issued.timestamp()),
            "exp": int((issued + self.access_ttl).timestamp()),
            "scope": " ".join(scopes or []),
        }
        return jwt.encode(
            payload,
            self._key,
            algorithm=ALGORITHM,
            headers={"kid": self._kid, "typ": TOKEN_TYPE},
        )

    def verify_access(self, token: str, *, now: datetime | None = None) -> AccessClaims:
        """Check an access token's algorithm, key, signature, issuer, audience and times."""
        if not isinstance(token, str) or token.count(".") != 2:
            raise InvalidToken("The access token is malformed.", hint="Sign in again.")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("The access token is malformed.", hint="Sign in again.") from None
        if header.get("alg") != ALGORITHM:
            raise InvalidToken(
                "The access token uses an algorithm this server does not accept.",
                hint="Only HS256 tokens issued by this server are valid.",
            )
        if header.get("typ") != TOKEN_TYPE:
            raise InvalidToken("The token is not an access token.", hint="Sign in again.")
        kid = header.get("kid")
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise InvalidToken(
                "The access token was signed with a key this server does not know.",
                hint="Sign in again; the signing key may have been rotated out.",
            )
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                # Times are checked below against the injectable clock.
                options={
                    "require": list(_REQUIRED_CLAIMS),
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise InvalidToken(
                "The access token's signature is invalid.", hint="Sign in again."
            ) from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(
                f"The access token lacks the {exc.claim!r} claim.", hint="Sign in again."
            ) from None
        except jwt.InvalidAudienceError:
            raise InvalidToken(
                "The access token was issued for another audience.", hint="Sign in again."
            ) from None
        except jwt.InvalidIssuerError:
            raise InvalidToken(
                "The access token was issued by another issuer.", hint="Sign in again."
            ) from None
        except jwt.PyJWTError:
            raise InvalidToken("The access token is malformed.", hint="Sign in again.") from None
        return self._claims(claims, now=_now(now))

    def _claims(self, claims: dict[str, Any], *, now: datetime) -> AccessClaims:
        """Type-check the claims and apply the time window."""
        for name in ("sub", "sid", "jti"):
            if not isinstance(claims[name], str) or not claims[name]:
                raise InvalidToken(f"The access token's {name!r} claim is malformed.")
        for name in ("exp", "iat", "nbf"):
            # bool is an int subclass; a JSON true is not a time.
            if not isinstance(claims[name], int) or isinstance(claims[name], bool):
                raise InvalidToken(f"The access token's {name!r} claim is malformed.")
        scope = claims.get("scope", "")
        if not isinstance(scope, str):
            raise InvalidToken("The access token's 'scope' claim is malformed.")
        try:
            expires_at = datetime.fromtimestamp(claims["exp"], UTC)
            issued_at = datetime.fromtimestamp(claims["iat"], UTC)
            not_before = datetime.fromtimestamp(claims["nbf"], UTC)
        except (OverflowError, OSError, ValueError):
            raise InvalidToken("The access token's times are out of range.") from None
        if now >= expires_at + self.clock_skew:
            raise InvalidToken("The access token has expired.", hint="Refresh it or sign in again.")
        if now + self.clock_skew < not_before or now + self.clock_skew < issued_at:
            raise InvalidToken(
                "The access token is not valid yet.",
                hint="Check that this server's clock is synchronised.",
            )
        return AccessClaims(
            subject=claims["sub"],
            session_id=claims["sid"],
            scopes=tuple(scope.split()),
            jti=claims["jti"],
            expires_at=expires_at,
            issued_at=issued_at,
        )


def new_opaque_token(prefix: str) -> tuple[str, str]:
    """Return ``(token, digest)``: the token to show once, and the SHA-256 hex digest to store."""
    if not _PREFIX_RE.fullmatch(prefix):
        raise ValueError("a token prefix is lower-case letters and digits joined by '_'")
    token = f"{prefix}_{secrets.token_urlsafe(32)}"
    return token, hash_token(token)


def hash_token(token: str) -> str:
    """Return the SHA-256 hex digest under which an opaque token is stored and looked up."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def tokens_equal(a: str, b: str) -> bool:
    """Compare two tokens or digests in constant time."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
