"""The users section: identity provider, password policy, groups and accounts."""

from typing import Annotated, Literal, Self

from pydantic import Field, StringConstraints, model_validator

from attonix.blueprint.model.common import HostRole, Model, Name, RoleName, Url

SshPublicKey = Annotated[
    str,
    StringConstraints(
        pattern=r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com"
        r"|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\n]*)?$",
        max_length=16384,
    ),
]


class IdentityProvider(Model):
    """Where user identities come from."""

    kind: Literal["local", "oidc"] = Field(
        "local",
        description="'local' (passwords kept by the Central Server) or 'oidc' (an OpenID "
        "Connect provider).",
    )
    issuer: Url | None = Field(
        None,
        description="The OIDC issuer URL (kind oidc).",
        examples=["https://login.attonixcorp.example/realms/staff"],
    )
    client_id: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = Field(
        None, description="The OIDC client id (kind oidc)."
    )
    client_secret: Name | None = Field(
        None,
        description="The secret (declared under security.secrets) with the OIDC client secret.",
    )

    @model_validator(mode="after")
    def _oidc(self) -> Self:
        if self.kind == "oidc" and (self.issuer is None or self.client_id is None):
            raise ValueError("an oidc identity provider needs 'issuer' and 'client_id'")
        return self


class PasswordPolicy(Model):
    """Rules for local passwords."""

    min_length: int = Field(12, ge=8, le=256, description="Fewest characters (8 to 256).")
    reject_breached: bool = Field(True, description="Refuse passwords found in known breaches.")


class Group(Model):
    """A group of users; bindings grant roles to groups."""

    name: Name = Field(description="The group's name (a DNS label).", examples=["sre"])
    description: str = Field("", max_length=500, description="Free text (at most 500).")


class Account(Model):
    """A person who logs into the Central Server."""

    name: Name = Field(
        description="The login name (a DNS label); also the person's login on hosts.",
        examples=["alice"],
    )
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$", max_length=254)] = Field(
        description="The person's e-mail address.", examples=["alice@attonixcorp.example"]
    )
    full_name: Annotated[str, StringConstraints(max_length=200)] = Field(
        "", description="The person's name as shown in the console."
    )
    groups: list[Name] = Field(
        default_factory=list, description="Groups (users.groups[].name) the person belongs to."
    )
    disabled: bool = Field(
        False, description="The account may not sign in; its sessions and tokens end."
    )
    ssh_keys: list[SshPublicKey] = Field(
        default_factory=list,
        description="OpenSSH public keys of the person's own logins on the hosts that "
        "users.host_access grants their roles.",
    )


def _all_hosts() -> list[HostRole | Literal["all"]]:
    return ["all"]


class HostAccess(Model):
    """Which hosts the accounts of one role log into, and whether they may use sudo there."""

    role: RoleName = Field(description="admin, operator, developer or auditor.")
    hosts_with: list[HostRole | Literal["all"]] = Field(
        default_factory=_all_hosts,
        description="Host roles (hosts[].roles) whose hosts they log into, or 'all'.",
    )
    sudo: bool = Field(False, description="They may use sudo there; needs 'sudo_reason'.")
    sudo_reason: Annotated[str, StringConstraints(max_length=500)] = Field(
        "", description="Why this role needs root on these hosts (written into sudoers)."
    )

    @model_validator(mode="after")
    def _reason(self) -> Self:
        if self.sudo and len(self.sudo_reason.strip()) < 10:
            raise ValueError("'sudo: true' needs a 'sudo_reason' of at least 10 characters")
        return self


def _admin_host_access() -> list[HostAccess]:
    return [
        HostAccess(
            role="admin",
            sudo=True,
            sudo_reason="administrators of this environment maintain every host",
        )
    ]


class Users(Model):
    """User management: identity provider, password and MFA policy, accounts and groups."""

    identity_provider: IdentityProvider = Field(
        default_factory=IdentityProvider, description="Where identities come from."
    )
    password_policy: PasswordPolicy = Field(
        default_factory=PasswordPolicy,
        description="Length and breach rules for local passwords.",
    )
    groups: list[Group] = Field(default_factory=list, description="Groups of accounts.")
    accounts: list[Account] = Field(default_factory=list, description="The people who sign in.")
    host_access: list[HostAccess] = Field(
        default_factory=_admin_host_access,
        description="Logins on hosts per role; each person gets their own, never a shared one.",
    )
