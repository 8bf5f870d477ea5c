"""The internal CA: chain verification, extensions, expiry capping, renewal."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from attonix.server.security.errors import PkiError
from attonix.server.security.pki import (
    KeyAlgorithm,
    KeyPair,
    certificate_info,
    create_ca,
    issue_certificate,
    needs_renewal,
)

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def ca() -> KeyPair:
    return create_ca(
        common_name="Attonix Internal CA", key_algorithm="ecdsa-p256", validity_days=3650, now=NOW
    )


@pytest.fixture(scope="module")
def leaf(ca: KeyPair) -> KeyPair:
    return issue_certificate(
        ca,
        common_name="api",
        dns_names=["api.prod.svc", "API.example.org.", "10.0.0.7", "::1", "*.api.example.org"],
        validity_days=90,
        now=NOW,
    )


def load(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def test_ca_extensions(ca: KeyPair) -> None:
    cert = load(ca.cert_pem)
    assert cert.subject == cert.issuer
    assert cert.subject.rfc4514_string() == "CN=Attonix Internal CA"
    cert.verify_directly_issued_by(cert)
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca is True
    assert constraints.value.path_length == 0
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    assert cert.not_valid_before_utc == NOW - timedelta(minutes=5)
    assert cert.not_valid_after_utc == NOW + timedelta(days=3650)


def test_private_key_matches_and_stays_out_of_repr(ca: KeyPair) -> None:
    key = serialization.load_pem_private_key(ca.key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert ca.key_pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    text = repr(ca)
    assert text == "KeyPair(subject='CN=Attonix Internal CA')"
    assert b"PRIVATE" not in text.encode()


def test_leaf_chain_sans_and_eku(ca: KeyPair, leaf: KeyPair) -> None:
    ca_cert, cert = load(ca.cert_pem), load(leaf.cert_pem)
    cert.verify_directly_issued_by(ca_cert)
    assert cert.issuer == ca_cert.subject
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [
        "api.prod.svc",
        "api.example.org",
        "*.api.example.org",
    ]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["10.0.0.7", "::1"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca is False
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign and not usage.key_encipherment
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ca_ski.digest
    assert cert.not_valid_after_utc == NOW + timedelta(days=90)


def test_leaf_is_not_signed_by_another_ca(leaf: KeyPair) -> None:
    other = create_ca(common_name="Other CA", key_algorithm="ecdsa-p256", validity_days=30, now=NOW)
    with pytest.raises(ValueError):
        load(leaf.cert_pem).verify_directly_issued_by(load(other.cert_pem))


def test_not_after_is_capped_at_the_ca(ca: KeyPair) -> None:
    short_ca = create_ca(
        common_name="Short CA", key_algorithm="ecdsa-p256", validity_days=10, now=NOW
    )
    cert = load(
        issue_certificate(
            short_ca, common_name="svc", dns_names=["svc"], validity_days=365, now=NOW
        ).cert_pem
    )
    assert cert.not_valid_after_utc == load(short_ca.cert_pem).not_valid_after_utc
    assert cert.not_valid_after_utc == NOW + timedelta(days=10)
    # Not-before never precedes the CA's either.
    assert cert.not_valid_before_utc >= load(short_ca.cert_pem).not_valid_before_utc


def test_expired_ca_cannot_issue() -> None:
    short_ca = create_ca(
        common_name="Short CA", key_algorithm="ecdsa-p256", validity_days=1, now=NOW
    )
    with pytest.raises(PkiError, match="CA certificate has expired"):
        issue_certificate(
            short_ca,
            common_name="svc",
            dns_names=["svc"],
            validity_days=1,
            now=NOW + timedelta(days=2),
        )


def test_a_leaf_cannot_act_as_ca(leaf: KeyPair) -> None:
    with pytest.raises(PkiError, match="not a CA certificate"):
        issue_certificate(leaf, common_name="x", dns_names=["x"], validity_days=1, now=NOW)


def test_mismatched_ca_key_is_refused(ca: KeyPair) -> None:
    other = create_ca(common_name="Other CA", key_algorithm="ecdsa-p256", validity_days=30, now=NOW)
    mixed = KeyPair(cert_pem=ca.cert_pem, key_pem=other.key_pem)
    with pytest.raises(PkiError, match="does not belong"):
        issue_certificate(mixed, common_name="x", dns_names=["x"], validity_days=1, now=NOW)
    with pytest.raises(PkiError, match="not a readable unencrypted PEM key"):
        issue_certificate(
            KeyPair(cert_pem=ca.cert_pem, key_pem=b"junk"),
            common_name="x",
            dns_names=["x"],
            validity_days=1,
            now=NOW,
        )


@pytest.mark.parametrize(
    "name",
    [
        "",
        "bad name",
        "-leading.dash",
        "trailing-.dash",
        "a..b",
        "ünïcode.org",
        "a" * 64 + ".org",
        "*.*.x",
    ],
)
def test_invalid_san_is_refused(ca: KeyPair, name: str) -> None:
    with pytest.raises(PkiError, match="not a valid DNS name"):
        issue_certificate(
            ca, common_name="svc", dns_names=["ok.example", name], validity_days=1, now=NOW
        )


def test_bad_arguments(ca: KeyPair) -> None:
    with pytest.raises(PkiError, match="at least one DNS name"):
        issue_certificate(ca, common_name="svc", dns_names=[], validity_days=1, now=NOW)
    with pytest.raises(PkiError, match="at least one day"):
        issue_certificate(ca, common_name="svc", dns_names=["svc"], validity_days=0, now=NOW)
    with pytest.raises(PkiError, match="1 to 64 characters"):
        create_ca(common_name="x" * 65, key_algorithm="ecdsa-p256", validity_days=1, now=NOW)
    with pytest.raises(PkiError, match="Unsupported key algorithm"):
        create_ca(common_name="x", key_algorithm="dsa-1024", validity_days=1, now=NOW)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("algorithm", "key_type", "size", "hash_name"),
    [
        ("ecdsa-p384", ec.EllipticCurvePrivateKey, 384, "sha384"),
        ("rsa-3072", rsa.RSAPrivateKey, 3072, "sha256"),
        ("rsa-4096", rsa.RSAPrivateKey, 4096, "sha256"),
    ],
)
def test_key_algorithms(algorithm: KeyAlgorithm, key_type: type, size: int, hash_name: str) -> None:
    ca = create_ca(common_name="CA", key_algorithm=algorithm, validity_days=30, now=NOW)
    key = serialization.load_pem_private_key(ca.key_pem, password=None)
    assert isinstance(key, key_type)
    assert key.key_size == size  # type: ignore[attr-defined]
    ca_cert = load(ca.cert_pem)
    assert ca_cert.signature_hash_algorithm is not None
    assert ca_cert.signature_hash_algorithm.name == hash_name
    # Leaves of the other family too (RSA key generation is the slow part, so one RSA leaf).
    leaf_algorithm: KeyAlgorithm = "rsa-3072" if algorithm == "ecdsa-p384" else "ecdsa-p256"
    leaf = issue_certificate(
        ca,
        common_name="svc",
        dns_names=["svc"],
        validity_days=5,
        key_algorithm=leaf_algorithm,
        now=NOW,
    )
    cert = load(leaf.cert_pem)
    cert.verify_directly_issued_by(ca_cert)
    # keyEncipherment only for RSA leaves (TLS 1.2 RSA key exchange).
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_encipherment is (leaf_algorithm == "rsa-3072")


def test_needs_renewal(leaf: KeyPair) -> None:
    expiry = NOW + timedelta(days=90)
    assert not needs_renewal(leaf.cert_pem, renew_before_days=30, now=NOW)
    assert not needs_renewal(leaf.cert_pem, renew_before_days=30, now=expiry - timedelta(days=31))
    assert needs_renewal(leaf.cert_pem, renew_before_days=30, now=expiry - timedelta(days=30))
    assert needs_renewal(leaf.cert_pem, renew_before_days=0, now=expiry)
    assert needs_renewal(leaf.cert_pem, renew_before_days=30, now=expiry + timedelta(days=400))


def test_certificate_info(ca: KeyPair, leaf: KeyPair) -> None:
    info = certificate_info(leaf.cert_pem)
    cert = load(leaf.cert_pem)
    der = cert.public_bytes(serialization.Encoding.DER)
    assert info["subject"] == "CN=api"
    assert info["issuer"] == "CN=Attonix Internal CA"
    # Input order is kept, IP addresses included.
    assert info["sans"] == [
        "api.prod.svc",
        "api.example.org",
        "10.0.0.7",
        "::1",
        "*.api.example.org",
    ]
    assert info["not_before"] == NOW - timedelta(minutes=5)
    assert info["not_after"] == NOW + timedelta(days=90)
    assert int(info["serial"], 16) == cert.serial_number
    digest = hashlib.sha256(der).hexdigest().upper()
    assert info["sha256_fingerprint"] == ":".join(digest[k : k + 2] for k in range(0, 64, 2))
    assert info["is_ca"] is False
    assert certificate_info(ca.cert_pem)["is_ca"] is True
    assert certificate_info(ca.cert_pem)["sans"] == []


def test_unreadable_certificate() -> None:
    with pytest.raises(PkiError, match="not a readable PEM certificate"):
        certificate_info(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(PkiError, match="not a readable PEM certificate"):
        needs_renewal(b"nope", renew_before_days=1)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_openssl_verifies_the_chain(tmp_path: Path) -> None:
    # Real dates: openssl checks validity against the wall clock.
    ca = create_ca(common_name="Attonix Internal CA", key_algorithm="ecdsa-p256", validity_days=30)
    leaf = issue_certificate(
        ca, common_name="api", dns_names=["api.prod.svc", "10.0.0.7"], validity_days=7
    )
    other = create_ca(
        common_name="Attonix Internal CA", key_algorithm="ecdsa-p256", validity_days=30
    )
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    (tmp_path / "other.pem").write_bytes(other.cert_pem)
    (tmp_path / "leaf.pem").write_bytes(leaf.cert_pem)

    def verify(ca_file: str, *extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "openssl",
                "verify",
                "-x509_strict",
                "-CAfile",
                str(tmp_path / ca_file),
                *extra,
                str(tmp_path / "leaf.pem"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )

    for purpose in ("sslserver", "sslclient"):
        result = verify("ca.pem", "-purpose", purpose)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.strip().endswith(": OK")
    result = verify("ca.pem", "-verify_hostname", "api.prod.svc")
    assert result.returncode == 0, result.stdout + result.stderr
    result = verify("ca.pem", "-verify_hostname", "db.prod.svc")
    assert result.returncode != 0
    # Same subject, other key: openssl must refuse.
    result = verify("other.pem")
    assert result.returncode != 0
