"""What the database driver converges towards, derived from the blueprint (pure).

For each declared database a server can be reached for, Attonix owns: the database itself,
three group roles that carry every privilege (``owner`` for migrations, ``rw`` for the
application, ``ro`` for reporting), and per consuming service one login role per group. Login
roles hold no privilege of their own, so a credential rotation can create a new login role,
switch the consumers and drop the old one without touching a grant or an object owner.

Every object carries a label (a role or database comment, or the registry table on MariaDB)
naming the blueprint and environment, so that plan and destroy touch only what Attonix made.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from attonix.blueprint.model import Blueprint, Database, Service

Kind = Literal["owner", "app", "readonly"]
KINDS: tuple[Kind, ...] = ("owner", "app", "readonly")
#: The group role (privilege holder) each login kind is a member of.
GROUP_OF: dict[Kind, str] = {"owner": "owner", "app": "rw", "readonly": "ro"}
LABEL_PREFIX = "attonix:"

# Connections each login role may hold: the owner runs migrations (one at a time, plus a
# spare for a stuck session), the application a pool per replica, reporting a few.
POOL_PER_REPLICA = 10
OWNER_CONNECTIONS = 2
READONLY_CONNECTIONS = 5


def short_name(*parts: str, limit: int) -> str:
    """``parts`` joined by ``_`` (hyphens become ``_``), cut to ``limit`` with a stable hash."""
    name = "_".join(p.replace("-", "_") for p in parts if p)
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9]}_{digest}"


@dataclass(frozen=True, slots=True)
class Label:
    """Who an object belongs to: blueprint, environment, declared database, service, kind."""

    blueprint: str
    environment: str
    database: str
    service: str = ""
    kind: str = ""
    generation: int = 0

    def encode(self) -> str:
        """The comment text stored on the object."""
        data: dict[str, Any] = {"bp": self.blueprint, "env": self.environment, "db": self.database}
        if self.service:
            data["svc"] = self.service
        if self.kind:
            data["kind"] = self.kind
        if self.generation:
            data["gen"] = self.generation
        return LABEL_PREFIX + json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def decode(cls, text: str | None) -> Label | None:
        """The label in a comment, or ``None`` when the object is not Attonix's."""
        if not text or not text.startswith(LABEL_PREFIX):
            return None
        try:
            data = json.loads(text[len(LABEL_PREFIX) :])
            return cls(
                blueprint=str(data["bp"]),
                environment=str(data["env"]),
                database=str(data["db"]),
                service=str(data.get("svc", "")),
                kind=str(data.get("kind", "")),
                generation=int(data.get("gen", 0)),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def owned_by(self, blueprint: str, environment: str) -> bool:
        """True when this label names the given blueprint and environment."""
        return self.blueprint == blueprint and self.environment == environment


@dataclass(frozen=True, slots=True)
class LoginSpec:
    """One consuming service's login role of one kind (its current generation is live)."""

    service: str
    kind: Kind
    base: str
    connection_limit: int

    def name(self, generation: int, *, limit: int) -> str:
        """The login role's name for ``generation``."""
        return short_name(self.base, f"g{generation}", limit=limit)


@dataclass(frozen=True, slots=True)
class DatabaseSpec:
    """One declared database as a server should hold it."""

    blueprint: str
    environment: str
    declared: str
    engine: str
    dbname: str
    tls: bool
    groups: dict[str, str]
    logins: tuple[LoginSpec, ...] = field(default_factory=tuple)

    def label(self, *, service: str = "", kind: str = "", gen: int = 0) -> Label:
        """The label of an object of this database."""
        return Label(
            blueprint=self.blueprint,
            environment=self.environment,
            database=self.declared,
            service=service,
            kind=kind,
            generation=gen,
        )


def name_limit(engine: str) -> int:
    """The longest role/user name the engine accepts (MySQL 8: 32; PostgreSQL: 63 bytes)."""
    return 32 if engine == "mysql" else 63


def app_connections(service: Service) -> int:
    """Connections the application role may hold: a pool per replica at full scale."""
    replicas = service.autoscaling.max_replicas if service.autoscaling else service.replicas
    return max(1, replicas) * POOL_PER_REPLICA


def consumers(bp: Blueprint, database: Database) -> list[Service]:
    """The backend services that declare ``database``, in blueprint order."""
    return [s for s in bp.services.backend if database.name in s.databases]


def database_spec(bp: Blueprint, database: Database) -> DatabaseSpec:
    """The desired state of one declared database."""
    limit = name_limit(database.engine)
    dbname = database.database
    groups = {g: short_name(dbname, g, limit=limit) for g in ("owner", "rw", "ro")}
    logins: list[LoginSpec] = []
    for svc in consumers(bp, database):
        for kind in KINDS:
            conn = {
                "owner": OWNER_CONNECTIONS,
                "app": app_connections(svc),
                "readonly": READONLY_CONNECTIONS,
            }[kind]
            # Room for the generation suffix ("_g12") inside the engine's limit.
            base = short_name(dbname, svc.name, kind, limit=limit - 4)
            logins.append(LoginSpec(svc.name, kind, base, conn))
    return DatabaseSpec(
        blueprint=bp.metadata.name,
        environment=bp.metadata.environment,
        declared=database.name,
        engine=database.engine,
        dbname=dbname,
        tls=database.tls or database.engine == "biganimal",
        groups=groups,
        logins=tuple(logins),
    )
