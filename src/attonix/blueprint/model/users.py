"""The users section: identity provider, password policy, groups and accounts."""

from __future__ import annotations

from typing import Annotated, Literal

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

    kind: Literal["local", "oidc"] = "local"
    issuer: Url | None = None
    client_id: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    client_secret: Name | None = Field(None, description="A declared secret.")

    @model_validator(mode="after")
    def _oidc(self) -> IdentityProvider:
        if self.kind == "oidc" and (self.issuer is None or self.client_id is None):
            raise ValueError("an oidc identity provider needs 'issuer' and 'client_id'")
        return self


class PasswordPolicy(Model):
    """Rules for local passwords."""

    min_length: int = Field(12, ge=8, le=256)
    reject_breached: bool = True


class Group(Model):
    """A group of users; bindings grant roles to groups."""

    name: Name
    description: str = Field("", max_length=500)


class Account(Model):
    """A person who logs into the Central Server."""

    name: Name
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$", max_length=254)]
    full_name: Annotated[str, StringConstraints(max_length=200)] = ""
    groups: list[Name] = Field(default_factory=list)
    disabled: bool = False
    ssh_keys: list[SshPublicKey] = Field(
        default_factory=list,
        description="OpenSSH public keys of the person's own logins on the hosts that "
        "users.host_access grants their roles.",
    )


def _all_hosts() -> list[HostRole | Literal["all"]]:
    return ["all"]


class HostAccess(Model):
    """Which hosts the accounts of one role log into, and whether they may use sudo there."""

    role: RoleName
    hosts_with: list[HostRole | Literal["all"]] = Field(default_factory=_all_hosts)
    sudo: bool = False
    sudo_reason: Annotated[str, StringConstraints(max_length=500)] = Field(
        "", description="Why this role needs root on these hosts (written into sudoers)."
    )

    @model_validator(mode="after")
    def _reason(self) -> HostAccess:
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

    identity_provider: IdentityProvider = Field(default_factory=IdentityProvider)
    password_policy: PasswordPolicy = Field(default_factory=PasswordPolicy)
    groups: list[Group] = Field(default_factory=list)
    accounts: list[Account] = Field(default_factory=list)
    host_access: list[HostAccess] = Field(
        default_factory=_admin_host_access,
        description="Logins on hosts per role; each person gets their own, never a shared one.",
    )
