"""Sealed backup archives: round trip, wrong passphrase, tampering, truncation, versions."""

from __future__ import annotations

import hashlib
import os
import struct
import time
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attonix.server.security import archive
from attonix.server.security.archive import HEADER_LENGTH, open_archive, seal_archive
from attonix.server.security.errors import ArchiveError

PASS = "orchid lantern 47 gravel"
PAYLOAD = b"-- PostgreSQL dump\n" + b"INSERT INTO users VALUES ('alice', 'x');\n" * 200
FAST = 14  # scrypt N = 2**14 keeps the tests quick; the default is exercised once


@pytest.fixture(scope="module")
def sealed() -> bytes:
    return seal_archive(PAYLOAD, passphrase=PASS, log2_n=FAST)


def test_round_trip_and_layout(sealed: bytes) -> None:
    assert open_archive(sealed, passphrase=PASS) == PAYLOAD
    assert sealed.startswith(b"ATXBAK\x01\x01")
    magic, version, kdf, log2_n, r, p = struct.unpack(">6sBBBBB", sealed[:11])
    assert (magic, version, kdf, log2_n, r, p) == (b"ATXBAK", 1, 1, FAST, 8, 1)
    # The payload's checksum sits in the header; the payload itself is nowhere in clear.
    assert hashlib.sha256(PAYLOAD).digest() in sealed[:HEADER_LENGTH]
    assert b"INSERT INTO" not in sealed
    # Compressed before encryption: the repetitive dump shrinks.
    assert len(sealed) < len(PAYLOAD) // 4


def test_default_parameters_round_trip_and_cost() -> None:
    start = time.perf_counter()
    data = seal_archive(b"small", passphrase=PASS)
    elapsed = time.perf_counter() - start
    assert data[8] == archive.DEFAULT_LOG2_N == 17
    assert open_archive(data, passphrase=PASS) == b"small"
    assert elapsed > 0.05  # a real memory-hard derivation happened


def test_each_archive_is_salted(sealed: bytes) -> None:
    again = seal_archive(PAYLOAD, passphrase=PASS, log2_n=FAST)
    assert again != sealed
    assert again[11:27] != sealed[11:27]  # salt


def test_wrong_passphrase(sealed: bytes) -> None:
    with pytest.raises(ArchiveError, match="passphrase is wrong") as info:
        open_archive(sealed, passphrase=PASS + " ")
    assert PASS not in str(info.value) + info.value.hint


def test_short_passphrase_is_refused() -> None:
    with pytest.raises(ArchiveError, match="at least 12 characters"):
        seal_archive(PAYLOAD, passphrase="short", log2_n=FAST)


def test_not_an_archive() -> None:
    for data in (b"", b"PK\x03\x04zipfile", b"ATXBA", zlib.compress(PAYLOAD)):
        with pytest.raises(ArchiveError, match="not an Attonix backup archive"):
            open_archive(data, passphrase=PASS)


def test_unsupported_version(sealed: bytes) -> None:
    data = bytearray(sealed)
    data[6] = 9
    with pytest.raises(ArchiveError, match="format version 9") as info:
        open_archive(bytes(data), passphrase=PASS)
    assert "version that wrote it" in info.value.hint


def test_unknown_kdf_or_compression(sealed: bytes) -> None:
    for offset in (7, 27):  # kdf id, compression id
        data = bytearray(sealed)
        data[offset] = 2
        with pytest.raises(ArchiveError, match="does not know"):
            open_archive(bytes(data), passphrase=PASS)


@pytest.mark.parametrize(("offset", "value"), [(8, 30), (8, 10), (9, 0), (9, 200), (10, 9)])
def test_kdf_parameters_out_of_range(sealed: bytes, offset: int, value: int) -> None:
    data = bytearray(sealed)
    data[offset] = value
    with pytest.raises(ArchiveError, match="out of range"):
        open_archive(bytes(data), passphrase=PASS)


@pytest.mark.parametrize("keep", [6, 7, 20, HEADER_LENGTH - 1])
def test_truncated_header(sealed: bytes, keep: int) -> None:
    with pytest.raises(ArchiveError, match="truncated"):
        open_archive(sealed[:keep], passphrase=PASS)


def test_truncated_body(sealed: bytes) -> None:
    for keep in (HEADER_LENGTH, HEADER_LENGTH + 10, len(sealed) - 1):
        with pytest.raises(ArchiveError, match=r"truncated: .* encrypted bytes are present"):
            open_archive(sealed[:keep], passphrase=PASS)


def test_trailing_data(sealed: bytes) -> None:
    with pytest.raises(ArchiveError, match="unexpected data after its end"):
        open_archive(sealed + b"\x00", passphrase=PASS)


def test_tampered_ciphertext(sealed: bytes) -> None:
    data = bytearray(sealed)
    data[HEADER_LENGTH + 5] ^= 0x80
    with pytest.raises(ArchiveError, match="modified or damaged"):
        open_archive(bytes(data), passphrase=PASS)


def test_tampered_header_field(sealed: bytes) -> None:
    # The payload length field: covered by the key check.
    data = bytearray(sealed)
    data[30] ^= 0x01
    with pytest.raises(ArchiveError, match="header is damaged"):
        open_archive(bytes(data), passphrase=PASS)


def test_checksum_mismatch() -> None:
    compressed = zlib.compress(PAYLOAD)
    data = archive._assemble(
        compressed,
        payload_length=len(PAYLOAD),
        checksum=hashlib.sha256(b"something else").digest(),
        passphrase=PASS,
        log2_n=FAST,
        salt=os.urandom(16),
        nonce=os.urandom(12),
    )
    with pytest.raises(ArchiveError, match="checksum does not match"):
        open_archive(data, passphrase=PASS)


def test_lying_length_cannot_inflate_past_it() -> None:
    data = archive._assemble(
        zlib.compress(PAYLOAD),
        payload_length=10,
        checksum=hashlib.sha256(PAYLOAD[:10]).digest(),
        passphrase=PASS,
        log2_n=FAST,
        salt=os.urandom(16),
        nonce=os.urandom(12),
    )
    with pytest.raises(ArchiveError, match="checksum does not match"):
        open_archive(data, passphrase=PASS)


def test_undecompressable_contents() -> None:
    data = archive._assemble(
        b"not zlib at all",
        payload_length=3,
        checksum=hashlib.sha256(b"abc").digest(),
        passphrase=PASS,
        log2_n=FAST,
        salt=os.urandom(16),
        nonce=os.urandom(12),
    )
    with pytest.raises(ArchiveError, match="do not decompress"):
        open_archive(data, passphrase=PASS)


def test_log2_n_bounds_on_seal() -> None:
    for bad in (10, 13, 20):
        with pytest.raises(ValueError, match="log2_n"):
            seal_archive(b"x", passphrase=PASS, log2_n=bad)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_flipped_byte_is_refused(sealed: bytes, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(sealed) - 1))
    mask = data.draw(st.integers(1, 255))
    tampered = bytearray(sealed)
    tampered[index] ^= mask
    with pytest.raises(ArchiveError):
        open_archive(bytes(tampered), passphrase=PASS)


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=4096))
def test_round_trip_any_payload(payload: bytes) -> None:
    assert open_archive(seal_archive(payload, passphrase=PASS, log2_n=FAST), passphrase=PASS) == (
        payload
    )
