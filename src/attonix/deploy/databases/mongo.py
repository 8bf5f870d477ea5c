"""MongoDB through pymongo with administrator rights.

MongoDB has no role per database that Attonix needs to create: its built-in roles already are
the three groups — ``dbOwner`` (owner), ``readWrite`` (application), ``read`` (reporting) — each
granted on the service's database only. Users carry their label in ``customData``; the database
carries it in a one-document ``attonix_label`` collection (a MongoDB database exists only
while it holds data). MongoDB has no per-user connection limit and no per-user TLS
requirement (TLS is the server's ``net.tls.mode``), so neither appears in the plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from attonix.deploy.base import Change, DeployError, EngineUnavailable
from attonix.deploy.databases.connections import Admin, Endpoint
from attonix.deploy.databases.desired import DatabaseSpec, Label
from attonix.deploy.databases.engine import Observed, Snapshot, Wanted, Work

try:
    import pymongo
    from pymongo.errors import PyMongoError
except ModuleNotFoundError:  # pragma: no cover - the extra is part of the test environment
    pymongo = None  # type: ignore[assignment]
    PyMongoError = Exception  # type: ignore[assignment,misc]

MARKER = "attonix_label"
BUILTIN = {"owner": "dbOwner", "app": "readWrite", "readonly": "read"}


class MongoAdapter:
    """One MongoDB deployment (a replica set or a single server)."""

    engine = "mongodb"
    name_limit = 63

    def __init__(self, endpoint: Endpoint, admin: Admin) -> None:
        if pymongo is None:
            raise EngineUnavailable(
                "the MongoDB driver needs pymongo", hint="pip install 'attonix[deploy]'."
            )
        self.endpoint = endpoint
        tls = endpoint.sslmode in ("require", "verify-ca", "verify-full")
        options: dict[str, Any] = {"tls": tls, "serverSelectionTimeoutMS": 10000}
        if tls and endpoint.sslrootcert:
            options["tlsCAFile"] = endpoint.sslrootcert
        if tls and endpoint.sslmode == "require":
            options["tlsAllowInvalidCertificates"] = True
        self._tls = {k: v for k, v in options.items() if k.startswith("tls")}
        self._client: Any = pymongo.MongoClient(
            host=endpoint.host,
            port=endpoint.port,
            username=admin.username,
            password=admin.password,
            authSource=endpoint.admin_database or "admin",
            **options,
        )
        try:
            self._client.admin.command("ping")
        except PyMongoError as exc:
            raise EngineUnavailable(
                f"cannot connect to MongoDB at {endpoint.shown}: {exc}",
                hint="Check the connections file and the administrator secret.",
            ) from None

    def _call(self, what: str, fn: Any, *args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except PyMongoError as exc:
            raise DeployError(
                f"MongoDB at {self.endpoint.shown} refused {what}: {exc}",
                hint="Check that the administrator has userAdminAnyDatabase and "
                "readWriteAnyDatabase.",
                command=(what,),
            ) from None

    def snapshot(self, specs: Sequence[DatabaseSpec]) -> Snapshot:
        """Users and label markers of every chosen database."""
        snap = Snapshot()
        for spec in specs:
            db = self._client[spec.dbname]
            marker = self._call("find label", db[MARKER].find_one, {"_id": "label"})
            if marker is not None or spec.dbname in self._client.list_database_names():
                label = Label.decode(marker.get("label") if marker else None)
                snap.objects[("database", spec.dbname)] = Observed(
                    "database", spec.dbname, {}, label
                )
            info = self._call("usersInfo", db.command, "usersInfo")
            for user in info.get("users", []):
                custom = user.get("customData") or {}
                label = Label.decode(custom.get("attonix"))
                roles = sorted(f"{r['role']}@{r['db']}" for r in user.get("roles", []))
                snap.objects[("login", user["user"])] = Observed(
                    "login", user["user"], {"roles": roles}, label
                )
        return snap

    def wanted(self, spec: DatabaseSpec, snapshot: Snapshot) -> list[Wanted]:
        """The database marker and the logins of ``spec``."""
        out = [Wanted("database", spec.dbname, {}, spec.label(), spec)]
        for login in spec.logins:
            base = spec.label(service=login.service, kind=login.kind)
            gens = [o.label.generation for o in snapshot.logins_of(base) if o.label] or [1]
            for gen in gens:
                name = login.name(gen, limit=self.name_limit)
                view = {"roles": [f"{BUILTIN[login.kind]}@{spec.dbname}"]}
                label = spec.label(service=login.service, kind=login.kind, gen=gen)
                out.append(Wanted("login", name, view, label, spec, (login.service, login.kind)))
        return out

    def execute(self, change: Change, *, password: str | None = None) -> None:
        """Create, update or delete one object."""
        work: Work = change.payload
        observed_label = work.observed.label if work.observed else None
        label = work.wanted.label if work.wanted else observed_label
        dbname = (work.wanted.spec.dbname if work.wanted else None) or (
            label.database if label else change.name
        )
        if change.kind == "database":
            db = self._client[change.name]
            if change.action == "delete":
                self._call("dropDatabase", self._client.drop_database, change.name)
            else:
                assert work.wanted is not None
                self._call(
                    "write label",
                    db[MARKER].replace_one,
                    {"_id": "label"},
                    {"_id": "label", "label": work.wanted.label.encode()},
                    upsert=True,
                )
            return
        db = self._client[dbname]
        if change.action == "delete":
            self._call("dropUser", db.command, "dropUser", change.name)
            return
        want = work.wanted
        assert want is not None
        roles = [{"role": r.split("@")[0], "db": r.split("@")[1]} for r in want.view["roles"]]
        custom = {"attonix": want.label.encode()}
        if change.action == "create":
            self._call(
                "createUser",
                db.command,
                "createUser",
                change.name,
                pwd=password,
                roles=roles,
                customData=custom,
            )
        else:
            self._call(
                "updateUser", db.command, "updateUser", change.name, roles=roles, customData=custom
            )

    def probe_tls(self, spec: DatabaseSpec, users: Sequence[str]) -> dict[str, Any]:
        """Never asked: MongoDB has no per-database TLS rule (see the module docstring)."""
        return {}

    def check_login(self, spec: DatabaseSpec, username: str, password: str) -> None:
        """Authenticate as ``username`` against its database and ping."""
        client: Any = pymongo.MongoClient(
            host=self.endpoint.host,
            port=self.endpoint.port,
            username=username,
            password=password,
            authSource=spec.dbname,
            serverSelectionTimeoutMS=10000,
            **self._tls,
        )
        try:
            client[spec.dbname].command("ping")
        except PyMongoError as exc:
            raise DeployError(
                f"the new login {username!r} cannot log into {spec.dbname!r}: {exc}",
                hint="Check the user and the server's authentication settings.",
            ) from None
        finally:
            client.close()

    def replication(self) -> None:
        """Not read for this engine (replication is judged for PostgreSQL only)."""
        return None

    def sessions(self, user: str) -> int:
        """Connections ``user`` holds now (``$currentOp`` with idle connections)."""
        ops = self._call(
            "$currentOp",
            self._client.admin.aggregate,
            [
                {"$currentOp": {"allUsers": True, "idleConnections": True}},
                {"$match": {"effectiveUsers.user": user}},
            ],
        )
        return sum(1 for _ in ops)

    def drop_login(self, name: str, *, spec: DatabaseSpec) -> None:
        """Drop one user."""
        self._call("dropUser", self._client[spec.dbname].command, "dropUser", name)

    def close(self) -> None:
        """Close the client."""
        self._client.close()
