"""PostgreSQL (and BigAnimal, a managed PostgreSQL) through psycopg with administrator rights.

Per declared database: three NOLOGIN group roles hold every privilege — ``<db>_owner`` owns the
database and its ``public`` schema, ``<db>_rw`` reads and writes, ``<db>_ro`` reads — with
default privileges so that whatever the owner creates is readable and writable by the right
group. ``CONNECT`` and ``TEMPORARY`` are revoked from ``PUBLIC``: a role of another service
cannot even connect. Login roles are members of one group each, with no attribute beyond
LOGIN (no SUPERUSER, CREATEROLE, CREATEDB, REPLICATION, BYPASSRLS) and a connection limit;
the owner's logins run as the owner group (``SET role``), so objects never belong to a login.

``pg_hba.conf`` cannot be changed over SQL, so "TLS required" is not assumed: the ``tls``
object is a probe that tries each login over plaintext (with a dummy password, so nothing
secret crosses the wire) and reports whether the server refused before asking for one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from attonix.deploy.base import Change, DeployError, EngineUnavailable
from attonix.deploy.databases._scram import scram_sha_256
from attonix.deploy.databases.connections import Admin, Endpoint
from attonix.deploy.databases.desired import GROUP_OF, DatabaseSpec, Label
from attonix.deploy.databases.engine import ObjectKind, Observed, Snapshot, Wanted, Work
from attonix.deploy.databases.replication import TOPOLOGY_SQL, Topology, topology_from_row

try:
    import psycopg
    from psycopg import sql
except ModuleNotFoundError:  # pragma: no cover - the extra is part of the test environment
    psycopg = None  # type: ignore[assignment]

_WEAK = ("disable", "allow", "prefer")
_ROLE_FLAGS = ("superuser", "createrole", "createdb", "replication", "bypassrls")
_TABLE_PRIVS = {"rw": ["DELETE", "INSERT", "SELECT", "UPDATE"], "ro": ["SELECT"]}
_SEQ_PRIVS = {"rw": ["SELECT", "USAGE"], "ro": ["SELECT"]}


def _need_psycopg() -> None:
    if psycopg is None:
        raise EngineUnavailable(
            "the PostgreSQL driver needs psycopg",
            hint="pip install 'attonix[deploy]' (or 'psycopg[binary]').",
        )


def conninfo(endpoint: Endpoint, admin: Admin, dbname: str | None = None) -> str:
    """A libpq connection string for the administrator (values escaped by psycopg)."""
    _need_psycopg()
    params: dict[str, Any] = {
        "host": endpoint.host,
        "port": endpoint.port,
        "dbname": dbname or endpoint.admin_database,
        "user": admin.username,
        "sslmode": endpoint.sslmode,
        "connect_timeout": 10,
        "application_name": "attonix",
    }
    if admin.password:
        params["password"] = admin.password
    if endpoint.sslrootcert:
        params["sslrootcert"] = endpoint.sslrootcert
    return psycopg.conninfo.make_conninfo(**params)


class PostgresAdapter:
    """One PostgreSQL server (or BigAnimal endpoint)."""

    engine = "postgresql"
    name_limit = 63

    def __init__(self, endpoint: Endpoint, admin: Admin) -> None:
        _need_psycopg()
        self.endpoint = endpoint
        self._admin = admin
        try:
            self._conn = psycopg.connect(conninfo(endpoint, admin), autocommit=True)
        except psycopg.OperationalError as exc:
            raise EngineUnavailable(
                f"cannot connect to PostgreSQL at {endpoint.shown} as {admin.username!r}: "
                f"{_last_line(str(exc))}",
                hint="Check the connections file (host, port, sslmode) and the administrator "
                "secret's username and password.",
            ) from None

    # ------------------------------------------------------------------ reading

    def _rows(self, query: str | sql.Composable, params: Sequence[Any] = ()) -> list[Any]:
        return list(self._conn.execute(query, params).fetchall())  # type: ignore[arg-type]

    def snapshot(self, specs: Sequence[DatabaseSpec]) -> Snapshot:
        """Roles and databases that are labelled or carry a desired name, with their grants."""
        names = {g for s in specs for g in s.groups.values()}
        dbnames = {s.dbname for s in specs}
        snap = Snapshot()
        roles = self._rows(
            """
            SELECT r.rolname, r.rolcanlogin, r.rolsuper, r.rolcreaterole, r.rolcreatedb,
                   r.rolreplication, r.rolbypassrls, r.rolinherit, r.rolconnlimit,
                   shobj_description(r.oid, 'pg_authid'),
                   ARRAY(SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g
                         ON g.oid = m.roleid WHERE m.member = r.oid ORDER BY 1),
                   ARRAY(SELECT unnest(s.setconfig) FROM pg_db_role_setting s
                         WHERE s.setrole = r.oid AND s.setdatabase = 0 ORDER BY 1)
            FROM pg_roles r
            WHERE shobj_description(r.oid, 'pg_authid') LIKE 'attonix:%%'
               OR r.rolname = ANY(%s)
            """,
            [list(names)],
        )
        for row in roles:
            name, login, *flags = row[:7]
            label = Label.decode(row[9])
            view: dict[str, Any] = {
                "login": login,
                **dict(zip(_ROLE_FLAGS, flags, strict=True)),
                "inherit": row[7],
                "connection_limit": row[8],
                "member_of": list(row[10]),
                "settings": list(row[11]),
            }
            kind: ObjectKind = "login" if login else "group"
            snap.objects[(kind, name)] = Observed(kind, name, view, label)
        dbs = self._rows(
            """
            SELECT d.datname, pg_get_userbyid(d.datdba), shobj_description(d.oid, 'pg_database'),
                   d.datconnlimit,
                   ARRAY(SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                     ELSE pg_get_userbyid(a.grantee) END || ':' || a.privilege_type
                         FROM aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a
                         ORDER BY 1)
            FROM pg_database d
            WHERE shobj_description(d.oid, 'pg_database') LIKE 'attonix:%%'
               OR d.datname = ANY(%s)
            """,
            [list(dbnames)],
        )
        for name, owner, comment, _limit, acl in dbs:
            db_view: dict[str, Any] = {"owner": owner, "privileges": list(acl)}
            db_view.update(self._inside(name))
            label = Label.decode(comment)
            snap.objects[("database", name)] = Observed("database", name, db_view, label)
        return snap

    def _inside(self, dbname: str) -> dict[str, Any]:
        """The ``public`` schema's owner and grants, and the owner's default privileges."""
        try:
            with psycopg.connect(
                conninfo(self.endpoint, self._admin, dbname), autocommit=True
            ) as conn:
                schema = conn.execute(
                    """
                    SELECT pg_get_userbyid(n.nspowner),
                           ARRAY(SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                                        ELSE pg_get_userbyid(a.grantee) END
                                        || ':' || a.privilege_type
                                 FROM aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
                                 ORDER BY 1)
                    FROM pg_namespace n WHERE n.nspname = 'public'
                    """
                ).fetchone()
                defaults = conn.execute(
                    """
                    SELECT pg_get_userbyid(d.defaclrole) || ':' || d.defaclobjtype::text || ':'
                           || pg_get_userbyid(a.grantee) || ':' || a.privilege_type
                    FROM pg_default_acl d, aclexplode(d.defaclacl) a
                    WHERE d.defaclnamespace = 'public'::regnamespace ORDER BY 1
                    """
                ).fetchall()
        except psycopg.OperationalError:
            return {"schema": "unreadable"}
        owner, acl = schema if schema else ("", [])
        return {
            "schema_owner": owner,
            "schema_privileges": list(acl),
            "default_privileges": [r[0] for r in defaults],
        }

    # ------------------------------------------------------------------ desired

    def wanted(self, spec: DatabaseSpec, snapshot: Snapshot) -> list[Wanted]:
        """Groups, database, logins and the TLS probe of ``spec``."""
        label = spec.label
        out: list[Wanted] = []
        for group in spec.groups.values():
            view = self._role_view(login=False, limit=-1, member_of=[], settings=[])
            out.append(Wanted("group", group, view, label(kind="group"), spec))
        g = spec.groups
        privileges = sorted(
            [f"{g['owner']}:CONNECT", f"{g['owner']}:CREATE", f"{g['owner']}:TEMPORARY"]
            + [f"{g[x]}:CONNECT" for x in ("rw", "ro")]
        )
        defaults = sorted(
            [f"{g['owner']}:r:{g[x]}:{p}" for x in ("rw", "ro") for p in _TABLE_PRIVS[x]]
            + [f"{g['owner']}:S:{g[x]}:{p}" for x in ("rw", "ro") for p in _SEQ_PRIVS[x]]
        )
        db_view = {
            "owner": g["owner"],
            "privileges": privileges,
            "schema_owner": g["owner"],
            "schema_privileges": sorted(
                [f"{g['owner']}:CREATE", f"{g['owner']}:USAGE"]
                + [f"{g[x]}:USAGE" for x in ("rw", "ro")]
            ),
            "default_privileges": defaults,
        }
        out.append(Wanted("database", spec.dbname, db_view, label(), spec))
        logins: list[str] = []
        for login in spec.logins:
            base = label(service=login.service, kind=login.kind)
            gens = [o.label.generation for o in snapshot.logins_of(base) if o.label] or [1]
            group = g[GROUP_OF[login.kind]]
            settings = [f"role={group}"] if login.kind == "owner" else []
            for gen in gens:
                name = login.name(gen, limit=self.name_limit)
                logins.append(name)
                view = self._role_view(
                    login=True, limit=login.connection_limit, member_of=[group], settings=settings
                )
                lbl = label(service=login.service, kind=login.kind, gen=gen)
                out.append(Wanted("login", name, view, lbl, spec, (login.service, login.kind)))
        if spec.tls:
            probe_as = logins or [self._admin.username]
            out.append(
                Wanted(
                    "tls",
                    spec.dbname,
                    {"plaintext_refused_for": sorted(probe_as)},
                    label(kind="tls"),
                    spec,
                )
            )
        return out

    @staticmethod
    def _role_view(
        *, login: bool, limit: int, member_of: list[str], settings: list[str]
    ) -> dict[str, Any]:
        return {
            "login": login,
            **dict.fromkeys(_ROLE_FLAGS, False),
            "inherit": True,
            "connection_limit": limit,
            "member_of": member_of,
            "settings": settings,
        }

    def probe_tls(self, spec: DatabaseSpec, users: Sequence[str]) -> dict[str, Any]:
        """Which of ``users`` the server refuses over plaintext before asking for a password."""
        refused = []
        for user in users:
            params: dict[str, Any] = {
                "host": self.endpoint.host,
                "port": self.endpoint.port,
                "dbname": spec.dbname,
                "user": user,
                # Never a real password over plaintext: a wrong one tells the same story.
                "password": "attonix-plaintext-probe",
                "sslmode": "disable",
                "connect_timeout": 5,
            }
            pg = psycopg.pq.PGconn.connect(psycopg.conninfo.make_conninfo(**params).encode())
            accepted = pg.status == psycopg.pq.ConnStatus.OK or pg.used_password
            pg.finish()
            if not accepted:
                refused.append(user)
        return {"plaintext_refused_for": sorted(refused)}

    # ------------------------------------------------------------------ writing

    def _exec(self, *statements: sql.Composed | sql.SQL, dbname: str | None = None) -> None:
        try:
            if dbname is None:
                for st in statements:
                    self._conn.execute(st)
                return
            with psycopg.connect(
                conninfo(self.endpoint, self._admin, dbname), autocommit=True
            ) as conn:
                for st in statements:
                    conn.execute(st)
        except psycopg.Error as exc:
            first = statements[0].as_string(self._conn) if statements else ""
            raise DeployError(
                f"PostgreSQL at {self.endpoint.shown} refused: {_last_line(str(exc))}",
                hint="Check that the administrator may create roles and databases "
                "(CREATEROLE, CREATEDB and membership of the groups it manages).",
                command=(first.split(" PASSWORD ")[0][:200],),
                stderr=str(exc),
            ) from None

    def execute(self, change: Change, *, password: str | None = None) -> None:
        """Create, update or delete one object."""
        work: Work = change.payload
        wanted = work.wanted
        ident = sql.Identifier(change.name)
        if change.action == "delete":
            if change.kind == "database":
                self._exec(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
            elif (change.kind == "login" and wanted is None) or change.kind == "group":
                self._exec(sql.SQL("DROP ROLE IF EXISTS {}").format(ident))
            return
        assert wanted is not None
        if change.kind == "tls":
            raise DeployError(
                f"database {change.name!r} must refuse connections without TLS, but "
                f"{self.endpoint.shown} accepts them for: "
                + ", ".join(
                    sorted(
                        set(wanted.view["plaintext_refused_for"])
                        - set((change.observed or {}).get("plaintext_refused_for", []))
                    )
                ),
                hint=f"Add 'hostnossl {change.name} all 0.0.0.0/0 reject' (and ::/0) before the "
                "other rules in pg_hba.conf and reload the server; Attonix cannot edit pg_hba.",
            )
        if change.kind in ("group", "login"):
            self._apply_role(change, wanted, password)
        elif change.kind == "database":
            self._apply_database(change, wanted)

    def _apply_role(self, change: Change, wanted: Wanted, password: str | None) -> None:
        ident = sql.Identifier(change.name)
        view = wanted.view
        flags = sql.SQL(" LOGIN" if view["login"] else " NOLOGIN") + sql.SQL(
            " NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS INHERIT"
        )
        limit = sql.SQL(" CONNECTION LIMIT {}").format(sql.Literal(view["connection_limit"]))
        statements: list[sql.Composed | sql.SQL] = []
        if change.action == "create":
            create = sql.SQL("CREATE ROLE {}").format(ident) + flags + limit
            if password is not None:
                verifier = sql.Literal(scram_sha_256(password))
                create = create + sql.SQL(" PASSWORD {}").format(verifier)
            statements.append(create)
        else:
            statements.append(sql.SQL("ALTER ROLE {}").format(ident) + flags + limit)
        statements.append(
            sql.SQL("COMMENT ON ROLE {} IS {}").format(ident, sql.Literal(wanted.label.encode()))
        )
        observed = change.observed or {}
        for extra in set(observed.get("member_of", [])) - set(view["member_of"]):
            statements.append(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(extra), ident))
        for group in sorted(set(view["member_of"]) - set(observed.get("member_of", []))):
            statements.append(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), ident))
        if observed.get("settings", []) != view["settings"]:
            statements.append(sql.SQL("ALTER ROLE {} RESET ALL").format(ident))
            for setting in view["settings"]:
                key, _, value = setting.partition("=")
                statements.append(
                    sql.SQL("ALTER ROLE {} SET {} TO {}").format(
                        ident, sql.Identifier(key), sql.Literal(value)
                    )
                )
        self._exec(*statements)

    def _apply_database(self, change: Change, wanted: Wanted) -> None:
        g = wanted.spec.groups
        ident = sql.Identifier(change.name)
        owner = sql.Identifier(g["owner"])
        rw, ro = sql.Identifier(g["rw"]), sql.Identifier(g["ro"])
        top: list[sql.Composed | sql.SQL] = []
        if change.action == "create":
            top.append(sql.SQL("CREATE DATABASE {} OWNER {}").format(ident, owner))
        else:
            top.append(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(ident, owner))
        top.append(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                ident, sql.Literal(wanted.label.encode())
            )
        )
        top.append(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(ident))
        for grantee in _grantees((change.observed or {}).get("privileges", [])):
            if grantee not in (g["owner"], "PUBLIC"):
                top.append(
                    sql.SQL("REVOKE ALL ON DATABASE {} FROM {}").format(
                        ident, sql.Identifier(grantee)
                    )
                )
        top.append(sql.SQL("GRANT ALL ON DATABASE {} TO {}").format(ident, owner))
        top.append(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}, {}").format(ident, rw, ro))
        self._exec(*top)
        inside: list[sql.Composed | sql.SQL] = [
            sql.SQL("ALTER SCHEMA public OWNER TO {}").format(owner),
            sql.SQL("REVOKE ALL ON SCHEMA public FROM PUBLIC"),
        ]
        for grantee in _grantees((change.observed or {}).get("schema_privileges", [])):
            if grantee not in (g["owner"], "PUBLIC"):
                inside.append(
                    sql.SQL("REVOKE ALL ON SCHEMA public FROM {}").format(sql.Identifier(grantee))
                )
        inside.append(sql.SQL("GRANT USAGE ON SCHEMA public TO {}, {}").format(rw, ro))
        adp = sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public ").format(owner)
        for entry in (change.observed or {}).get("default_privileges", []):
            role, objtype, grantee, _priv = entry.split(":")
            what = {"r": "TABLES", "S": "SEQUENCES", "f": "FUNCTIONS", "T": "TYPES"}.get(objtype)
            if what:
                inside.append(
                    sql.SQL(
                        "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public "
                        "REVOKE ALL ON {} FROM {}"
                    ).format(sql.Identifier(role), sql.SQL(what), sql.Identifier(grantee))
                )
        for grp, key in ((rw, "rw"), (ro, "ro")):
            inside.append(
                adp
                + sql.SQL("GRANT {} ON TABLES TO {}").format(
                    sql.SQL(", ").join(sql.SQL(p) for p in _TABLE_PRIVS[key]), grp
                )
            )
            inside.append(
                adp
                + sql.SQL("GRANT {} ON SEQUENCES TO {}").format(
                    sql.SQL(", ").join(sql.SQL(p) for p in _SEQ_PRIVS[key]), grp
                )
            )
        self._exec(*inside, dbname=change.name)

    # ------------------------------------------------------------------ rotation

    def check_login(self, spec: DatabaseSpec, username: str, password: str) -> None:
        """Log in as ``username`` and run one query."""
        params: dict[str, Any] = {
            "host": self.endpoint.host,
            "port": self.endpoint.port,
            "dbname": spec.dbname,
            "user": username,
            "password": password,
            "sslmode": "require"
            if spec.tls and self.endpoint.sslmode in _WEAK
            else self.endpoint.sslmode,
            "connect_timeout": 10,
        }
        if self.endpoint.sslrootcert:
            params["sslrootcert"] = self.endpoint.sslrootcert
        try:
            with psycopg.connect(psycopg.conninfo.make_conninfo(**params)) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            raise DeployError(
                f"the new login {username!r} cannot log into {spec.dbname!r} on "
                f"{self.endpoint.shown}: {_last_line(str(exc))}",
                hint="Check pg_hba.conf for the login, then run the rotation again.",
            ) from None

    def replication(self) -> Topology:
        """Primary or standby, the standbys this server streams to, synchronous settings."""
        row = self._conn.execute(TOPOLOGY_SQL).fetchone()
        assert row is not None
        return topology_from_row(tuple(row))

    def sessions(self, user: str) -> int:
        """Sessions ``user`` holds now (``pg_stat_activity``)."""
        row = self._conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", [user]
        ).fetchone()
        return int(row[0]) if row else 0

    def drop_login(self, name: str, *, spec: DatabaseSpec) -> None:
        """Hand the login's objects to the owner group, then drop it."""
        ident = sql.Identifier(name)
        owner = sql.Identifier(spec.groups["owner"])
        exists = self._conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone()
        if not exists:
            return
        self._exec(
            sql.SQL("REASSIGN OWNED BY {} TO {}").format(ident, owner),
            sql.SQL("DROP OWNED BY {}").format(ident),
            dbname=spec.dbname,
        )
        self._exec(sql.SQL("DROP ROLE {}").format(ident))

    def close(self) -> None:
        """Close the administrator connection."""
        self._conn.close()


def _grantees(privileges: Sequence[str]) -> list[str]:
    return sorted({p.rsplit(":", 1)[0] for p in privileges})


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else text
