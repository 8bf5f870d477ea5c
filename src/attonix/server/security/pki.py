"""The internal certificate authority: a self-signed CA and the service certificates it issues.

The CA may sign end-entity certificates only (path length 0), so a leaked service key can never
mint further certificates. Issued certificates serve both TLS ends (serverAuth and clientAuth)
because services talk mutual TLS to each other, and never outlive the CA that signed them.
Validity starts five minutes in the past so a peer whose clock runs slightly behind accepts a
certificate issued a moment ago.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, TypedDict

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from attonix.server.security.errors import PkiError

KeyAlgorithm = Literal["ecdsa-p256", "ecdsa-p384", "rsa-3072", "rsa-4096"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

CLOCK_SKEW = timedelta(minutes=5)
_DNS_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DNS_NAME_RE = re.compile(rf"^(\*\.)?{_DNS_LABEL}(\.{_DNS_LABEL})*$")


@dataclass(frozen=True)
class KeyPair:
    """A PEM certificate and its unencrypted PKCS#8 PEM private key; the key stays out of repr."""

    cert_pem: bytes
    key_pem: bytes = field(repr=False)

    def __repr__(self) -> str:
        """Show the certificate's subject only."""
        try:
            subject = x509.load_pem_x509_certificate(self.cert_pem).subject.rfc4514_string()
        except ValueError:
            subject = "<unreadable>"
        return f"KeyPair(subject={subject!r})"


class CertificateInfo(TypedDict):
    """What the console shows about a certificate."""

    subject: str
    issuer: str
    sans: list[str]
    not_before: datetime
    not_after: datetime
    serial: str
    sha256_fingerprint: str
    is_ca: bool


def _now(now: datetime | None) -> datetime:
    """Return ``now`` (timezone-aware) or the current UTC time."""
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


def _new_key(algorithm: KeyAlgorithm) -> PrivateKey:
    """Generate a private key for one of the supported algorithms."""
    if algorithm == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "ecdsa-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if algorithm == "rsa-3072":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    if algorithm == "rsa-4096":
        return rsa.generate_private_key(public_exponent=65537, key_size=4096)
    raise PkiError(
        f"Unsupported key algorithm {algorithm!r}.",
        hint="Use one of ecdsa-p256, ecdsa-p384, rsa-3072, rsa-4096.",
    )


def _hash_for(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    """SHA-384 for P-384 keys (matching strength), SHA-256 otherwise."""
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def _key_pem(key: PrivateKey) -> bytes:
    """Serialise a private key as unencrypted PKCS#8 PEM (it is stored sealed by the vault)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _check_validity(validity_days: int) -> None:
    """Refuse a validity that is not a positive number of days."""
    if validity_days < 1:
        raise PkiError(
            f"A certificate must be valid for at least one day, not {validity_days}.",
            hint="Set validity_days to a positive number.",
        )


def _name(common_name: str) -> x509.Name:
    """A subject name with just a common name."""
    if not common_name or len(common_name) > 64:
        raise PkiError(
            "A certificate common name must be 1 to 64 characters long.",
            hint="Use a short name; put long host names in the subject alternative names.",
        )
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def create_ca(
    *,
    common_name: str,
    key_algorithm: KeyAlgorithm,
    validity_days: int,
    now: datetime | None = None,
) -> KeyPair:
    """Create a self-signed CA that may sign end-entity certificates only (path length 0)."""
    _check_validity(validity_days)
    start = _now(now)
    key = _new_key(key_algorithm)
    name = _name(common_name)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - CLOCK_SKEW)
        .not_valid_after(start + timedelta(days=validity_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, _hash_for(key))
    )
    return KeyPair(cert_pem=cert.public_bytes(serialization.Encoding.PEM), key_pem=_key_pem(key))


def _load_cert(cert_pem: bytes) -> x509.Certificate:
    """Parse a PEM certificate or raise :class:`PkiError`."""
    try:
        return x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise PkiError(
            "The certificate is not a readable PEM certificate.",
            hint="Pass the PEM text that starts with -----BEGIN CERTIFICATE-----.",
        ) from None


def _spki(public_key: CertificatePublicKeyTypes) -> bytes:
    """DER SubjectPublicKeyInfo, to compare public keys of any type."""
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _load_ca(ca: KeyPair) -> tuple[x509.Certificate, PrivateKey]:
    """Parse the CA's certificate and key, checking that they belong together and may sign."""
    cert = _load_cert(ca.cert_pem)
    try:
        key = serialization.load_pem_private_key(ca.key_pem, password=None)
    except (ValueError, TypeError):
        raise PkiError(
            "The CA private key is not a readable unencrypted PEM key.",
            hint="Check that the CA key was stored and unsealed intact.",
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise PkiError("The CA private key is neither ECDSA nor RSA.")
    if _spki(key.public_key()) != _spki(cert.public_key()):
        raise PkiError("The CA private key does not belong to the CA certificate.")
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise PkiError("The certificate given as CA is not a CA certificate.")
    return cert, key


def _san_entries(dns_names: Sequence[str]) -> list[x509.GeneralName]:
    """Turn names into SAN entries: IP literals as IP addresses, the rest as DNS names."""
    entries: list[x509.GeneralName] = []
    for raw in dns_names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(raw)))
            continue
        except ValueError:
            pass
        name = raw.lower().rstrip(".")
        if len(name) > 253 or not _DNS_NAME_RE.fullmatch(name):
            raise PkiError(
                f"{raw!r} is not a valid DNS name or IP address for a certificate.",
                hint="Use ASCII host names (punycode for international ones), e.g. api.example.org",
            )
        entries.append(x509.DNSName(name))
    return entries


