"""The ``databases`` target: provision declared databases on servers Attonix can reach.

``plan`` reads every reachable server once (a snapshot per server), derives the desired
objects from the blueprint (:mod:`.desired`), and compares them; objects labelled for this
blueprint and environment that are no longer wanted become deletions, while an object with a
wanted name but no label (or another blueprint's label) stops the plan: Attonix never adopts
or overwrites what it did not create. ``apply`` performs the plan, then plans again and fails
unless nothing is left to do. ``destroy`` removes labelled objects only.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from attonix.blueprint.model import Blueprint, Database
from attonix.deploy.base import (
    Change,
    DeployError,
    Plan,
    Progress,
    Result,
    ServiceStatus,
    Step,
    compare,
    no_progress,
    run_steps,
)
from attonix.deploy.credentials import CredentialStore, FileCredentialStore, credential_name
from attonix.deploy.databases._scram import new_password
from attonix.deploy.databases.connections import (
    Endpoint,
    admin_for,
    connections_path,
    endpoint_for,
    load_endpoints,
)
from attonix.deploy.databases.desired import DatabaseSpec, database_spec
from attonix.deploy.databases.engine import RANK, Adapter, Observed, Wanted, Work
from attonix.deploy.databases.replication import judge
from attonix.deploy.secrets import SecretSource
from attonix.deploy.state import TargetLock, state_dir
from attonix.render.base import Artifact

TARGET = "databases"
# engine -> (module, class); a module is imported only when its engine is used.
_ADAPTERS = {
    "postgresql": ("attonix.deploy.databases.postgres", "PostgresAdapter"),
    "biganimal": ("attonix.deploy.databases.postgres", "PostgresAdapter"),
    "mysql": ("attonix.deploy.databases.mysql", "MysqlAdapter"),
    "mongodb": ("attonix.deploy.databases.mongo", "MongoAdapter"),
}
ENGINES = ("postgresql", "biganimal", "mysql", "mongodb")


@dataclass(slots=True)
class Server:
    """The declared databases one server holds, and how to reach it."""

    key: str
    endpoint: Endpoint
    databases: list[Database]
    specs: list[DatabaseSpec]


def open_adapter(endpoint: Endpoint, database: Database, secrets: SecretSource) -> Adapter:
    """An administrator session on ``endpoint`` (imports the engine's client lazily)."""
    admin = admin_for(database, secrets)
    module, cls = _ADAPTERS[endpoint.engine]
    adapter: Adapter = getattr(importlib.import_module(module), cls)(endpoint, admin)
    return adapter


class DatabaseDriver:
    """Declared databases, their group roles and per-service logins, on reachable servers."""

    target = TARGET

    def __init__(
        self,
        blueprint: Blueprint,
        *,
        cluster: str,
        secrets: SecretSource,
        state: Path | None = None,
        connections: str | None = None,
        credentials: CredentialStore | None = None,
        adapter_factory: Callable[[Endpoint, Database, SecretSource], Adapter] = open_adapter,
    ) -> None:
        self.bp = blueprint
        self.cluster = cluster
        self._secrets = secrets
        self._state = state
        self._connections = connections
        self._open = adapter_factory
        self.credentials = credentials or FileCredentialStore(self._state_dir() / "credentials")

    @staticmethod
    def pick(blueprint: Blueprint, name: str | None) -> str:
        """``--cluster`` for this target names one declared database; default: all of them."""
        if name is None:
            return "all"
        if name not in blueprint.databases_by_name:
            raise DeployError(
                f"the blueprint declares no database named {name!r}",
                hint=f"Databases: {', '.join(blueprint.databases_by_name) or 'none'}.",
            )
        return name

    def _state_dir(self) -> Path:
        return self._state or state_dir()

    @property
    def state_directory(self) -> Path:
        """Where this driver keeps credentials, locks and rotation state."""
        return self._state_dir()

    # ------------------------------------------------------------------ servers

    def servers(self) -> list[Server]:
        """The servers holding the chosen databases, grouped by endpoint and administrator."""
        settings = load_endpoints(connections_path(self._connections, self._state_dir()))
        chosen = [d for d in self.bp.databases if self.cluster in ("all", d.name)]
        out: dict[str, Server] = {}
        for database in chosen:
            endpoint = endpoint_for(database, settings)
            if endpoint is None:
                if self.cluster == database.name:
                    raise DeployError(
                        f"no server is configured for database {database.name!r}",
                        hint=f"Add databases.{database.name} (host, port) to the connections "
                        "file (--connections or $ATTONIX_CONNECTIONS).",
                    )
                continue
            key = (
                f"{endpoint.engine}://{endpoint.host}:{endpoint.port}/{database.credentials_secret}"
            )
            server = out.setdefault(key, Server(key, endpoint, [], []))
            server.databases.append(database)
            server.specs.append(database_spec(self.bp, database))
        return list(out.values())

    @contextlib.contextmanager
    def adapters(self, servers: Sequence[Server]) -> Iterator[dict[str, Adapter]]:
        """Administrator sessions on ``servers`` by key, closed on exit."""
        opened: dict[str, Adapter] = {}
        try:
            for server in servers:
                opened[server.key] = self._open(server.endpoint, server.databases[0], self._secrets)
            yield opened
        finally:
            for adapter in opened.values():
                with contextlib.suppress(Exception):
                    adapter.close()

    # ------------------------------------------------------------------ protocol

    def desired(self) -> list[Artifact]:
        """Nothing is rendered for this target: the blueprint is the desired state."""
        return []

    def plan(self, desired: Sequence[Artifact] | None = None) -> Plan:
        """Compare every chosen database's objects with its server; change nothing."""
        servers = self.servers()
        with self.adapters(servers) as adapters:
            changes = [c for s in servers for c in self._server_changes(s, adapters[s.key])]
        return Plan(TARGET, self.cluster, tuple(changes))

    def _server_changes(self, server: Server, adapter: Adapter) -> list[Change]:
        snapshot = adapter.snapshot(server.specs)
        name, env = self.bp.metadata.name, self.bp.metadata.environment
        creates: list[Change] = []
        wanted_keys: set[tuple[str, str]] = set()
        for spec in server.specs:
            for want in adapter.wanted(spec, snapshot):
                key = (want.kind, want.name)
                wanted_keys.add(key)
                if want.kind == "tls":
                    observed_view = adapter.probe_tls(spec, want.view["plaintext_refused_for"])
                    creates.append(
                        compare(
                            "tls",
                            want.name,
                            desired=want.view,
                            observed=observed_view,
                            payload=Work(server.key, want),
                        )
                    )
                    continue
                found = snapshot.objects.get(key)
                if found is not None and (
                    found.label is None or not found.label.owned_by(name, env)
                ):
                    owner = (
                        "nothing"
                        if found.label is None
                        else (f"blueprint {found.label.blueprint!r} ({found.label.environment})")
                    )
                    raise DeployError(
                        f"{want.kind} {want.name!r} already exists on {server.endpoint.shown} "
                        f"and is labelled by {owner}, not by this blueprint",
                        hint="Attonix does not adopt objects it did not create: rename the "
                        "declared database (its 'database' field) or remove the object.",
                    )
                creates.append(
                    compare(
                        want.kind,
                        want.name,
                        desired=want.view,
                        observed=None if found is None else found.view,
                        payload=Work(server.key, want, found),
                    )
                )
        declared_here = {s.declared for s in server.specs}
        all_declared = set(self.bp.databases_by_name)
        deletes = [
            compare(
                o.kind, o.name, desired=None, observed=o.view, payload=Work(server.key, None, o)
            )
            for key, o in snapshot.objects.items()
            if key not in wanted_keys
            and o.label is not None
            and o.label.owned_by(name, env)
            and self.cluster in ("all", o.label.database)
            and (o.label.database in declared_here or o.label.database not in all_declared)
        ]
        creates.sort(key=lambda c: RANK[c.kind])
        deletes.sort(key=lambda c: -RANK[c.kind])
        return deletes + creates

    def apply(
        self, plan: Plan, progress: Progress = no_progress, *, timeout: float = 300
    ) -> Result:
        """Carry out ``plan``, then verify that a new plan is empty."""
        lock = TargetLock(self._state_dir(), target=TARGET, cluster=self.cluster)
        with lock.held():
            servers = {s.key: s for s in self.servers()}
            with self.adapters(list(servers.values())) as adapters:
                steps: list[Step] = [
                    (f"{c.action} {c.key}", self._step(c, adapters, servers)) for c in plan.pending
                ]
                result = run_steps(TARGET, self.cluster, steps, progress)
            if result.ok:
                progress("verifying")
                after = self.plan()
                if not after.is_empty:
                    left = ", ".join(f"{c.action} {c.key}" for c in after.pending)
                    result.error = f"after apply the servers still differ: {left}"
        return result

    def _step(
        self, change: Change, adapters: dict[str, Adapter], servers: dict[str, Server]
    ) -> Callable[[], object]:
        step: Work = change.payload
        adapter = adapters.get(step.server)
        if adapter is None:
            raise DeployError(
                f"the plan names server {step.server}, which is no longer configured",
                hint="Plan again.",
            )
        want = step.wanted

        def run() -> None:
            if change.action == "create" and want is not None and want.kind == "login":
                self._create_login(change, want, adapter, servers[step.server].endpoint)
            elif change.action == "delete" and change.kind == "login":
                self._delete_login(change, step, adapter, servers[step.server])
            else:
                adapter.execute(change)

        return run

    def credential_values(
        self, endpoint: Endpoint, spec: DatabaseSpec, username: str, password: str
    ) -> dict[str, str]:
        """What a consumer needs to connect as one login."""
        return {
            "username": username,
            "password": password,
            "host": endpoint.consumer_host or endpoint.host,
            "port": str(endpoint.port),
            "database": spec.dbname,
            "tls": "required" if spec.tls else "optional",
        }

    def _create_login(
        self, change: Change, want: Wanted, adapter: Adapter, endpoint: Endpoint
    ) -> None:
        assert want.login is not None
        name = credential_name(self.bp, want.spec.declared, *want.login)
        password = new_password()
        # Stored (pending) before the role exists: an interrupted apply never loses it.
        version = self.credentials.put(
            name, self.credential_values(endpoint, want.spec, change.name, password)
        )
        adapter.execute(change, password=password)
        if self.credentials.current_version(name) is None:
            self.credentials.promote(name, version)

    def _delete_login(self, change: Change, step: Work, adapter: Adapter, server: Server) -> None:
        label = step.observed.label if step.observed else None
        spec = next((s for s in server.specs if label and s.declared == label.database), None)
        if spec is not None:
            adapter.drop_login(change.name, spec=spec)
        else:
            adapter.execute(change)
        if label is not None:
            cred = credential_name(self.bp, label.database, label.service, label.kind)
            current = self.credentials.read(cred)
            if current is not None and current.get("username") == change.name:
                self.credentials.forget(cred)

    def status(self) -> list[ServiceStatus]:
        """Per declared database: objects wanted, present, and matching (drift in the message)."""
        out: list[ServiceStatus] = []
        servers = self.servers()
        with self.adapters(servers) as adapters:
            for server in servers:
                changes = self._server_changes(server, adapters[server.key])
                for spec in server.specs:
                    mine = [
                        c
                        for c in changes
                        if isinstance(c.payload, Work)
                        and c.payload.wanted is not None
                        and c.payload.wanted.spec.declared == spec.declared
                    ]
                    present = [c for c in mine if c.action != "create"]
                    healthy = [c for c in mine if c.action == "unchanged"]
                    notes = [f"{c.action} {c.key}" for c in mine if c.action != "unchanged"]
                    notes += self._missing_credentials(spec, mine)
                    extra = self._status_extra(spec, adapters[server.key])
                    out.append(
                        ServiceStatus(
                            name=spec.declared,
                            desired=len(mine),
                            running=len(present),
                            healthy=len(healthy) if not extra[1] else 0,
                            image=f"{spec.engine} {server.endpoint.shown}/{spec.dbname}",
                            message="; ".join(notes + ([extra[0]] if extra[0] else [])),
                        )
                    )
        return out

    def _status_extra(self, spec: DatabaseSpec, adapter: Adapter) -> tuple[str, bool]:
        """The replication summary (PostgreSQL) and whether it falls short of the blueprint."""
        topology = adapter.replication()
        if topology is None:
            return "", False
        summary, problems = judge(topology, self.bp.databases_by_name[spec.declared])
        return "; ".join([*problems, summary]), bool(problems)

    def _missing_credentials(self, spec: DatabaseSpec, changes: Sequence[Change]) -> list[str]:
        notes = []
        for c in changes:
            want = c.payload.wanted
            if c.kind != "login" or c.action == "create" or want is None or want.login is None:
                continue
            cred = self.credentials.read(credential_name(self.bp, spec.declared, *want.login))
            if cred is None:
                notes.append(f"no local credential for login {c.name} (run `attonix rotate`)")
        return notes

    def _owned(self, adapters: dict[str, Adapter], server: Server) -> list[Observed]:
        """The live objects on ``server`` labelled for this blueprint, environment and
        database, deepest first (the order destroy drops them in)."""
        name, env = self.bp.metadata.name, self.bp.metadata.environment
        snapshot = adapters[server.key].snapshot(server.specs)
        mine = [
            o
            for o in snapshot.objects.values()
            if o.label is not None
            and o.label.owned_by(name, env)
            and self.cluster in ("all", o.label.database)
        ]
        mine.sort(key=lambda o: -RANK[o.kind])
        return mine

    def removals(self) -> list[str]:
        """What :meth:`destroy` would drop now, one line per object (reads only)."""
        servers = self.servers()
        with self.adapters(servers) as adapters:
            return [
                f"delete {o.kind} {o.name} on {server.key}"
                for server in servers
                for o in self._owned(adapters, server)
            ]

    def destroy(self, progress: Progress = no_progress) -> Result:
        """Drop every object labelled for this blueprint and environment, and nothing else."""
        lock = TargetLock(self._state_dir(), target=TARGET, cluster=self.cluster)
        with lock.held(purpose="destroy"):
            servers = self.servers()
            with self.adapters(servers) as adapters:
                steps: list[Step] = []
                for server in servers:
                    for o in self._owned(adapters, server):
                        change = compare(
                            o.kind,
                            o.name,
                            desired=None,
                            observed=o.view,
                            payload=Work(server.key, None, o),
                        )
                        steps.append(
                            (
                                f"delete {change.key}",
                                self._step(change, adapters, {server.key: server}),
                            )
                        )
                result = run_steps(TARGET, self.cluster, steps, progress)
        return result
