"""TOTP verification (RFC 6238 vectors, window, replay) and recovery codes."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attonix.server.security.totp import (
    hash_recovery_code,
    new_recovery_codes,
    new_totp_secret,
    provisioning_uri,
    qr_svg,
    totp_now,
    verify_totp,
)
from attonix.server.security.totp import verify_recovery_code as verify_code

RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
NOW = datetime(2030, 5, 1, 12, 0, 10, tzinfo=UTC)

# RFC 6238 appendix B, SHA-1 column (8 digits); 6-digit codes are the last six.
RFC_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@pytest.mark.parametrize(("seconds", "code8"), RFC_VECTORS)
def test_rfc6238_vectors(seconds: int, code8: str) -> None:
    assert totp_now(RFC_SECRET, now=at(seconds)) == code8[-6:]
    step = seconds // 30
    assert verify_totp(RFC_SECRET, code8[-6:], last_used_step=None, now=at(seconds)) == step


def test_secret_is_160_bits_of_base32() -> None:
    secret = new_totp_secret()
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    assert len(base64.b32decode(secret)) == 20
    assert new_totp_secret() != secret


def test_lenient_secret_spelling() -> None:
    spaced = " ".join(RFC_SECRET.lower()[i : i + 4] for i in range(0, 32, 4))
    assert totp_now(spaced, now=at(59)) == "287082"
    with pytest.raises(ValueError, match="base32"):
        totp_now("not base32 !!", now=at(59))


def test_window_accepts_adjacent_steps_only() -> None:
    secret = new_totp_secret()
    step = int(NOW.timestamp()) // 30
    previous = totp_now(secret, now=NOW - timedelta(seconds=30))
    following = totp_now(secret, now=NOW + timedelta(seconds=30))
    too_old = totp_now(secret, now=NOW - timedelta(seconds=60))
    assert verify_totp(secret, previous, last_used_step=None, now=NOW) == step - 1
    assert verify_totp(secret, following, last_used_step=None, now=NOW) == step + 1
    assert verify_totp(secret, too_old, last_used_step=None, now=NOW) is None
    assert verify_totp(secret, too_old, last_used_step=None, now=NOW, window=2) == step - 2
    assert verify_totp(secret, previous, last_used_step=None, now=NOW, window=0) is None


def test_replay_is_refused() -> None:
    secret = new_totp_secret()
    code = totp_now(secret, now=NOW)
    step = verify_totp(secret, code, last_used_step=None, now=NOW)
    assert step is not None
    assert verify_totp(secret, code, last_used_step=step, now=NOW) is None
    # An older code inside the window is refused once a newer step was used.
    older = totp_now(secret, now=NOW - timedelta(seconds=30))
    assert verify_totp(secret, older, last_used_step=step, now=NOW) is None
    # The next step's code is still good.
    later = NOW + timedelta(seconds=30)
    assert verify_totp(secret, totp_now(secret, now=later), last_used_step=step, now=later) == (
        step + 1
    )


def test_wrong_code_and_other_secret() -> None:
    secret = new_totp_secret()
    code = totp_now(secret, now=NOW)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert verify_totp(secret, wrong, last_used_step=None, now=NOW) is None
    assert verify_totp(new_totp_secret(), code, last_used_step=None, now=NOW) is None


@pytest.mark.parametrize(
    "code",
    [
        "",
        "28708",  # the real code (287082) cut short
        "2870820",
        "0287082",
        "287082\n",
        "287082.",
        "+287082",
        "\u0662\u0668\u0667\u0660\u0668\u0662",  # Arabic-Indic digits; int() accepts them
        "\uff12\uff18\uff17\uff10\uff18\uff12",  # full-width digits
    ],
)
def test_non_six_digit_input_is_refused(code: str) -> None:
    assert int("287082") == int("\u0662\u0668\u0667\u0660\u0668\u0662")
    assert verify_totp(RFC_SECRET, "287082", last_used_step=None, now=at(59)) == 1
    assert verify_totp(RFC_SECRET, code, last_used_step=None, now=at(59)) is None


def test_spaces_inside_a_real_code_are_tolerated() -> None:
    assert verify_totp(RFC_SECRET, "287 082", last_used_step=None, now=at(59)) == 1


def test_naive_time_and_negative_window_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        totp_now(RFC_SECRET, now=datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="window"):
        verify_totp(RFC_SECRET, "287082", last_used_step=None, now=at(59), window=-1)


def test_provisioning_uri() -> None:
    uri = provisioning_uri(RFC_SECRET, account="alice@example.com", issuer="Attonix Prod")
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth"
    assert parts.netloc == "totp"
    assert parts.path == "/Attonix%20Prod:alice@example.com"
    query = parse_qs(parts.query)
    assert query == {
        "secret": [RFC_SECRET],
        "issuer": ["Attonix Prod"],
        "algorithm": ["SHA1"],
        "digits": ["6"],
        "period": ["30"],
    }


def test_qr_svg_is_an_svg_document_without_the_secret_in_clear_text() -> None:
    uri = provisioning_uri(RFC_SECRET, account="alice")
    svg = qr_svg(uri)
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert int(root.attrib["width"]) >= 21 * 4
    assert root.find("{http://www.w3.org/2000/svg}path") is not None
    assert RFC_SECRET not in svg


def test_recovery_codes_shape_and_uniqueness() -> None:
    codes = new_recovery_codes()
    assert len(codes) == 10
    assert len(set(codes)) == 10
    for code in codes:
        assert re.fullmatch(
            r"[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{4}", code
        )
    assert len(new_recovery_codes(3)) == 3
    with pytest.raises(ValueError, match="positive"):
        new_recovery_codes(0)


def test_recovery_code_verification_normalises_input() -> None:
    codes = new_recovery_codes(3)
    hashes = [hash_recovery_code(code) for code in codes]
    assert all(h.startswith("$argon2id$") and codes[0] not in h for h in hashes)
    assert verify_code(codes[1], hashes) == 1
    assert verify_code(codes[2].upper(), hashes) == 2
    assert verify_code(codes[0].replace("-", ""), hashes) == 0
    assert verify_code("  " + codes[0].replace("-", " ") + " ", hashes) == 0
    assert verify_code(codes[0], hashes[1:]) is None
    assert verify_code("0000-0000-0000", hashes) is None
    assert verify_code("not a code", hashes) is None
    assert verify_code("", hashes) is None
    assert verify_code(codes[0], []) is None


def test_recovery_code_lookalikes() -> None:
    code = "0011-abcd-efgh"
    hashes = [hash_recovery_code(code)]
    assert verify_code("OOlI-ABCD-EFGH", hashes) == 0
    with pytest.raises(ValueError, match="not a recovery code"):
        hash_recovery_code("uuuu-uuuu-uuuu")


@given(st.integers(min_value=0, max_value=2**33), st.integers(min_value=0, max_value=999_999))
def test_only_the_real_code_matches_at_any_time(seconds: int, guess: int) -> None:
    now = at(seconds)
    real = totp_now(RFC_SECRET, now=now)
    step = seconds // 30
    assert verify_totp(RFC_SECRET, real, last_used_step=None, now=now, window=0) == step
    if f"{guess:06d}" != real:
        assert (
            verify_totp(RFC_SECRET, f"{guess:06d}", last_used_step=None, now=now, window=0) is None
        )
