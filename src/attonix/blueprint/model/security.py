"""The security section: TLS and the internal CA, encryption, access control, firewall, secrets."""

from typing import Annotated, Literal, Self

from pydantic import Field, StringConstraints, model_validator

from attonix.blueprint.model.common import Cidr, Model, Name, Port, RoleName, Url


def _admin_only() -> list[RoleName]:
    return ["admin"]


class CertificateAuthority(Model):
    """The internal CA that issues every service certificate."""

    name: Name = Field(description="The CA's name (a DNS label).", examples=["attonix-ca"])
    common_name: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="The CA certificate's subject common name (1 to 64 characters).",
        examples=["Attonixcorp Internal CA"],
    )
    key_algorithm: Literal["ecdsa-p256", "ecdsa-p384", "rsa-3072", "rsa-4096"] = Field(
        "ecdsa-p256", description="Key type of the CA and the certificates it issues."
    )
    validity_days: int = Field(
        3650, ge=1, le=36500, description="Lifetime of the CA certificate in days."
    )
    certificate_validity_days: int = Field(
        90,
        ge=1,
        le=825,
        description="Lifetime of each service certificate in days (1 to 825).",
    )
    renew_before_days: int = Field(
        30,
        ge=1,
        le=365,
        description="Days before expiry a service certificate is renewed; fewer than its lifetime.",
    )


class Acme(Model):
    """Public certificates for exposed hosts from an ACME server (e.g. Let's Encrypt)."""

    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$")] = Field(
        description="The account address the ACME server sends expiry warnings to.",
        examples=["pki@attonixcorp.example"],
    )
    server: Url = Field(
        "https://acme-v02.api.letsencrypt.org/directory",
        description="The ACME directory URL (Let's Encrypt production by default).",
    )


class Tls(Model):
    """Transport security everywhere Attonix renders a listener."""

    min_version: Literal["1.0", "1.1", "1.2", "1.3"] = Field(
        "1.3",
        description="The lowest TLS version listeners accept; keep '1.2' or '1.3' (the older "
        "ones are broken).",
    )
    ca: CertificateAuthority = Field(
        description="The internal CA: its name, key type and certificate lifetimes."
    )
    acme: Acme | None = Field(
        None,
        description="Public certificates for exposed hosts from ACME; internal CA only if unset.",
    )


class EncryptionAtRest(Model):
    """What is encrypted on disk."""

    databases: bool = Field(
        True, description="Database data is encrypted on disk; check (ATX044) flags false."
    )
    storage: bool = Field(
        True, description="Volumes and Ceph OSDs are encrypted; check (ATX044) flags false."
    )
    secrets: bool = Field(
        True, description="Stored secrets are encrypted; check (ATX044) flags false."
    )
    provider: Literal["kms", "aesgcm", "secretbox", "aescbc"] = Field(
        "kms",
        description="How secrets are encrypted at rest: kms (an external key service), "
        "aesgcm, secretbox, or aescbc (no integrity protection; check flags it).",
    )


class EncryptionInTransit(Model):
    """What is encrypted on the wire."""

    internal_tls: bool = Field(True, description="TLS between services inside the data center.")
    mutual_tls: bool = Field(
        False, description="Services also present certificates to each other (mTLS)."
    )
    overlay_encryption: bool = Field(
        True, description="Encrypt overlay networks (Swarm overlays, Ceph msgr2)."
    )


class Encryption(Model):
    """Encryption at rest and in transit."""

    at_rest: EncryptionAtRest = Field(
        default_factory=EncryptionAtRest, description="What is encrypted on disk (all by default)."
    )
    in_transit: EncryptionInTransit = Field(
        default_factory=EncryptionInTransit,
        description="What is encrypted on the wire (all but mutual TLS by default).",
    )


class RoleBinding(Model):
    """Grants one role to users and groups in the named environments."""

    role: RoleName = Field(description="admin, operator, developer or auditor.")
    environments: list[Name] = Field(
        min_length=1,
        description="Environments the role holds in (at least one), e.g. metadata.environment.",
        examples=[["prod"]],
    )
    users: list[Name] = Field(
        default_factory=list, description="Accounts (users.accounts[].name) given the role."
    )
    groups: list[Name] = Field(
        default_factory=list, description="Groups (users.groups[].name) given the role."
    )

    @model_validator(mode="after")
    def _subjects(self) -> Self:
        if not self.users and not self.groups:
            raise ValueError("a binding needs at least one user or group")
        return self


class AccessControl(Model):
    """Who may do what, per environment; MFA requirements per role."""

    mfa_required_for: list[RoleName] = Field(
        default_factory=_admin_only,
        description="Roles whose holders must sign in with a second factor (TOTP).",
    )
    session_minutes: int = Field(
        15, ge=1, le=1440, description="Minutes an access token lasts (1 to 1440)."
    )
    bindings: list[RoleBinding] = Field(
        default_factory=list, description="Who holds which role in which environments."
    )


