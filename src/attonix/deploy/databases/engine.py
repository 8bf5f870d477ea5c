"""What every database engine adapter offers the driver, and the data they exchange."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from attonix.deploy.base import Change
from attonix.deploy.databases.desired import DatabaseSpec, Label
from attonix.deploy.databases.replication import Topology

ObjectKind = Literal["group", "database", "login", "tls"]
#: Order of creation; deletion runs in reverse.
RANK: dict[str, int] = {"group": 0, "database": 1, "login": 2, "tls": 3}


@dataclass(frozen=True, slots=True)
class Observed:
    """One object on the server: its comparable view and its label (``None``: not ours)."""

    kind: ObjectKind
    name: str
    view: dict[str, Any]
    label: Label | None


@dataclass(frozen=True, slots=True)
class Wanted:
    """One object as the blueprint wants it."""

    kind: ObjectKind
    name: str
    view: dict[str, Any]
    label: Label
    spec: DatabaseSpec
    #: For logins: the service and kind; the generation is in the label.
    login: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Work:
    """A change's payload: the server that carries it out and the objects involved."""

    server: str
    wanted: Wanted | None = None
    observed: Observed | None = None


@dataclass(slots=True)
class Snapshot:
    """Everything an adapter read from one server in one pass."""

    objects: dict[tuple[str, str], Observed] = field(default_factory=dict)

    def logins_of(self, label: Label) -> list[Observed]:
        """Labelled login roles of one database, service and kind, oldest generation first."""
        found = [
            o
            for o in self.objects.values()
            if o.kind == "login"
            and o.label is not None
            and (o.label.blueprint, o.label.environment, o.label.database)
            == (
                label.blueprint,
                label.environment,
                label.database,
            )
            and (o.label.service, o.label.kind) == (label.service, label.kind)
        ]
        return sorted(found, key=lambda o: o.label.generation if o.label else 0)


@dataclass(frozen=True, slots=True)
class Session:
    """One client session on the server, by login role (for rotation's drain check)."""

    user: str
    database: str


class Adapter(Protocol):
    """One database server, driven with administrator rights."""

    engine: str
    name_limit: int

    def snapshot(self, specs: Sequence[DatabaseSpec]) -> Snapshot:
        """Read the objects of ``specs`` and every object labelled for any database."""
        ...

    def wanted(self, spec: DatabaseSpec, snapshot: Snapshot) -> list[Wanted]:
        """The desired objects of ``spec`` (login generations taken from ``snapshot``)."""
        ...

    def execute(self, change: Change, *, password: str | None = None) -> None:
        """Carry out one change (``password`` for a login being created)."""
        ...

    def probe_tls(self, spec: DatabaseSpec, users: Sequence[str]) -> dict[str, Any]:
        """For engines whose TLS rule lives outside SQL: which users plaintext refuses."""
        ...

    def check_login(self, spec: DatabaseSpec, username: str, password: str) -> None:
        """Log in as ``username`` to the database (TLS when the spec requires it) or raise."""
        ...

    def replication(self) -> Topology | None:
        """The live replication topology, for engines that report one (else ``None``)."""
        ...

    def sessions(self, user: str) -> int:
        """How many sessions ``user`` holds now."""
        ...

    def drop_login(self, name: str, *, spec: DatabaseSpec) -> None:
        """Remove one login role (its objects, if any, go to the database's owner group)."""
        ...

    def close(self) -> None:
        """Close the administrator connection."""
        ...