def issue_certificate(
    ca: KeyPair,
    *,
    common_name: str,
    dns_names: Sequence[str],
    validity_days: int,
    key_algorithm: KeyAlgorithm = "ecdsa-p256",
    now: datetime | None = None,
) -> KeyPair:
    """Issue a TLS server-and-client certificate for ``dns_names``, capped at the CA's expiry."""
    _check_validity(validity_days)
    if not dns_names:
        raise PkiError(
            "A service certificate needs at least one DNS name or IP address.",
            hint="List the names clients use to reach the service.",
        )
    start = _now(now)
    ca_cert, ca_key = _load_ca(ca)
    if start >= ca_cert.not_valid_after_utc:
        raise PkiError(
            "The CA certificate has expired; it cannot issue certificates.",
            hint="Create a new CA and distribute it before re-issuing service certificates.",
        )
    sans = _san_entries(dns_names)
    key = _new_key(key_algorithm)
    is_rsa = isinstance(key, rsa.RSAPrivateKey)
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(max(start - CLOCK_SKEW, ca_cert.not_valid_before_utc))
        .not_valid_after(min(start + timedelta(days=validity_days), ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                # RSA key exchange (TLS 1.2 without ECDHE) needs keyEncipherment.
                key_encipherment=is_rsa,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, _hash_for(ca_key))
    )
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (InvalidSignature, ValueError, TypeError):  # pragma: no cover - a library fault
        raise PkiError("The issued certificate does not verify against its CA.") from None
    return KeyPair(cert_pem=cert.public_bytes(serialization.Encoding.PEM), key_pem=_key_pem(key))


def needs_renewal(cert_pem: bytes, *, renew_before_days: int, now: datetime | None = None) -> bool:
    """Tell whether a certificate expires within ``renew_before_days`` of ``now``, or has."""
    cert = _load_cert(cert_pem)
    return _now(now) >= cert.not_valid_after_utc - timedelta(days=renew_before_days)


def certificate_info(cert_pem: bytes) -> CertificateInfo:
    """Describe a certificate: subject, issuer, SANs, validity, serial, SHA-256 fingerprint."""
    cert = _load_cert(cert_pem)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = [str(entry.value) for entry in san]
    except x509.ExtensionNotFound:
        sans = []
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        sans=sans,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        serial=f"{cert.serial_number:x}",
        sha256_fingerprint=cert.fingerprint(hashes.SHA256()).hex(":").upper(),
        is_ca=is_ca,
    )