PortRange = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,5}(-[0-9]{1,5})?$")]


class Egress(Model):
    """An outbound flow the zone's hosts may open to addresses outside the blueprint's zones
    (a registry, the Chef server, an object store); everything undeclared is dropped."""

    name: Name = Field(description="The flow's name (a DNS label).", examples=["registry"])
    cidrs: list[Cidr] = Field(
        min_length=1, description="Destination address ranges (CIDR).", examples=[["0.0.0.0/0"]]
    )
    ports: list[Port | PortRange] = Field(
        min_length=1,
        description="Destination ports: numbers or ranges written 'from-to'.",
        examples=[[443, "8000-8080"]],
    )
    protocol: Literal["tcp", "udp"] = Field("tcp", description="tcp or udp.")


class FirewallZone(Model):
    """A network zone: address ranges, and the hosts and services placed in it."""

    name: Name = Field(description="The zone's name (a DNS label).", examples=["dmz"])
    cidrs: list[Cidr] = Field(
        default_factory=list,
        description="The zone's address ranges (CIDR); a host is in the zone its address falls in.",
        examples=[["10.10.0.0/24"]],
    )
    description: str = Field("", max_length=500, description="Free text (at most 500).")
    egress: list[Egress] = Field(
        default_factory=list,
        description="Outbound flows to outside addresses; flows to other zones come from rules.",
    )


class FirewallRule(Model):
    """Allows (or denies) traffic from one zone to another on some ports."""

    name: Name = Field(description="The rule's name (a DNS label).", examples=["web-to-app"])
    source: Name = Field(description="A zone name, or 'internet' for any address.")
    destination: Name = Field(description="A zone name.")
    ports: list[Port | PortRange] = Field(
        min_length=1,
        description="Destination ports: numbers or ranges written 'from-to'.",
        examples=[[443], ["30000-32767"]],
    )
    protocol: Literal["tcp", "udp"] = Field("tcp", description="tcp or udp.")
    action: Literal["allow", "deny"] = Field("allow", description="allow or deny.")


class Firewall(Model):
    """Zones and the flows allowed between them; everything else follows default_policy."""

    default_policy: Literal["deny", "allow"] = Field(
        "deny", description="What happens to traffic no rule names; check wants 'deny'."
    )
    management_zone: Name | None = Field(
        None,
        description="The zone operators manage hosts from (bastions, VPN): every host admits SSH "
        "from it, and check fails when a host would not.",
    )
    zones: list[FirewallZone] = Field(
        default_factory=list, description="Network zones and their address ranges."
    )
    rules: list[FirewallRule] = Field(
        default_factory=list, description="Flows allowed (or denied) between zones."
    )

    def allows(self, source: str | None, destination: str | None) -> bool:
        """Whether a workload in zone ``source`` may open connections to one in
        ``destination``: an allow rule for the pair, or ``default_policy: allow`` without a
        deny rule for it. A side without a zone is not governed by the zone rules."""
        if source is None or destination is None:
            return True
        rules = [r for r in self.rules if (r.source, r.destination) == (source, destination)]
        if self.default_policy == "allow":
            return not any(r.action == "deny" for r in rules)
        return any(r.action == "allow" for r in rules)


class Secret(Model):
    """A secret by name only: its value lives in the vault (or env/file for the CLI)."""

    name: Name = Field(
        description="The secret's name (a DNS label); everything that needs it names it.",
        examples=["orders-db-credentials"],
    )
    description: str = Field(
        "", max_length=500, description="What the secret is for (at most 500)."
    )
    rotation_days: int = Field(
        90, ge=1, le=3650, description="Days after which the value should be rotated."
    )
    keys: list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]+$")]] = Field(
        default_factory=lambda: ["value"],
        description="The keys the secret holds (letters, digits, '.', '_', '-'); for the CLI "
        "each comes from ATTONIX_SECRET_<NAME>_<KEY>.",
        examples=[["username", "password"]],
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

    tls: Tls = Field(description="TLS versions, the internal CA and ACME.")
    encryption: Encryption = Field(
        default_factory=Encryption,
        description="Encryption at rest and in transit; every switch is on by default.",
    )
    access_control: AccessControl = Field(
        default_factory=AccessControl,
        description="Roles per environment, MFA and session length on the Central Server.",
    )
    firewall: Firewall = Field(
        default_factory=Firewall, description="Zones and the flows allowed between them."
    )
    secrets: list[Secret] = Field(
        default_factory=list,
        description="Every secret the blueprint uses, by name; values live in the vault.",
    )
