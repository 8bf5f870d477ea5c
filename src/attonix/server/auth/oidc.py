"""Single sign-on with an OpenID Connect provider: Authorization Code flow with PKCE (S256).

The Central Server is the OIDC client. ``begin`` reads the issuer's discovery document and
returns the provider's authorization URL and an opaque ``state``; the console sends the
browser there, and posts the ``code`` and ``state`` it gets back to ``complete``, which
exchanges the code (with the PKCE verifier) at the token endpoint, validates the ID token
(signature with the issuer's JWKS, issuer, audience, ``azp``, expiry, nonce) and signs the
matching local account in — with the same session, audit and second-factor rules as a
password sign-in.

No server-side storage is needed between the two calls: the ``state`` carries the PKCE
verifier, the nonce and an expiry, sealed (AES-256-GCM) with the vault's keys, so it is
opaque to the browser and cannot be forged. The browser-side check that the ``state`` coming
back is the one it sent (login CSRF) is the console's. Codes, tokens and verifiers are never
logged nor returned.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

import jwt
from sqlalchemy import select

from attonix.server import audit
from attonix.server.audit import Actor
from attonix.server.auth import sessions, throttle
from attonix.server.context import ServerContext
from attonix.server.db.models import MfaChallenge, User, utcnow
from attonix.server.errors import BadRequest, Unauthorized
from attonix.server.security.envelope import Sealed
from attonix.server.security.errors import VaultError
from attonix.server.security.tokens import new_opaque_token

_STATE_AAD = b"oidc-state"
#: Signature algorithms accepted for ID tokens: asymmetric only (a shared-secret HS256 token
#: could be minted by anyone who knows the client secret).
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA")
#: ``amr`` values that mean the provider checked a second factor.
MFA_AMR = frozenset({"mfa", "otp", "hwk", "swk", "sms", "fido", "face", "fpt"})
_TIMEOUT = 10.0
_DISCOVERY_TTL = 3600.0
_JWKS_MIN_REFRESH = 30.0


class OidcError(Unauthorized):
    """The sign-in with the identity provider failed (a 401 for the caller)."""


@dataclass(frozen=True)
class Start:
    """Where to send the browser, and the state to post back with the code."""

    authorization_url: str
    state: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _allowed_url(url: str) -> bool:
    """HTTPS, or plain HTTP on loopback only (a provider on the same machine, or a test)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")


class _Provider:
    """The issuer's discovery document and keys, fetched on first use and cached."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer.rstrip("/")
        self._lock = threading.Lock()
        self._doc: dict[str, Any] | None = None
        self._doc_at = 0.0
        self._keys: dict[str, Any] = {}
        self._keys_at = 0.0

    def _get_json(self, url: str, *, what: str) -> dict[str, Any]:
        if not _allowed_url(url):
            raise OidcError(f"The identity provider's {what} URL is not HTTPS: {url}")
        req = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
        try:
            with urllib.request.urlopen(req, timeout=_TIMEOUT) as resp:  # noqa: S310 - checked
                doc = json.loads(resp.read(1_000_000))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise OidcError(
                f"The identity provider's {what} could not be read ({type(exc).__name__}).",
                hint="Check ATTONIX_OIDC_ISSUER and that the provider is reachable.",
            ) from None
        if not isinstance(doc, dict):
            raise OidcError(f"The identity provider's {what} is not a JSON object.")
        return doc

    def discovery(self) -> dict[str, Any]:
        """The discovery document (``/.well-known/openid-configuration``), checked."""
        with self._lock:
            if self._doc is not None and time.monotonic() - self._doc_at < _DISCOVERY_TTL:
                return self._doc
        doc = self._get_json(
            f"{self.issuer}/.well-known/openid-configuration", what="discovery document"
        )
        if str(doc.get("issuer", "")).rstrip("/") != self.issuer:
            # OIDC Discovery §4.3: the document must name the issuer it was fetched from.
            raise OidcError("The identity provider's discovery document names another issuer.")
        for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(doc.get(field), str) or not _allowed_url(doc[field]):
                raise OidcError(f"The identity provider's {field} is missing or not HTTPS.")
        methods = doc.get("code_challenge_methods_supported")
        if isinstance(methods, list) and "S256" not in methods:
            raise OidcError("The identity provider does not support PKCE with S256.")
        with self._lock:
            self._doc, self._doc_at = doc, time.monotonic()
        return doc

    def key(self, kid: str | None) -> Any:
        """The issuer's public key ``kid``, refetching the JWKS once if it is unknown."""
        with self._lock:
            known = self._keys.get(kid or "")
            fresh = time.monotonic() - self._keys_at < _JWKS_MIN_REFRESH
        if known is not None:
            return known
        if not fresh or not self._keys:
            jwks = self._get_json(self.discovery()["jwks_uri"], what="key set")
            try:
                keyset = jwt.PyJWKSet.from_dict(jwks)
            except jwt.PyJWTError:
                raise OidcError("The identity provider's key set is not valid.") from None
            keys = {k.key_id or "": k.key for k in keyset.keys}
            with self._lock:
                self._keys, self._keys_at = keys, time.monotonic()
            known = keys.get(kid or "")
            if known is None and kid is None and len(keys) == 1:
                known = next(iter(keys.values()))
        if known is None:
            raise OidcError(
                "The ID token was signed with a key the identity provider does not list."
            )
        return known


