"""MariaDB and MySQL through PyMySQL with administrator rights.

The same shape as PostgreSQL: per declared database three roles hold the privileges (``owner``:
all privileges on the database, without GRANT OPTION; ``rw``: SELECT, INSERT, UPDATE, DELETE,
EXECUTE; ``ro``: SELECT), and each consuming service's login is a user ``'name'@'%'`` whose
default role is one of them, with no global privilege, ``MAX_USER_CONNECTIONS`` and, where the
blueprint asks for TLS, ``REQUIRE SSL`` (enforced by the server per user).

MariaDB users cannot carry a comment, so labels live in a registry table the administrator
owns (``attonix_registry.labels``); the database itself also carries its label as a comment.
Passwords are sent as ``mysql_native_password`` hashes, never as plaintext in SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from attonix.deploy.base import Change, DeployError, EngineUnavailable
from attonix.deploy.databases._scram import mysql_native
from attonix.deploy.databases.connections import Admin, Endpoint
from attonix.deploy.databases.desired import GROUP_OF, DatabaseSpec, Label
from attonix.deploy.databases.engine import ObjectKind, Observed, Snapshot, Wanted, Work

try:
    import pymysql
except ModuleNotFoundError:  # pragma: no cover - the extra is part of the test environment
    pymysql = None

REGISTRY = "attonix_registry"
_SELECT_LABELS = "SELECT kind, name, label FROM attonix_registry.labels"
_REPLACE_LABEL = "REPLACE INTO attonix_registry.labels (kind, name, label) VALUES (%s, %s, %s)"
_DELETE_LABEL = "DELETE FROM attonix_registry.labels WHERE kind = %s AND name = %s"
_PRIVS = {
    "owner": ["ALL PRIVILEGES"],
    "rw": ["DELETE", "EXECUTE", "INSERT", "SELECT", "UPDATE"],
    "ro": ["SELECT"],
}
# What ALL PRIVILEGES on a database expands to in information_schema (MariaDB 10.11).
_ALL_DB = sorted(
    [
        "ALTER", "ALTER ROUTINE", "CREATE", "CREATE ROUTINE", "CREATE TEMPORARY TABLES",
        "CREATE VIEW", "DELETE", "DELETE HISTORY", "DROP", "EVENT", "EXECUTE", "INDEX", "INSERT",
        "LOCK TABLES", "REFERENCES", "SELECT", "SHOW VIEW", "TRIGGER", "UPDATE",
    ]
)  # fmt: skip


def _q(name: str) -> str:
    """A quoted identifier (backticks doubled)."""
    return "`" + name.replace("`", "``") + "`"


class MysqlAdapter:
    """One MariaDB/MySQL server."""

    engine = "mysql"
    name_limit = 32

    def __init__(self, endpoint: Endpoint, admin: Admin) -> None:
        if pymysql is None:
            raise EngineUnavailable(
                "the MySQL driver needs PyMySQL", hint="pip install 'attonix[deploy]'."
            )
        self.endpoint = endpoint
        ssl: dict[str, Any] | None = None
        if endpoint.sslmode in ("require", "verify-ca", "verify-full"):
            ssl = {"ca": endpoint.sslrootcert} if endpoint.sslrootcert else {}
            ssl["check_hostname"] = endpoint.sslmode == "verify-full"
        try:
            self._conn = pymysql.connect(
                host=endpoint.host,
                port=endpoint.port,
                user=admin.username,
                password=admin.password,
                autocommit=True,
                connect_timeout=10,
                ssl=ssl,
            )
        except pymysql.MySQLError as exc:
            raise EngineUnavailable(
                f"cannot connect to MySQL at {endpoint.shown} as {admin.username!r}: "
                f"{exc.args[-1] if exc.args else exc}",
                hint="Check the connections file and the administrator secret.",
            ) from None
        self._exec(
            f"CREATE DATABASE IF NOT EXISTS {REGISTRY} COMMENT 'attonix: labels of what it made'",
            f"CREATE TABLE IF NOT EXISTS {REGISTRY}.labels (kind VARCHAR(16) NOT NULL, "
            "name VARCHAR(128) NOT NULL, label TEXT NOT NULL, PRIMARY KEY (kind, name))",
        )

    def _rows(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._conn.cursor() as cur:
            cur.execute(query, tuple(params) or None)
            return list(cur.fetchall())

    def _exec(self, *statements: str | tuple[str, Sequence[Any]]) -> None:
        with self._conn.cursor() as cur:
            for st in statements:
                query, params = (st, None) if isinstance(st, str) else (st[0], tuple(st[1]))
                try:
                    cur.execute(query, params)
                except pymysql.MySQLError as exc:
                    raise DeployError(
                        f"MySQL at {self.endpoint.shown} refused: "
                        f"{exc.args[-1] if exc.args else exc}",
                        hint="Check that the administrator may create users, roles and "
                        "databases and grant what it holds.",
                        command=(query.split(" IDENTIFIED ")[0][:200],),
                        exit_code=_code(exc),
                    ) from None

    # ------------------------------------------------------------------ reading

    def snapshot(self, specs: Sequence[DatabaseSpec]) -> Snapshot:
        """Users, roles and databases that are registered or carry a desired name."""
        labels = {(k, n): Label.decode(t) for k, n, t in self._rows(_SELECT_LABELS)}
        groups = {g for s in specs for g in s.groups.values()}
        first_logins = {lg.name(1, limit=self.name_limit) for s in specs for lg in s.logins}
        dbnames = {s.dbname for s in specs}
        privs: dict[str, list[str]] = {}
        for grantee, schema, priv in self._rows(
            "SELECT GRANTEE, TABLE_SCHEMA, PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES"
        ):
            privs.setdefault(_user_of(grantee), []).append(f"{schema}:{priv}")
        global_privs: dict[str, list[str]] = {}
        for grantee, priv in self._rows(
            "SELECT GRANTEE, PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES"
        ):
            global_privs.setdefault(_user_of(grantee), []).append(priv)
        mapping: dict[str, list[str]] = {}
        for user, role in self._rows("SELECT User, Role FROM mysql.roles_mapping"):
            mapping.setdefault(user, []).append(role)
        snap = Snapshot()
        for user, host, is_role, ssl_type, max_conn, default_role in self._rows(
            "SELECT User, Host, is_role, ssl_type, max_user_connections, default_role "
            "FROM mysql.user"
        ):
            kind: ObjectKind = "group" if is_role == "Y" else "login"
            label = labels.get((kind, user))
            if label is None and user not in (groups if kind == "group" else first_logins):
                continue
            view: dict[str, Any]
            if kind == "group":
                view = {"privileges": sorted(privs.get(user, []))}
            else:
                view = {
                    "host": host,
                    "require_ssl": ssl_type != "",
                    "max_user_connections": int(max_conn),
                    "roles": sorted(mapping.get(user, [])),
                    "default_role": default_role,
                    "global_privileges": sorted(global_privs.get(user, [])),
                }
            snap.objects[(kind, user)] = Observed(kind, user, view, label)
        for (name,) in self._rows("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA"):
            label = labels.get(("database", name))
            if label is not None or name in dbnames:
                snap.objects[("database", name)] = Observed("database", name, {}, label)
        return snap

    # ------------------------------------------------------------------ desired

    def wanted(self, spec: DatabaseSpec, snapshot: Snapshot) -> list[Wanted]:
        """Roles, database and logins of ``spec``."""
        out: list[Wanted] = []
        for key, group in spec.groups.items():
            privileges = _ALL_DB if key == "owner" else _PRIVS[key]
            view: dict[str, Any] = {"privileges": sorted(f"{spec.dbname}:{p}" for p in privileges)}
            out.append(Wanted("group", group, view, spec.label(kind="group"), spec))
        out.append(Wanted("database", spec.dbname, {}, spec.label(), spec))
        for login in spec.logins:
            base = spec.label(service=login.service, kind=login.kind)
            gens = [o.label.generation for o in snapshot.logins_of(base) if o.label] or [1]
            group = spec.groups[GROUP_OF[login.kind]]
            for gen in gens:
                name = login.name(gen, limit=self.name_limit)
                view = {
                    "host": "%",
                    "require_ssl": spec.tls,
                    "max_user_connections": login.connection_limit,
                    "roles": [group],
                    "default_role": group,
                    "global_privileges": ["USAGE"],
                }
                label = spec.label(service=login.service, kind=login.kind, gen=gen)
                out.append(Wanted("login", name, view, label, spec, (login.service, login.kind)))
        return out

    # ------------------------------------------------------------------ writing

    def _register(self, kind: str, name: str, label: Label) -> tuple[str, Sequence[Any]]:
        return (
            _REPLACE_LABEL,
            (kind, name, label.encode()),
        )

    def _unregister(self, kind: str, name: str) -> tuple[str, Sequence[Any]]:
        return (_DELETE_LABEL, (kind, name))

    def execute(self, change: Change, *, password: str | None = None) -> None:
        """Create, update or delete one object."""
        work: Work = change.payload
        name = change.name
        if change.action == "delete":
            if change.kind == "database":
                self._exec(f"DROP DATABASE IF EXISTS {_q(name)}")
            elif change.kind == "group":
                self._exec(f"DROP ROLE IF EXISTS {_q(name)}")
            else:
                self._exec(f"DROP USER IF EXISTS {_q(name)}@'%'")
            self._exec(self._unregister(change.kind, name))
            return
        want = work.wanted
        assert want is not None
        # Register first: an interrupted create leaves a labelled object the next plan sees.
        if change.kind == "database":
            comment = want.label.encode().replace("'", "")
            verb = "CREATE DATABASE" if change.action == "create" else "ALTER DATABASE"
            self._exec(
                self._register("database", name, want.label),
                f"{verb} {_q(name)} CHARACTER SET utf8mb4 COMMENT '{comment}'",
            )
        elif change.kind == "group":
            statements: list[str | tuple[str, Sequence[Any]]] = [
                self._register("group", name, want.label)
            ]
            if change.action == "create":
                statements.append(f"CREATE ROLE {_q(name)}")
            else:
                statements.append(f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM {_q(name)}")
            key = next(k for k, g in want.spec.groups.items() if g == name)
            statements.append(
                f"GRANT {', '.join(_PRIVS[key])} ON {_q(want.spec.dbname)}.* TO {_q(name)}"
            )
            self._exec(*statements)
        elif change.kind == "login":
            self._apply_login(change, want, password)

    def _apply_login(self, change: Change, want: Wanted, password: str | None) -> None:
        user = f"{_q(change.name)}@'%'"
        view = want.view
        require = "REQUIRE SSL" if view["require_ssl"] else "REQUIRE NONE"
        limit = f"WITH MAX_USER_CONNECTIONS {int(view['max_user_connections'])}"
        statements: list[str | tuple[str, Sequence[Any]]] = [
            self._register("login", change.name, want.label)
        ]
        if change.action == "create":
            auth = ""
            if password is not None:
                auth = f" IDENTIFIED BY PASSWORD '{mysql_native(password)}'"
            statements.append(f"CREATE USER {user}{auth} {require} {limit}")
        else:
            statements.append(f"ALTER USER {user} {require} {limit}")
            observed = change.observed or {}
            roles = set(observed.get("roles", []))
            if observed.get("global_privileges") != view["global_privileges"]:
                # Also revokes every role on MariaDB: the desired one is granted again below.
                statements.append(f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM {user}")
                roles = set()
            for role in sorted(roles - set(view["roles"])):
                statements.append(f"REVOKE {_q(role)} FROM {user}")
        group = view["default_role"]
        statements.append(f"GRANT {_q(group)} TO {user}")
        statements.append(f"SET DEFAULT ROLE {_q(group)} FOR {user}")
        self._exec(*statements)

    # ------------------------------------------------------------------ rotation

    def probe_tls(self, spec: DatabaseSpec, users: Sequence[str]) -> dict[str, Any]:
        """Never asked: TLS is required per user (``REQUIRE SSL``), part of the login."""
        return {}

    def check_login(self, spec: DatabaseSpec, username: str, password: str) -> None:
        """Log in as ``username`` (over TLS when required) and run one query."""
        ssl: dict[str, Any] | None = None
        if spec.tls:
            ssl = {"ca": self.endpoint.sslrootcert} if self.endpoint.sslrootcert else {}
            ssl["check_hostname"] = self.endpoint.sslmode == "verify-full"
        try:
            conn = pymysql.connect(
                host=self.endpoint.host,
                port=self.endpoint.port,
                user=username,
                password=password,
                database=spec.dbname,
                ssl=ssl,
                connect_timeout=10,
            )
            with conn, conn.cursor() as cur:
                cur.execute("SELECT 1")
        except pymysql.MySQLError as exc:
            raise DeployError(
                f"the new login {username!r} cannot log into {spec.dbname!r} on "
                f"{self.endpoint.shown}: {exc.args[-1] if exc.args else exc}",
                hint="Check the user's host and TLS settings, then run the rotation again.",
            ) from None

    def replication(self) -> None:
        """Not read for this engine (replication is judged for PostgreSQL only)."""
        return None

    def sessions(self, user: str) -> int:
        """Sessions ``user`` holds now (the process list)."""
        rows = self._rows(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = %s", [user]
        )
        return int(rows[0][0]) if rows else 0

    def drop_login(self, name: str, *, spec: DatabaseSpec) -> None:
        """Drop one login user (objects in MySQL belong to no user)."""
        self._exec(f"DROP USER IF EXISTS {_q(name)}@'%'", self._unregister("login", name))

    def close(self) -> None:
        """Close the administrator connection."""
        self._conn.close()


def _code(exc: Exception) -> int | None:
    """The server's error number, if the error carries one."""
    return exc.args[0] if exc.args and isinstance(exc.args[0], int) else None


def _user_of(grantee: str) -> str:
    """``user`` from ``'user'@'host'``."""
    return (
        grantee.split("'@'", maxsplit=1)[0].strip("'") if "'@'" in grantee else grantee.strip("'")
    )
