"""Access tokens (JWT HS256) and opaque tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from attonix.server.security.errors import InvalidToken
from attonix.server.security.tokens import (
    AccessClaims,
    TokenSigner,
    hash_token,
    key_id,
    new_opaque_token,
    tokens_equal,
)

KEY = b"k" * 16 + b"0123456789abcdef"
OTHER_KEY = b"o" * 32
NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
TTL = timedelta(minutes=15)


def signer(key: bytes = KEY, **kwargs: Any) -> TokenSigner:
    defaults: dict[str, Any] = {"issuer": "attonix", "audience": "attonix-api", "access_ttl": TTL}
    defaults.update(kwargs)
    return TokenSigner(key, **defaults)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def craft(header: dict[str, Any], payload: dict[str, Any], key: bytes | None) -> str:
    """Build a JWT by hand, signing with HMAC-SHA256 when a key is given."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = b""
    if key is not None:
        signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def valid_payload() -> dict[str, Any]:
    ts = int(NOW.timestamp())
    return {
        "iss": "attonix",
        "aud": "attonix-api",
        "sub": "alice",
        "sid": "s1",
        "jti": "j1",
        "iat": ts,
        "nbf": ts,
        "exp": ts + 900,
        "scope": "read",
    }


def valid_header(key: bytes = KEY) -> dict[str, Any]:
    return {"alg": "HS256", "typ": "at+jwt", "kid": key_id(key)}


def test_round_trip() -> None:
    s = signer()
    token = s.issue_access("alice", session_id="sess-1", scopes=["env:prod:read", "x"], now=NOW)
    claims = s.verify_access(token, now=NOW + timedelta(minutes=1))
    assert claims == AccessClaims(
        subject="alice",
        session_id="sess-1",
        scopes=("env:prod:read", "x"),
        jti=claims.jti,
        expires_at=NOW + TTL,
        issued_at=NOW,
    )
    assert len(claims.jti) >= 16


def test_header_and_claims_on_the_wire() -> None:
    token = signer().issue_access("alice", session_id="s", now=NOW)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "HS256", "typ": "at+jwt", "kid": key_id(KEY)}
    payload = jwt.decode(token, options={"verify_signature": False})
    assert set(payload) == {"iss", "aud", "sub", "sid", "jti", "iat", "nbf", "exp", "scope"}


def test_jti_is_unique() -> None:
    s = signer()
    jtis = {
        s.verify_access(s.issue_access("a", session_id="s", now=NOW), now=NOW).jti
        for _ in range(20)
    }
    assert len(jtis) == 20


def test_hand_crafted_valid_token_verifies() -> None:
    # Guards craft() and friends: the same construction with one change must be what fails.
    claims = signer().verify_access(craft(valid_header(), valid_payload(), KEY), now=NOW)
    assert claims.subject == "alice"


def test_expired() -> None:
    s = signer()
    token = s.issue_access("alice", session_id="s", now=NOW)
    assert s.verify_access(token, now=NOW + TTL - timedelta(seconds=1)).subject == "alice"
    with pytest.raises(InvalidToken, match="expired"):
        s.verify_access(token, now=NOW + TTL + timedelta(minutes=1))


def test_clock_skew_is_tolerated_but_bounded() -> None:
    s = signer()
    token = s.issue_access("alice", session_id="s", now=NOW)
    assert s.verify_access(token, now=NOW + TTL + timedelta(seconds=10)).subject == "alice"
    assert s.verify_access(token, now=NOW - timedelta(seconds=10)).subject == "alice"
    strict = signer(clock_skew=timedelta(0))
    with pytest.raises(InvalidToken, match="expired"):
        strict.verify_access(token, now=NOW + TTL)


def test_not_yet_valid() -> None:
    s = signer()
    token = s.issue_access("alice", session_id="s", now=NOW + timedelta(hours=1))
    with pytest.raises(InvalidToken, match="not valid yet"):
        s.verify_access(token, now=NOW)


def test_wrong_audience_and_issuer() -> None:
    token = signer(audience="other-api").issue_access("alice", session_id="s", now=NOW)
    with pytest.raises(InvalidToken, match="another audience"):
        signer().verify_access(token, now=NOW)
    token = signer(issuer="evil").issue_access("alice", session_id="s", now=NOW)
    with pytest.raises(InvalidToken, match="another issuer"):
        signer().verify_access(token, now=NOW)


def test_forged_signature() -> None:
    token = signer().issue_access("alice", session_id="s", now=NOW)
    head, body, sig = token.split(".")
    forged_sig = b64(bytes(32))
    with pytest.raises(InvalidToken, match="signature is invalid"):
        signer().verify_access(f"{head}.{body}.{forged_sig}", now=NOW)
    assert sig != forged_sig


def test_token_signed_with_another_key_using_our_kid() -> None:
    token = craft(valid_header(KEY), valid_payload(), OTHER_KEY)
    with pytest.raises(InvalidToken, match="signature is invalid"):
        signer().verify_access(token, now=NOW)


def test_token_from_another_signer_has_unknown_kid() -> None:
    token = signer(OTHER_KEY).issue_access("alice", session_id="s", now=NOW)
    with pytest.raises(InvalidToken, match="key this server does not know"):
        signer().verify_access(token, now=NOW)


def test_tampered_payload() -> None:
    token = signer().issue_access("alice", session_id="s", scopes=["read"], now=NOW)
    head, body, sig = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["sub"] = "admin"
    payload["scope"] = "admin"
    with pytest.raises(InvalidToken, match="signature is invalid"):
        signer().verify_access(f"{head}.{b64(json.dumps(payload).encode())}.{sig}", now=NOW)


