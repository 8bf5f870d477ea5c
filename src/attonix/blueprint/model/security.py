"""The security section: TLS and the internal CA, encryption, access control, firewall, secrets."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from attonix.blueprint.model.common import Cidr, Model, Name, Port, RoleName, Url


def _admin_only() -> list[RoleName]:
    return ["admin"]


class CertificateAuthority(Model):
    """The internal CA that issues every service certificate."""

    name: Name
    common_name: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    key_algorithm: Literal["ecdsa-p256", "ecdsa-p384", "rsa-3072", "rsa-4096"] = "ecdsa-p256"
    validity_days: int = Field(3650, ge=1, le=36500)
    certificate_validity_days: int = Field(90, ge=1, le=825)
    renew_before_days: int = Field(30, ge=1, le=365)


class Acme(Model):
    """Public certificates for exposed hosts from an ACME server (e.g. Let's Encrypt)."""

    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$")]
    server: Url = "https://acme-v02.api.letsencrypt.org/directory"


class Tls(Model):
    """Transport security everywhere Attonix renders a listener."""

    min_version: Literal["1.0", "1.1", "1.2", "1.3"] = "1.3"
    ca: CertificateAuthority
    acme: Acme | None = None


class EncryptionAtRest(Model):
    """What is encrypted on disk."""

    databases: bool = True
    storage: bool = True
    secrets: bool = True
    provider: Literal["kms", "aesgcm", "secretbox", "aescbc"] = "kms"


class EncryptionInTransit(Model):
    """What is encrypted on the wire."""

    internal_tls: bool = True
    mutual_tls: bool = False
    overlay_encryption: bool = True


class Encryption(Model):
    """Encryption at rest and in transit."""

    at_rest: EncryptionAtRest = Field(default_factory=EncryptionAtRest)
    in_transit: EncryptionInTransit = Field(default_factory=EncryptionInTransit)


class RoleBinding(Model):
    """Grants one role to users and groups in the named environments."""

    role: RoleName
    environments: list[Name] = Field(min_length=1)
    users: list[Name] = Field(default_factory=list)
    groups: list[Name] = Field(default_factory=list)

    @model_validator(mode="after")
    def _subjects(self) -> RoleBinding:
        if not self.users and not self.groups:
            raise ValueError("a binding needs at least one user or group")
        return self


class AccessControl(Model):
    """Who may do what, per environment; MFA requirements per role."""

    mfa_required_for: list[RoleName] = Field(default_factory=_admin_only)
    session_minutes: int = Field(15, ge=1, le=1440)
    bindings: list[RoleBinding] = Field(default_factory=list)


PortRange = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,5}(-[0-9]{1,5})?$")]


class Egress(Model):
    """An outbound flow the zone's hosts may open to addresses outside the blueprint's zones
    (a registry, the Chef server, an object store); everything undeclared is dropped."""

    name: Name
    cidrs: list[Cidr] = Field(min_length=1)
    ports: list[Port | PortRange] = Field(min_length=1)
    protocol: Literal["tcp", "udp"] = "tcp"


class FirewallZone(Model):
    """A network zone: address ranges, and the hosts and services placed in it."""

    name: Name
    cidrs: list[Cidr] = Field(default_factory=list)
    description: str = Field("", max_length=500)
    egress: list[Egress] = Field(
        default_factory=list,
        description="Outbound flows to outside addresses; flows to other zones come from rules.",
    )


class FirewallRule(Model):
    """Allows (or denies) traffic from one zone to another on some ports."""

    name: Name
    source: Name = Field(description="A zone name, or 'internet' for any address.")
    destination: Name = Field(description="A zone name.")
    ports: list[Port | PortRange] = Field(min_length=1)
    protocol: Literal["tcp", "udp"] = "tcp"
    action: Literal["allow", "deny"] = "allow"


class Firewall(Model):
    """Zones and the flows allowed between them; everything else follows default_policy."""

    default_policy: Literal["deny", "allow"] = "deny"
    management_zone: Name | None = Field(
        None,
        description="The zone operators manage hosts from (bastions, VPN): every host admits SSH "
        "from it, and check fails when a host would not.",
    )
    zones: list[FirewallZone] = Field(default_factory=list)
    rules: list[FirewallRule] = Field(default_factory=list)


class Secret(Model):
    """A secret by name only: its value lives in the vault (or env/file for the CLI)."""

    name: Name
    description: str = Field("", max_length=500)
    rotation_days: int = Field(90, ge=1, le=3650)
    keys: list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]+$")]] = Field(
        default_factory=lambda: ["value"]
    )


def secret_env_var(secret: str, key: str) -> str:
    """The environment variable that holds ``key`` of ``secret``: ``ATTONIX_SECRET_<NAME>_<KEY>``.

    One convention for the CLI's environment secret source and the rendered CI pipelines.
    """
    return "_".join(
        ("ATTONIX_SECRET", *(t.upper().replace("-", "_").replace(".", "_") for t in (secret, key)))
    )


class Security(Model):
    """Cryptography, access control, firewalls and encryption."""

    tls: Tls
    encryption: Encryption = Field(default_factory=Encryption)
    access_control: AccessControl = Field(default_factory=AccessControl)
    firewall: Firewall = Field(default_factory=Firewall)
    secrets: list[Secret] = Field(default_factory=list)
