"""Envelope encryption for the secrets vault (AES-256-GCM, key-encryption keys with ids).

Each secret gets a fresh 256-bit data key (DEK). The secret is encrypted with the DEK under
AES-256-GCM with a random 96-bit nonce and the caller's ``aad`` (which names where the secret
lives, e.g. environment and name, so a ciphertext copied to another row does not open). The DEK
is then wrapped by the active key-encryption key (KEK), also with AES-256-GCM, whose associated
data is the KEK id: a wrapped key cannot be relabelled as belonging to another KEK.

AES-GCM rather than RFC 3394 key wrap for the DEK: it is the same primitive, already
authenticated, and it takes associated data (RFC 3394 does not), which is what binds the KEK
id. Random 96-bit nonces are safe while one KEK wraps far fewer than 2**32 keys; a vault holds
thousands.

Rotation without downtime: add a new KEK as the last line of the key file (it becomes active,
new secrets use it), restart, run :meth:`KeyRing.rewrap` over every stored secret (only the
48-byte wrapped DEK changes, never the ciphertext), then drop the old line.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import stat
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from attonix.server.security.errors import VaultError

KEY_BYTES = 32
NONCE_BYTES = 12
WRAPPED_DEK_BYTES = KEY_BYTES + 16  # the DEK plus the GCM tag
FORMAT_VERSION = 1
_MAGIC = b"ATXV"
_DEK_AAD_PREFIX = b"attonix-vault-dek-v1\x00"
_DATA_AAD_PREFIX = b"attonix-vault-data-v1\x00"
_KEK_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_DEFAULT_ID = "default"
_NEW_KEK_HINT = "Create one with `attonix vault new-kek` and keep it outside the database."


@dataclass(frozen=True)
class Sealed:
    """One encrypted secret: its wrapped data key, nonces and ciphertext (no plaintext)."""

    kek_id: str
    wrapped_dek: bytes = field(repr=False)
    dek_nonce: bytes = field(repr=False)
    nonce: bytes = field(repr=False)
    ciphertext: bytes = field(repr=False)

    def __repr__(self) -> str:
        """Show the KEK id and the ciphertext length only."""
        return f"Sealed(kek_id={self.kek_id!r}, ciphertext=<{len(self.ciphertext)} bytes>)"

    def to_bytes(self) -> bytes:
        """Serialise: magic, version, KEK id, DEK nonce, wrapped DEK, nonce, ciphertext."""
        kek_id = self.kek_id.encode("ascii")
        return b"".join(
            (
                _MAGIC,
                struct.pack(">BB", FORMAT_VERSION, len(kek_id)),
                kek_id,
                self.dek_nonce,
                self.wrapped_dek,
                self.nonce,
                self.ciphertext,
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Sealed:
        """Parse :meth:`to_bytes` output, refusing other formats and truncated data."""
        if data[:4] != _MAGIC:
            raise VaultError(
                "The stored value is not a sealed secret.",
                hint="It may have been written by something other than the vault.",
            )
        if len(data) < 6:
            raise VaultError("The sealed secret is truncated.")
        version, id_len = struct.unpack(">BB", data[4:6])
        if version != FORMAT_VERSION:
            raise VaultError(
                f"The sealed secret uses format version {version}; this Attonix reads version "
                f"{FORMAT_VERSION}.",
                hint="Upgrade Attonix to read secrets written by a newer version.",
            )
        offset = 6
        end = offset + id_len + NONCE_BYTES + WRAPPED_DEK_BYTES + NONCE_BYTES
        # GCM ciphertexts carry a 16-byte tag even for an empty plaintext.
        if len(data) < end + 16:
            raise VaultError("The sealed secret is truncated.")
        try:
            kek_id = data[offset : offset + id_len].decode("ascii")
        except UnicodeDecodeError:
            raise VaultError("The sealed secret's key id is malformed.") from None
        offset += id_len
        dek_nonce = data[offset : offset + NONCE_BYTES]
        offset += NONCE_BYTES
        wrapped = data[offset : offset + WRAPPED_DEK_BYTES]
        offset += WRAPPED_DEK_BYTES
        nonce = data[offset : offset + NONCE_BYTES]
        offset += NONCE_BYTES
        return cls(
            kek_id=kek_id,
            wrapped_dek=wrapped,
            dek_nonce=dek_nonce,
            nonce=nonce,
            ciphertext=data[offset:],
        )


def _decode_key(kek_id: str, encoded: str) -> bytes:
    """Decode one base64url KEK and check its length; the message never includes the key."""
    text = encoded.strip()
    try:
        # validate=True: the lenient default silently drops stray characters.
        key = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise VaultError(
            f"Key-encryption key {kek_id!r} is not valid base64url.", hint=_NEW_KEK_HINT
        ) from None
    if len(key) != KEY_BYTES:
        raise VaultError(
            f"Key-encryption key {kek_id!r} is {len(key)} bytes long; a KEK is {KEY_BYTES} bytes.",
            hint=_NEW_KEK_HINT,
        )
    return key


def _parse_line(line: str, *, where: str) -> tuple[str, str]:
    """Split an ``id:key`` line, checking the id's spelling."""
    kek_id, sep, encoded = line.partition(":")
    kek_id = kek_id.strip()
    if not sep or not _KEK_ID_RE.fullmatch(kek_id):
        raise VaultError(
            f"{where} is not of the form 'id:base64key' with an id of letters, digits, '.', '_'"
            " or '-'.",
            hint=_NEW_KEK_HINT,
        )
    return kek_id, encoded


