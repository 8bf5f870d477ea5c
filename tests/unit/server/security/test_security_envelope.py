"""Envelope encryption: key ring configuration, sealing, tampering, rotation."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attonix.server.security.envelope import KeyRing, Sealed
from attonix.server.security.errors import VaultError

SECRET = b"db-password: Tr0ub4dor&3-very-secret"
AAD = b"env=prod\x00name=db-password"
KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))


def enc(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode().rstrip("=")


def ring(*pairs: tuple[str, bytes]) -> KeyRing:
    keys = dict(pairs) or {"a": KEY_A}
    return KeyRing(keys, active_id=list(keys)[-1])


def key_file(tmp_path: Path, text: str, mode: int = 0o600) -> str:
    path = tmp_path / "kek"
    path.write_text(text)
    path.chmod(mode)
    return str(path)


def test_round_trip_and_serialisation() -> None:
    r = ring()
    sealed = r.seal(SECRET, aad=AAD)
    assert sealed.kek_id == "a"
    assert SECRET not in sealed.ciphertext
    assert len(sealed.nonce) == 12
    assert len(sealed.dek_nonce) == 12
    assert len(sealed.wrapped_dek) == 48
    assert r.open(sealed, aad=AAD) == SECRET
    data = sealed.to_bytes()
    assert data.startswith(b"ATXV\x01")
    assert Sealed.from_bytes(data) == sealed
    assert r.open(Sealed.from_bytes(data), aad=AAD) == SECRET


def test_each_seal_uses_fresh_keys_and_nonces() -> None:
    r = ring()
    one, two = r.seal(SECRET, aad=AAD), r.seal(SECRET, aad=AAD)
    assert one.ciphertext != two.ciphertext
    assert one.nonce != two.nonce
    assert one.wrapped_dek != two.wrapped_dek


def test_empty_plaintext() -> None:
    r = ring()
    assert r.open(Sealed.from_bytes(r.seal(b"", aad=b"").to_bytes()), aad=b"") == b""


def test_wrong_aad_refuses_a_moved_secret() -> None:
    r = ring()
    sealed = r.seal(SECRET, aad=b"env=prod\x00name=db")
    for other in (b"env=staging\x00name=db", b"env=prod\x00name=api", b""):
        with pytest.raises(VaultError, match="another name or environment"):
            r.open(sealed, aad=other)


@pytest.mark.parametrize("field", ["wrapped_dek", "dek_nonce", "nonce", "ciphertext"])
def test_tampering_with_each_field_is_detected(field: str) -> None:
    r = ring()
    sealed = r.seal(SECRET, aad=AAD)
    value = bytearray(getattr(sealed, field))
    value[len(value) // 2] ^= 0x01
    with pytest.raises(VaultError):
        r.open(dataclasses.replace(sealed, **{field: bytes(value)}), aad=AAD)


def test_relabelled_kek_id_is_detected() -> None:
    # Both keys equal: only the id binding (the wrap's associated data) can notice.
    r = ring(("a", KEY_A), ("b", KEY_A))
    sealed = r.seal(SECRET, aad=AAD)
    assert sealed.kek_id == "b"
    with pytest.raises(VaultError, match="does not open with key-encryption key 'a'"):
        r.open(dataclasses.replace(sealed, kek_id="a"), aad=AAD)


def test_wrong_key_and_unknown_kek_id() -> None:
    sealed = ring(("a", KEY_A)).seal(SECRET, aad=AAD)
    with pytest.raises(VaultError, match="does not open"):
        ring(("a", KEY_B)).open(sealed, aad=AAD)
    with pytest.raises(VaultError, match="'a', which is not in the key ring") as info:
        ring(("b", KEY_B)).open(sealed, aad=AAD)
    assert "key file" in info.value.hint


@settings(max_examples=150)
@given(st.data())
def test_any_flipped_bit_in_the_serialised_form_is_refused(data: st.DataObject) -> None:
    r = ring()
    blob = bytearray(r.seal(SECRET, aad=AAD).to_bytes())
    index = data.draw(st.integers(0, len(blob) - 1))
    bit = data.draw(st.integers(0, 7))
    blob[index] ^= 1 << bit
    with pytest.raises(VaultError):
        r.open(Sealed.from_bytes(bytes(blob)), aad=AAD)


@given(st.binary(max_size=2048), st.binary(max_size=64))
def test_round_trip_any_plaintext_and_aad(plaintext: bytes, aad: bytes) -> None:
    r = ring()
    assert r.open(Sealed.from_bytes(r.seal(plaintext, aad=aad).to_bytes()), aad=aad) == plaintext


@pytest.mark.parametrize("cut", [0, 3, 5, 6, 20, 80, 94])
def test_truncated_or_foreign_data(cut: int) -> None:
    blob = ring().seal(SECRET, aad=AAD).to_bytes()
    with pytest.raises(VaultError, match=r"truncated|not a sealed secret"):
        Sealed.from_bytes(blob[:cut])
    with pytest.raises(VaultError, match="not a sealed secret"):
        Sealed.from_bytes(b"XXXX" + blob[4:])


def test_truncated_ciphertext_parses_but_does_not_open() -> None:
    r = ring()
    blob = r.seal(SECRET, aad=AAD).to_bytes()
    for cut in (95, len(blob) - 1):
        with pytest.raises(VaultError, match="cannot be decrypted"):
            r.open(Sealed.from_bytes(blob[:cut]), aad=AAD)


def test_unsupported_version() -> None:
    blob = bytearray(ring().seal(SECRET, aad=AAD).to_bytes())
    blob[4] = 2
    with pytest.raises(VaultError, match="format version 2"):
        Sealed.from_bytes(bytes(blob))


def test_rotation_with_two_keks() -> None:
    old = ring(("k1", KEY_A))
    sealed_old = old.seal(SECRET, aad=AAD)
    rotated = ring(("k1", KEY_A), ("k2", KEY_B))
    assert rotated.active_id == "k2"
    # Old secrets still open while both keys are in the ring; new ones use k2.
    assert rotated.open(sealed_old, aad=AAD) == SECRET
    assert rotated.seal(SECRET, aad=AAD).kek_id == "k2"
    assert rotated.needs_rewrap(sealed_old)
    rewrapped = rotated.rewrap(sealed_old)
    assert rewrapped.kek_id == "k2"
    assert not rotated.needs_rewrap(rewrapped)
    assert rewrapped.ciphertext == sealed_old.ciphertext
    assert rewrapped.nonce == sealed_old.nonce
    assert rewrapped.wrapped_dek != sealed_old.wrapped_dek
    # After the old KEK is removed only the re-wrapped copy opens.
    new_only = ring(("k2", KEY_B))
    assert new_only.open(rewrapped, aad=AAD) == SECRET
    with pytest.raises(VaultError, match="not in the key ring"):
        new_only.open(sealed_old, aad=AAD)


def test_values_never_in_repr_or_errors() -> None:
    r = ring(("a", KEY_A))
    sealed = r.seal(SECRET, aad=AAD)
    texts = [repr(r), repr(sealed), str(sealed)]
    for exc_case in (
        lambda: r.open(sealed, aad=b"other"),
        lambda: ring(("a", KEY_B)).open(sealed, aad=AAD),
    ):
        with pytest.raises(VaultError) as info:
            exc_case()
        texts += [str(info.value), info.value.hint, repr(info.value)]
    for text in texts:
        assert SECRET.decode() not in text
        assert enc(KEY_A) not in text
        assert repr(KEY_A) not in text
        assert sealed.wrapped_dek.hex() not in text
        assert repr(sealed.ciphertext) not in text
    assert "kek_id='a'" in repr(sealed)


def test_from_settings_single_key() -> None:
    r = KeyRing.from_settings(kek=enc(KEY_A), kek_file=None)
    assert r.active_id == "default"
    r2 = KeyRing.from_settings(kek=f"prod-1:{enc(KEY_A)}", kek_file=None)
    assert r2.active_id == "prod-1"
    # Same key material under the same id reads what the other wrote.
    sealed = r.seal(SECRET, aad=AAD)
    assert KeyRing.from_settings(kek=enc(KEY_A) + "=", kek_file=None).open(sealed, aad=AAD) == (
        SECRET
    )


def test_from_settings_needs_exactly_one_source(tmp_path: Path) -> None:
    with pytest.raises(VaultError, match="No key-encryption key") as info:
        KeyRing.from_settings(kek=None, kek_file=None)
    assert "new-kek" in info.value.hint
    path = key_file(tmp_path, f"a:{enc(KEY_A)}\n")
    with pytest.raises(VaultError, match="Both"):
        KeyRing.from_settings(kek=enc(KEY_A), kek_file=path)


@pytest.mark.parametrize("length", [16, 31, 33, 64])
def test_wrong_length_key_is_refused_without_echoing_it(length: int) -> None:
    bad = enc(bytes(range(length)))
    with pytest.raises(VaultError, match=f"is {length} bytes long; a KEK is 32 bytes") as info:
        KeyRing.from_settings(kek=bad, kek_file=None)
    assert bad not in str(info.value)


def test_non_base64_key_is_refused() -> None:
    with pytest.raises(VaultError, match="not valid base64url"):
        KeyRing.from_settings(kek="not*base64*at*all*" * 3, kek_file=None)


def test_key_file_last_line_is_active(tmp_path: Path) -> None:
    text = f"# rotated 2030-05-01\nold:{enc(KEY_A)}\n\n new : {enc(KEY_B)} \n"
    r = KeyRing.from_settings(kek=None, kek_file=key_file(tmp_path, text))
    assert r.ids == ("old", "new")
    assert r.active_id == "new"


@pytest.mark.parametrize("mode", [0o620, 0o604, 0o644, 0o660, 0o666])
def test_group_writable_or_world_accessible_key_file_is_refused(tmp_path: Path, mode: int) -> None:
    path = key_file(tmp_path, f"a:{enc(KEY_A)}\n", mode)
    with pytest.raises(
        VaultError, match="writable by group or readable or writable by others"
    ) as info:
        KeyRing.from_settings(kek=None, kek_file=path)
    assert f"chmod 600 {path}" in info.value.hint
    assert enc(KEY_A) not in str(info.value)


def test_owner_only_modes_are_accepted(tmp_path: Path) -> None:
    path = key_file(tmp_path, f"a:{enc(KEY_A)}\n", 0o400)
    assert KeyRing.from_settings(kek=None, kek_file=path).active_id == "a"


@pytest.mark.parametrize("mode", [0o440, 0o640])
def test_a_group_readable_key_file_is_accepted_as_kubernetes_mounts_secrets(
    tmp_path: Path, mode: int
) -> None:
    path = key_file(tmp_path, f"a:{enc(KEY_A)}\n", mode)
    assert KeyRing.from_settings(kek=None, kek_file=path).active_id == "a"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "holds no keys"),
        ("# only a comment\n", "holds no keys"),
        (f"{enc(KEY_A)}\n", "Line 1 .* not of the form"),
        (f"bad id:{enc(KEY_A)}\n", "not of the form"),
        (f"a:{enc(KEY_A)}\na:{enc(KEY_B)}\n", "appears twice"),
        (f"a:{enc(KEY_A)}\nb:{enc(KEY_B)[:-4]}\n", "'b' is 29 bytes long"),
    ],
)
def test_bad_key_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(VaultError, match=message):
        KeyRing.from_settings(kek=None, kek_file=key_file(tmp_path, text))


def test_missing_key_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(VaultError, match="does not exist"):
        KeyRing.from_settings(kek=None, kek_file=str(tmp_path / "absent"))
    directory = tmp_path / "dir"
    directory.mkdir(mode=0o700)
    with pytest.raises(VaultError, match="not a regular file"):
        KeyRing.from_settings(kek=None, kek_file=str(directory))


def test_generate_line(tmp_path: Path) -> None:
    line = KeyRing.generate_line()
    kek_id, _, encoded = line.partition(":")
    assert kek_id.startswith("kek-")
    assert len(base64.urlsafe_b64decode(encoded + "=")) == 32
    assert KeyRing.generate_line() != line
    assert KeyRing.generate_line("prod-2030").startswith("prod-2030:")
    with pytest.raises(VaultError, match="not allowed"):
        KeyRing.generate_line("no spaces")
    # A generated file is directly usable.
    lines = f"{line}\n{KeyRing.generate_line('next')}\n"
    assert KeyRing.from_settings(kek=None, kek_file=key_file(tmp_path, lines)).active_id == "next"


def test_ring_validates_its_keys() -> None:
    with pytest.raises(VaultError, match="not in the ring"):
        KeyRing({"a": KEY_A}, active_id="b")
    with pytest.raises(VaultError, match="5 bytes long"):
        KeyRing({"a": b"short"}, active_id="a")
    with pytest.raises(VaultError, match="not allowed"):
        KeyRing({"a b": KEY_A}, active_id="a b")