_providers_lock = threading.Lock()


def _provider(ctx: ServerContext) -> _Provider:
    issuer = ctx.settings.oidc_issuer
    if not issuer or not ctx.settings.oidc_client_id:
        raise BadRequest(
            "Single sign-on is not configured on this server.",
            hint="Set ATTONIX_OIDC_ISSUER, ATTONIX_OIDC_CLIENT_ID and ATTONIX_OIDC_REDIRECT_URI.",
        )
    if not _allowed_url(issuer):
        raise BadRequest("ATTONIX_OIDC_ISSUER must be an https:// URL.")
    with _providers_lock:
        # One cache per server context (settings are fixed for its lifetime).
        if not isinstance(ctx.oidc_provider, _Provider):
            ctx.oidc_provider = _Provider(issuer)
        return ctx.oidc_provider


def begin(ctx: ServerContext) -> Start:
    """Start a sign-in: the provider's authorization URL (with PKCE S256) and a sealed state."""
    s = ctx.settings
    doc = _provider(ctx).discovery()
    verifier = _b64(secrets.token_bytes(32))
    nonce = _b64(secrets.token_bytes(16))
    payload = {"v": verifier, "n": nonce, "exp": int(time.time()) + s.oidc_state_seconds}
    state = _b64(ctx.keyring.seal(json.dumps(payload).encode(), aad=_STATE_AAD).to_bytes())
    query = {
        "response_type": "code",
        "client_id": s.oidc_client_id,
        "redirect_uri": s.oidc_redirect_uri,
        "scope": s.oidc_scopes,
        "state": state,
        "nonce": nonce,
        "code_challenge": _b64(hashlib.sha256(verifier.encode("ascii")).digest()),
        "code_challenge_method": "S256",
    }
    endpoint = doc["authorization_endpoint"]
    sep = "&" if urllib.parse.urlsplit(endpoint).query else "?"
    return Start(authorization_url=f"{endpoint}{sep}{urllib.parse.urlencode(query)}", state=state)


def _open_state(ctx: ServerContext, state: str) -> dict[str, Any]:
    try:
        plain = ctx.keyring.open(Sealed.from_bytes(_unb64(state)), aad=_STATE_AAD)
        data: dict[str, Any] = json.loads(plain)
    except (VaultError, ValueError, TypeError):
        raise OidcError("The sign-in state is not valid; start the sign-in again.") from None
    if not isinstance(data, dict) or int(data.get("exp", 0)) < time.time():
        raise OidcError("The sign-in took too long; start it again.")
    return data


