"""The sealed archive format of ``attonix backup``: compressed, passphrase-encrypted, checked.

Layout (all integers big-endian)::

    magic "ATXBAK" | version u8 | kdf u8 (1 = scrypt) | log2(N) u8 | r u8 | p u8 | salt 16
    | compression u8 (1 = zlib) | payload length u64 | ciphertext length u64
    | SHA-256 of the payload 32 | nonce 12 | key check 16
    ciphertext = AES-256-GCM(zlib(payload)), associated data = the whole header

scrypt (N = 2**17, r = 8, p = 1: 128 MiB, about a third of a second) turns the passphrase into
64 bytes: an AES key and a key-check key. The key check (an HMAC of the header) tells a wrong
passphrase apart from a damaged file; it gives a guesser nothing that trial decryption would
not. zlib rather than lzma: a backup is taken while the server runs, and zlib is several times
faster for a modest loss of ratio on database dumps. The payload checksum is verified after
decompression, end to end. Archives are written whole, in memory: Central Server backups are
database dumps and configuration, not bulk data.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import zlib

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from attonix.server.security.errors import ArchiveError

MAGIC = b"ATXBAK"
FORMAT_VERSION = 1
KDF_SCRYPT = 1
COMPRESSION_ZLIB = 1
DEFAULT_LOG2_N = 17
SCRYPT_R = 8
SCRYPT_P = 1
MIN_PASSPHRASE_LENGTH = 12
# Opening an archive must not let a crafted header demand unbounded memory or time.
_MIN_LOG2_N = 14
_MAX_SCRYPT_MEMORY = 512 * 1024 * 1024
_MAX_P = 4
_MAX_R = 32

_HEADER = struct.Struct(">6sBBBBB16sBQQ32s12s")
_CHECK_LEN = 16
HEADER_LENGTH = _HEADER.size + _CHECK_LEN
_TAG_LEN = 16


def _derive(passphrase: str, *, salt: bytes, log2_n: int, r: int, p: int) -> tuple[bytes, bytes]:
    """Derive the AES key and the key-check key from the passphrase."""
    material = Scrypt(salt=salt, length=64, n=2**log2_n, r=r, p=p).derive(
        passphrase.encode("utf-8")
    )
    return material[:32], material[32:]


def _key_check(check_key: bytes, header: bytes) -> bytes:
    """The HMAC that proves the passphrase right and the header intact."""
    return hmac.new(check_key, b"attonix-backup-check\x00" + header, hashlib.sha256).digest()[
        :_CHECK_LEN
    ]


def _assemble(
    compressed: bytes,
    *,
    payload_length: int,
    checksum: bytes,
    passphrase: str,
    log2_n: int,
    salt: bytes,
    nonce: bytes,
) -> bytes:
    """Write header and ciphertext for an already compressed payload."""
    enc_key, check_key = _derive(passphrase, salt=salt, log2_n=log2_n, r=SCRYPT_R, p=SCRYPT_P)
    fixed = _HEADER.pack(
        MAGIC,
        FORMAT_VERSION,
        KDF_SCRYPT,
        log2_n,
        SCRYPT_R,
        SCRYPT_P,
        salt,
        COMPRESSION_ZLIB,
        payload_length,
        len(compressed) + _TAG_LEN,
        checksum,
        nonce,
    )
    header = fixed + _key_check(check_key, fixed)
    return header + AESGCM(enc_key).encrypt(nonce, compressed, header)


def seal_archive(payload: bytes, *, passphrase: str, log2_n: int = DEFAULT_LOG2_N) -> bytes:
    """Compress and encrypt ``payload`` under ``passphrase``; return the archive bytes."""
    if len(passphrase) < MIN_PASSPHRASE_LENGTH:
        raise ArchiveError(
            f"A backup passphrase must be at least {MIN_PASSPHRASE_LENGTH} characters long.",
            hint="Use a long passphrase and keep it apart from the backups.",
        )
    if log2_n < _MIN_LOG2_N or 128 * SCRYPT_R * 2**log2_n > _MAX_SCRYPT_MEMORY:
        raise ValueError(f"log2_n must be between {_MIN_LOG2_N} and 19")
    return _assemble(
        zlib.compress(payload, 6),
        payload_length=len(payload),
        checksum=hashlib.sha256(payload).digest(),
        passphrase=passphrase,
        log2_n=log2_n,
        salt=os.urandom(16),
        nonce=os.urandom(12),
    )


def open_archive(data: bytes, *, passphrase: str) -> bytes:
    """Check, decrypt and decompress an archive; raise :class:`ArchiveError` saying what failed."""
    if data[: len(MAGIC)] != MAGIC:
        raise ArchiveError(
            "This file is not an Attonix backup archive.",
            hint="Pass a file written by `attonix backup`.",
        )
    if len(data) <= len(MAGIC):
        raise ArchiveError("The backup archive is truncated.", hint="Copy the whole file again.")
    version = data[len(MAGIC)]
    if version != FORMAT_VERSION:
        raise ArchiveError(
            f"The backup archive has format version {version}; this Attonix reads version "
            f"{FORMAT_VERSION}.",
            hint="Restore it with the Attonix version that wrote it, or a newer one.",
        )
    if len(data) < HEADER_LENGTH:
        raise ArchiveError("The backup archive is truncated.", hint="Copy the whole file again.")
    fixed, check = data[: _HEADER.size], data[_HEADER.size : HEADER_LENGTH]
    (
        _magic,
        _version,
        kdf,
        log2_n,
        r,
        p,
        salt,
        compression,
        payload_length,
        ciphertext_length,
        checksum,
        nonce,
    ) = _HEADER.unpack(fixed)
    if kdf != KDF_SCRYPT or compression != COMPRESSION_ZLIB:
        raise ArchiveError(
            "The backup archive uses a key derivation or compression this Attonix does not know.",
            hint="Restore it with the Attonix version that wrote it, or a newer one.",
        )
    if (
        log2_n < _MIN_LOG2_N
        or not 1 <= r <= _MAX_R
        or not 1 <= p <= _MAX_P
        or 128 * r * 2**log2_n > _MAX_SCRYPT_MEMORY
    ):
        raise ArchiveError(
            "The backup archive's key derivation parameters are out of range; the header is "
            "damaged or was not written by Attonix.",
            hint="Use an intact copy of the backup.",
        )
    enc_key, check_key = _derive(passphrase, salt=salt, log2_n=log2_n, r=r, p=p)
    if not hmac.compare_digest(check, _key_check(check_key, fixed)):
        raise ArchiveError(
            "The passphrase is wrong, or the archive's header is damaged.",
            hint="Check the passphrase; if it is right, use another copy of the backup.",
        )
    body = data[HEADER_LENGTH:]
    if len(body) < ciphertext_length:
        raise ArchiveError(
            f"The backup archive is truncated: {len(body)} of {ciphertext_length} encrypted "
            "bytes are present.",
            hint="Copy the whole file again.",
        )
    if len(body) > ciphertext_length:
        raise ArchiveError(
            "The backup archive has unexpected data after its end.",
            hint="Use an intact copy of the backup.",
        )
    try:
        compressed = AESGCM(enc_key).decrypt(nonce, body, data[:HEADER_LENGTH])
    except InvalidTag:
        raise ArchiveError(
            "The backup archive was modified or damaged: its contents fail authentication.",
            hint="Use an intact copy of the backup.",
        ) from None
    payload = _decompress(compressed, limit=payload_length)
    if len(payload) != payload_length or not hmac.compare_digest(
        hashlib.sha256(payload).digest(), checksum
    ):
        raise ArchiveError(
            "The backup archive's checksum does not match its contents.",
            hint="The archive was written incorrectly; use another backup.",
        )
    return payload


def _decompress(compressed: bytes, *, limit: int) -> bytes:
    """Inflate at most ``limit`` + 1 bytes, so a lying length cannot exhaust memory."""
    inflater = zlib.decompressobj()
    try:
        payload = inflater.decompress(compressed, limit + 1)
    except zlib.error:
        raise ArchiveError(
            "The backup archive's contents do not decompress.",
            hint="The archive was written incorrectly; use another backup.",
        ) from None
    if not inflater.eof:
        raise ArchiveError(
            "The backup archive's checksum does not match its contents.",
            hint="The archive was written incorrectly; use another backup.",
        )
    return payload