class KeyRing:
    """The key-encryption keys by id; the active one wraps new data keys."""

    def __init__(self, keys: Mapping[str, bytes], *, active_id: str) -> None:
        """Keep a copy of the keys; ``active_id`` must be one of them and every key 32 bytes."""
        if active_id not in keys:
            raise VaultError(f"The active key-encryption key {active_id!r} is not in the ring.")
        for kek_id, key in keys.items():
            if not _KEK_ID_RE.fullmatch(kek_id):
                raise VaultError(f"Key-encryption key id {kek_id!r} is not allowed.")
            if len(key) != KEY_BYTES:
                raise VaultError(
                    f"Key-encryption key {kek_id!r} is {len(key)} bytes long; a KEK is "
                    f"{KEY_BYTES} bytes.",
                    hint=_NEW_KEK_HINT,
                )
        self._keys = dict(keys)
        self._active_id = active_id

    def __repr__(self) -> str:
        """Show key ids only."""
        return f"KeyRing(active_id={self._active_id!r}, ids={list(self._keys)!r})"

    @property
    def active_id(self) -> str:
        """The id of the KEK that wraps new data keys."""
        return self._active_id

    @property
    def ids(self) -> tuple[str, ...]:
        """Every KEK id in the ring, in file order."""
        return tuple(self._keys)

    @classmethod
    def from_settings(cls, *, kek: str | None, kek_file: str | None) -> KeyRing:
        """Build the ring from one KEK (``id:key`` or a bare key) or from a key file."""
        if kek and kek_file:
            raise VaultError(
                "Both a key-encryption key and a key file are configured.",
                hint="Set only one of them; put several keys in the file for rotation.",
            )
        if kek:
            if ":" in kek:
                kek_id, encoded = _parse_line(kek, where="The configured key-encryption key")
            else:
                kek_id, encoded = _DEFAULT_ID, kek
            return cls({kek_id: _decode_key(kek_id, encoded)}, active_id=kek_id)
        if kek_file:
            return cls._from_file(Path(kek_file))
        raise VaultError("No key-encryption key is configured for the vault.", hint=_NEW_KEK_HINT)

    @classmethod
    def _from_file(cls, path: Path) -> KeyRing:
        """Read ``id:key`` lines (the last is active) from a file only its owner can read."""
        try:
            info = path.stat()
        except FileNotFoundError:
            raise VaultError(f"The key file {path} does not exist.", hint=_NEW_KEK_HINT) from None
        if not stat.S_ISREG(info.st_mode):
            raise VaultError(f"The key file {path} is not a regular file.")
        # Group read is allowed: Kubernetes gives a non-root pod its secret files through the
        # pod's group (fsGroup, mode 0440), owned by root. Group write and others are not.
        if info.st_mode & 0o027:
            raise VaultError(
                f"The key file {path} is writable by group or readable or writable by others "
                f"(mode {stat.S_IMODE(info.st_mode):04o}).",
                hint=f"Run `chmod 600 {path}`.",
            )
        keys: dict[str, bytes] = {}
        for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            kek_id, encoded = _parse_line(line, where=f"Line {number} of {path}")
            if kek_id in keys:
                raise VaultError(
                    f"Key id {kek_id!r} appears twice in {path}.",
                    hint="Give every key-encryption key its own id.",
                )
            keys[kek_id] = _decode_key(kek_id, encoded)
        if not keys:
            raise VaultError(f"The key file {path} holds no keys.", hint=_NEW_KEK_HINT)
        return cls(keys, active_id=list(keys)[-1])

    @staticmethod
    def generate_line(kek_id: str | None = None) -> str:
        """Return a new ``id:key`` line with 32 random bytes, for ``attonix vault new-kek``."""
        kek_id = kek_id or f"kek-{secrets.token_hex(4)}"
        if not _KEK_ID_RE.fullmatch(kek_id):
            raise VaultError(f"Key-encryption key id {kek_id!r} is not allowed.")
        encoded = base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")
        return f"{kek_id}:{encoded.rstrip('=')}"

    def seal(self, plaintext: bytes, *, aad: bytes) -> Sealed:
        """Encrypt under a fresh data key bound to ``aad``, wrapped by the active KEK."""
        dek = AESGCM.generate_key(bit_length=256)
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = AESGCM(dek).encrypt(nonce, plaintext, _DATA_AAD_PREFIX + aad)
        dek_nonce, wrapped = self._wrap(dek)
        return Sealed(
            kek_id=self._active_id,
            wrapped_dek=wrapped,
            dek_nonce=dek_nonce,
            nonce=nonce,
            ciphertext=ciphertext,
        )

    def open(self, sealed: Sealed, *, aad: bytes) -> bytes:
        """Decrypt a sealed secret; raise :class:`VaultError` on a key, context or data mismatch."""
        dek = self._unwrap(sealed)
        try:
            return AESGCM(dek).decrypt(sealed.nonce, sealed.ciphertext, _DATA_AAD_PREFIX + aad)
        except (InvalidTag, ValueError):
            raise VaultError(
                "The secret cannot be decrypted: it was damaged, or it belongs to another "
                "name or environment.",
                hint="Restore it from a backup or write it again.",
            ) from None

    def rewrap(self, sealed: Sealed) -> Sealed:
        """Re-wrap the data key with the active KEK, leaving nonce and ciphertext untouched."""
        dek = self._unwrap(sealed)
        dek_nonce, wrapped = self._wrap(dek)
        return Sealed(
            kek_id=self._active_id,
            wrapped_dek=wrapped,
            dek_nonce=dek_nonce,
            nonce=sealed.nonce,
            ciphertext=sealed.ciphertext,
        )

    def needs_rewrap(self, sealed: Sealed) -> bool:
        """Tell whether a secret's data key is wrapped by a KEK other than the active one."""
        return sealed.kek_id != self._active_id

    def _wrap(self, dek: bytes) -> tuple[bytes, bytes]:
        """Wrap a data key with the active KEK, bound to its id."""
        nonce = os.urandom(NONCE_BYTES)
        aad = _DEK_AAD_PREFIX + self._active_id.encode("ascii")
        return nonce, AESGCM(self._keys[self._active_id]).encrypt(nonce, dek, aad)

    def _unwrap(self, sealed: Sealed) -> bytes:
        """Recover the data key of a sealed secret with the KEK it names."""
        kek = self._keys.get(sealed.kek_id)
        if kek is None:
            raise VaultError(
                f"The secret was sealed with key-encryption key {sealed.kek_id!r}, which is not "
                "in the key ring.",
                hint="Put that key back in the key file until every secret has been re-wrapped.",
            )
        aad = _DEK_AAD_PREFIX + sealed.kek_id.encode("ascii")
        try:
            return AESGCM(kek).decrypt(sealed.dek_nonce, sealed.wrapped_dek, aad)
        except (InvalidTag, ValueError):
            raise VaultError(
                f"The secret's data key does not open with key-encryption key {sealed.kek_id!r}: "
                "the key is not the one it was sealed with, or the record was damaged.",
                hint="Check that the key file holds the original key under that id.",
            ) from None
