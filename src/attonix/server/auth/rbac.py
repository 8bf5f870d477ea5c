"""Roles and permissions: which role may do what, per environment; deny by default.

A permission is either *environment-scoped* (the route names an ``{env}``; the caller needs a
role granting it in that environment, or global admin) or *global* (only global admins,
except ``audit:read`` which any role holding it in some environment also grants).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Permission(enum.StrEnum):
    """Every permission an endpoint can require."""

    PUBLIC = "public"  # no credentials (health, login)
    SELF = "self"  # any signed-in principal, even one that must still enrol MFA
    ENV_LIST = "env:list"  # any fully signed-in principal; sees only its environments
    # A signed-in person only: a token minting tokens could widen its own scopes.
    TOKEN_CREATE = "token:create"  # noqa: S105
    ENV_CREATE = "env:create"
    ENV_READ = "env:read"
    BLUEPRINT_READ = "blueprint:read"
    BLUEPRINT_WRITE = "blueprint:write"
    DEPLOY_READ = "deploy:read"
    DEPLOY_REQUEST = "deploy:request"
    DEPLOY_APPROVE = "deploy:approve"
    SECRET_READ = "secret:read"  # noqa: S105  # names and metadata only; values are never readable
    SECRET_WRITE = "secret:write"  # noqa: S105
    CERT_READ = "cert:read"
    # Cluster connections: endpoints (read), and storing credentials (an environment's admins).
    CONNECTION_READ = "connection:read"
    CONNECTION_WRITE = "connection:write"
    CERT_WRITE = "cert:write"
    AUDIT_READ = "audit:read"
    USERS_READ = "users:read"
    USERS_WRITE = "users:write"
    JOBS_READ = "jobs:read"


ROLES = ("admin", "operator", "developer", "auditor")

_READ = {
    Permission.ENV_READ,
    Permission.BLUEPRINT_READ,
    Permission.DEPLOY_READ,
    Permission.SECRET_READ,
    Permission.CERT_READ,
}

ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "admin": frozenset(
        _READ
        | {
            Permission.BLUEPRINT_WRITE,
            Permission.DEPLOY_REQUEST,
            Permission.DEPLOY_APPROVE,
            Permission.SECRET_WRITE,
            Permission.CERT_WRITE,
            Permission.AUDIT_READ,
            Permission.CONNECTION_READ,
            Permission.CONNECTION_WRITE,
        }
    ),
    "operator": frozenset(
        _READ
        | {
            Permission.BLUEPRINT_WRITE,
            Permission.DEPLOY_REQUEST,
            Permission.DEPLOY_APPROVE,
            Permission.SECRET_WRITE,
            Permission.CONNECTION_READ,
        }
    ),
    "developer": frozenset(_READ | {Permission.BLUEPRINT_WRITE}),
    "auditor": frozenset(_READ | {Permission.AUDIT_READ, Permission.CONNECTION_READ}),
}

ENV_SCOPED = frozenset(
    _READ
    | {
        Permission.BLUEPRINT_WRITE,
        Permission.DEPLOY_REQUEST,
        Permission.DEPLOY_APPROVE,
        Permission.SECRET_WRITE,
        Permission.CERT_WRITE,
        Permission.CONNECTION_READ,
        Permission.CONNECTION_WRITE,
    }
)
# Global permissions that a role held in any environment grants (the audit trail spans all).
_ANY_ENV = frozenset({Permission.AUDIT_READ})


@dataclass(frozen=True)
class Principal:
    """The caller of a request: who, with which roles where, through which credential."""

    user_id: int
    name: str
    is_admin: bool = False
    roles: dict[str, frozenset[str]] = field(default_factory=dict)
    session_id: str | None = None
    scopes: frozenset[str] | None = None  # None: a full login; else an API token's scopes
    restricted: str = ""  # non-empty: what the user must do first (change password, enrol MFA)
    mfa_verified: bool = False  # the session (or the token's minting session) proved MFA

    def permissions_in(self, environment: str) -> frozenset[Permission]:
        """Everything this principal may do in ``environment``."""
        if self.is_admin:
            perms = ROLE_PERMISSIONS["admin"]
        else:
            perms = frozenset().union(
                *(
                    ROLE_PERMISSIONS[r]
                    for r in self.roles.get(environment, ())
                    if r in ROLE_PERMISSIONS
                )
            )
        return self._scoped(perms)

    def _scoped(self, perms: frozenset[Permission]) -> frozenset[Permission]:
        if self.scopes is None:
            return perms
        return frozenset(p for p in perms if p.value in self.scopes)

    def can(self, permission: Permission, environment: str | None = None) -> bool:
        """Whether the principal holds ``permission`` (in ``environment`` when scoped)."""
        if permission is Permission.PUBLIC or permission is Permission.SELF:
            return True
        if self.restricted:
            return False
        if permission is Permission.ENV_LIST:
            return True
        if permission is Permission.TOKEN_CREATE:
            return self.scopes is None
        if permission in ENV_SCOPED:
            if environment is None:
                return self.is_admin and self._allowed_scope(permission)
            return permission in self.permissions_in(environment)
        if self.is_admin:
            return self._allowed_scope(permission)
        if permission in _ANY_ENV:
            return any(permission in self.permissions_in(env) for env in self.roles)
        return False

    def _allowed_scope(self, permission: Permission) -> bool:
        return self.scopes is None or permission.value in self.scopes

    def visible_environments(self, all_names: list[str]) -> list[str]:
        """The environments this principal may see."""
        return [n for n in all_names if self.can(Permission.ENV_READ, n)]