def _exchange(ctx: ServerContext, doc: dict[str, Any], *, code: str, verifier: str) -> str:
    """POST the code and the PKCE verifier to the token endpoint; return the ID token."""
    s = ctx.settings
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": s.oidc_redirect_uri,
        "code_verifier": verifier,
        "client_id": s.oidc_client_id,
    }
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    if s.oidc_client_secret is not None:
        # client_secret_basic: the default method every provider supports (RFC 6749 §2.3.1).
        pair = (
            f"{urllib.parse.quote(s.oidc_client_id, safe='')}:"
            f"{urllib.parse.quote(s.oidc_client_secret.get_secret_value(), safe='')}"
        )
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    # The endpoint was checked to be HTTPS (or loopback) when the discovery document was read.
    req = urllib.request.Request(  # noqa: S310
        doc["token_endpoint"], data=urllib.parse.urlencode(form).encode(), headers=headers
    )
    try:
        with urllib.request.urlopen(req, timeout=_TIMEOUT) as resp:  # noqa: S310 - checked
            body = json.loads(resp.read(1_000_000))
    except urllib.error.HTTPError as exc:
        # The provider's error code (e.g. invalid_grant) helps; its description may quote
        # what was sent, so it is left out.
        try:
            reason = str(json.loads(exc.read(10_000)).get("error", ""))[:64]
        except (ValueError, AttributeError, OSError):
            reason = ""
        raise OidcError(
            f"The identity provider refused the sign-in code (HTTP {exc.code}"
            f"{', ' + reason if reason else ''}).",
            hint="Start the sign-in again.",
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise OidcError(
            f"The identity provider's token endpoint could not be reached ({type(exc).__name__})."
        ) from None
    id_token = body.get("id_token") if isinstance(body, dict) else None
    if not isinstance(id_token, str):
        raise OidcError("The identity provider answered without an ID token.")
    return id_token


def validate_id_token(ctx: ServerContext, id_token: str, *, nonce: str) -> dict[str, Any]:
    """The claims of an ID token whose signature, issuer, audience, times and nonce are right."""
    s = ctx.settings
    provider = _provider(ctx)
    doc = provider.discovery()
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError:
        raise OidcError("The ID token is malformed.") from None
    offered = doc.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = [a for a in ALGORITHMS if a in offered]
    if header.get("alg") not in algorithms:
        raise OidcError("The ID token is signed with an algorithm this server does not accept.")
    key = provider.key(header.get("kid"))
    try:
        claims: dict[str, Any] = jwt.decode(
            id_token,
            key,
            algorithms=algorithms,
            audience=s.oidc_client_id,
            issuer=doc["issuer"],
            leeway=30,
            options={"require": ["iss", "sub", "aud", "exp", "iat"]},
        )
    except jwt.ExpiredSignatureError:
        raise OidcError("The ID token has expired; start the sign-in again.") from None
    except jwt.InvalidAudienceError:
        raise OidcError("The ID token was issued for another client.") from None
    except jwt.InvalidIssuerError:
        raise OidcError("The ID token was issued by another issuer.") from None
    except jwt.InvalidSignatureError:
        raise OidcError("The ID token's signature is invalid.") from None
    except jwt.PyJWTError:
        raise OidcError("The ID token is not valid.") from None
    aud = claims["aud"]
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != s.oidc_client_id:
        raise OidcError("The ID token names several audiences but not this client as azp.")
    if not isinstance(claims.get("nonce"), str) or not secrets.compare_digest(
        claims["nonce"], nonce
    ):
        # A token minted for another sign-in (replayed or injected).
        raise OidcError("The ID token does not belong to this sign-in (nonce mismatch).")
    return claims


def complete(
    ctx: ServerContext, *, code: str, state: str, actor: Actor, user_agent: str = ""
) -> sessions.TokenPair | sessions.MfaPending:
    """Finish a sign-in: exchange the code, validate the ID token, sign the local user in."""
    throttle.check_ip(ctx.db, ctx.settings, actor.source_ip or "unknown")
    try:
        data = _open_state(ctx, state)
        doc = _provider(ctx).discovery()
        claims = validate_id_token(
            ctx, _exchange(ctx, doc, code=code, verifier=str(data["v"])), nonce=str(data["n"])
        )
    except OidcError as exc:
        with ctx.db.session() as s:
            audit.record(
                s,
                Actor(name="anonymous", source_ip=actor.source_ip),
                "auth.login",
                outcome="failure",
                detail={"method": "oidc", "reason": exc.message[:200]},
            )
        raise
    username = claims.get(ctx.settings.oidc_username_claim)
    provider_mfa = bool(MFA_AMR.intersection(claims.get("amr") or []))
    error: OidcError | None = None
    result: sessions.TokenPair | sessions.MfaPending | None = None
    with ctx.db.session() as s:
        who = Actor(name=str(username or claims["sub"])[:64], source_ip=actor.source_ip)
        user = (
            s.execute(select(User).where(User.name == username)).scalar_one_or_none()
            if isinstance(username, str)
            else None
        )
        if user is None or user.disabled:
            # Accounts come from the blueprint's identity section; SSO does not create them.
            audit.record(
                s,
                who,
                "auth.login",
                outcome="failure",
                detail={"method": "oidc", "reason": "unknown"},
            )
            error = OidcError(
                "No active Attonix account matches this identity.",
                hint="Ask an administrator to add you to the blueprint's users.",
            )
        elif user.mfa_enabled and not provider_mfa:
            # The provider did not check a second factor: ours follows, as after a password.
            token, digest = new_opaque_token(sessions.MFA_PREFIX)
            s.add(
                MfaChallenge(
                    token_hash=digest,
                    user_id=user.id,
                    expires_at=utcnow() + dt.timedelta(seconds=ctx.settings.mfa_challenge_seconds),
                )
            )
            audit.record(s, who, "auth.password_ok", detail={"method": "oidc", "mfa": True})
            result = sessions.MfaPending(mfa_token=token)
        else:
            result = sessions.start_session(
                ctx, s, user, who, user_agent=user_agent, second_factor=provider_mfa
            )
            audit.record(
                s,
                who,
                "auth.login",
                detail={"session": result.session_id, "method": "oidc", "mfa": provider_mfa},
            )
    if error is not None:
        raise error
    assert result is not None
    return result