def test_alg_none_is_refused() -> None:
    for alg in ("none", "None", "NONE"):
        header = {"alg": alg, "typ": "at+jwt", "kid": key_id(KEY)}
        with pytest.raises(InvalidToken, match="algorithm"):
            signer().verify_access(craft(header, valid_payload(), None), now=NOW)


@pytest.mark.parametrize("alg", ["HS384", "HS512", "RS256", "ES256", "EdDSA"])
def test_other_algorithms_are_refused(alg: str) -> None:
    header = {"alg": alg, "typ": "at+jwt", "kid": key_id(KEY)}
    with pytest.raises(InvalidToken, match="algorithm"):
        signer().verify_access(craft(header, valid_payload(), KEY), now=NOW)


def test_wrong_type_header() -> None:
    header = {"alg": "HS256", "typ": "JWT", "kid": key_id(KEY)}
    with pytest.raises(InvalidToken, match="not an access token"):
        signer().verify_access(craft(header, valid_payload(), KEY), now=NOW)


@pytest.mark.parametrize("claim", ["iss", "aud", "sub", "sid", "jti", "exp", "iat", "nbf"])
def test_missing_claims(claim: str) -> None:
    payload = valid_payload()
    del payload[claim]
    with pytest.raises(InvalidToken, match=claim):
        signer().verify_access(craft(valid_header(), payload, KEY), now=NOW)


@pytest.mark.parametrize(
    ("claim", "value"),
    [("sub", 5), ("sid", ""), ("jti", None), ("exp", "soon"), ("iat", True), ("scope", ["a"])],
)
def test_malformed_claims(claim: str, value: object) -> None:
    payload = valid_payload()
    payload[claim] = value
    with pytest.raises(InvalidToken):
        signer().verify_access(craft(valid_header(), payload, KEY), now=NOW)


@pytest.mark.parametrize(
    "token", ["", "abc", "a.b", "a.b.c", "....", "eyJhbGciOiJIUzI1NiJ9.e30.", "\x00.\x00.\x00"]
)
def test_malformed_tokens(token: str) -> None:
    with pytest.raises(InvalidToken):
        signer().verify_access(token, now=NOW)


def test_key_rotation() -> None:
    old = signer(OTHER_KEY)
    token = old.issue_access("alice", session_id="s", now=NOW)
    rotated = signer(KEY, previous_keys=[OTHER_KEY])
    assert rotated.verify_access(token, now=NOW).subject == "alice"
    new_token = rotated.issue_access("bob", session_id="s", now=NOW)
    assert jwt.get_unverified_header(new_token)["kid"] == key_id(KEY) == rotated.active_kid
    assert rotated.verify_access(new_token, now=NOW).subject == "bob"
    retired = signer(KEY)
    with pytest.raises(InvalidToken, match="key this server does not know"):
        retired.verify_access(token, now=NOW)


def test_short_keys_are_refused_and_keys_stay_out_of_repr() -> None:
    with pytest.raises(InvalidToken, match="at least 32 bytes"):
        signer(b"short")
    with pytest.raises(InvalidToken, match="at least 32 bytes"):
        signer(KEY, previous_keys=[b"tiny"])
    text = repr(signer(KEY, previous_keys=[OTHER_KEY]))
    assert KEY.decode() not in text
    assert OTHER_KEY.decode() not in text
    assert key_id(KEY) in text


def test_error_messages_do_not_echo_the_token() -> None:
    token = signer(OTHER_KEY).issue_access("alice", session_id="s", now=NOW)
    with pytest.raises(InvalidToken) as info:
        signer().verify_access(token, now=NOW)
    assert token not in str(info.value)
    assert token.split(".")[2] not in str(info.value)
    assert info.value.hint


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        signer().issue_access("a", session_id="s", now=datetime(2030, 1, 1))


def test_opaque_token_shape_and_digest() -> None:
    token, digest = new_opaque_token("atx_rt")
    assert re.fullmatch(r"atx_rt_[A-Za-z0-9_-]{43}", token)
    assert digest == hashlib.sha256(token.encode()).hexdigest() == hash_token(token)
    other, other_digest = new_opaque_token("atx_rt")
    assert other != token
    assert other_digest != digest


@pytest.mark.parametrize("prefix", ["", "ATX", "atx-", "_atx", "atx__rt", "a b"])
def test_opaque_token_prefix_is_validated(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        new_opaque_token(prefix)


def test_tokens_equal() -> None:
    token, digest = new_opaque_token("atx_api")
    assert tokens_equal(hash_token(token), digest)
    assert not tokens_equal(hash_token(token + "x"), digest)
    assert not tokens_equal("", digest)
    assert tokens_equal("ü", "ü")


@given(st.binary(min_size=1, max_size=400))
def test_any_flipped_byte_is_refused(data: bytes) -> None:
    s = signer()
    token = s.issue_access("alice", session_id="s", now=NOW)
    position = data[0] % len(token)
    replacement = "A" if token[position] != "A" else "B"
    tampered = token[:position] + replacement + token[position + 1 :]
    try:
        claims = s.verify_access(tampered, now=NOW)
    except InvalidToken:
        return
    # Base64url can encode the same bytes two ways in its final character's low bits; the
    # only acceptable "tampered" token is one that decodes to the very same token.
    assert claims.subject == "alice"
    assert base64.urlsafe_b64decode(tampered.split(".")[2] + "=") == base64.urlsafe_b64decode(
        token.split(".")[2] + "="
    )
