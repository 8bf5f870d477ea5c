"""The databases driver against a real PostgreSQL 15 with TLS and SCRAM (a throwaway cluster).

The tests share one provisioned state and run in file order: converge, idempotence, least
privilege, TLS refusal, drift, foreign objects, destroy with a decoy left alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest
from _clusters import PgServer

from attonix.blueprint import Blueprint, load_file
from attonix.deploy import DeployError, EnvSecretSource
from attonix.deploy.credentials import FileCredentialStore
from attonix.deploy.databases import DatabaseDriver
from conftest import FIXTURE

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def blueprint() -> Blueprint:
    return load_file(FIXTURE).blueprint


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory, pg_server: PgServer) -> Path:
    path = tmp_path_factory.mktemp("dbstate")
    (path / "connections.yaml").write_text(
        "databases:\n"
        + "".join(
            f"  {name}: {{host: 127.0.0.1, port: {pg_server.port}, sslmode: require}}\n"
            for name in ("orders-pg", "billing-pg")
        )
    )
    return path


def make_driver(bp: Blueprint, state: Path, pg: PgServer, cluster: str = "all") -> DatabaseDriver:
    secrets = EnvSecretSource(
        bp.security.secrets,
        environ={
            "ATTONIX_SECRET_PG_ADMIN_USERNAME": pg.superuser,
            "ATTONIX_SECRET_PG_ADMIN_PASSWORD": pg.password,
        },
    )
    return DatabaseDriver(bp, cluster=cluster, secrets=secrets, state=state)


@pytest.fixture(scope="module")
def driver(blueprint: Blueprint, state: Path, pg_server: PgServer) -> DatabaseDriver:
    return make_driver(blueprint, state, pg_server)


def cred(state: Path, db: str, svc: str, kind: str) -> dict[str, str]:
    values = FileCredentialStore(state / "credentials").read(
        f"attonix-dbtest.test.{db}.{svc}.{kind}"
    )
    assert values is not None, f"no credential for {db}/{svc}/{kind}"
    return values


def connect(pg: PgServer, creds: dict[str, str], dbname: str | None = None, **kw: Any) -> Any:
    params = {
        "host": "127.0.0.1",
        "port": pg.port,
        "dbname": dbname or creds["database"],
        "user": creds["username"],
        "password": creds["password"],
        "sslmode": "require",
        "connect_timeout": 5,
        **kw,
    }
    return psycopg.connect(**params, autocommit=True)


def admin(pg: PgServer, dbname: str = "postgres") -> Any:
    return psycopg.connect(pg.dsn(dbname), autocommit=True)


def test_apply_creates_databases_groups_and_logins(driver: DatabaseDriver) -> None:
    plan = driver.plan()
    keys = {c.key for c in plan.of("create")}
    assert {"database/atx_orders", "database/atx_billing"} <= keys
    assert {"group/atx_orders_owner", "group/atx_orders_rw", "group/atx_orders_ro"} <= keys
    assert {
        "login/atx_orders_orders_owner_g1",
        "login/atx_orders_orders_app_g1",
        "login/atx_orders_orders_readonly_g1",
        "login/atx_billing_billing_app_g1",
    } <= keys
    # The TLS database's plaintext refusal is probed, not assumed: pg_hba already refuses.
    assert plan.of("unchanged", "tls") and not plan.of("update", "tls")
    result = driver.apply(plan)
    assert result.ok, result.error
    assert driver.plan().is_empty, driver.plan().to_dict()


def test_second_apply_plans_nothing_and_status_is_converged(driver: DatabaseDriver) -> None:
    plan = driver.plan()
    assert plan.is_empty
    assert plan.counts()["unchanged"] >= 2 * (1 + 3 + 3) + 1
    statuses = {s.name: s for s in driver.status()}
    assert set(statuses) == {"orders-pg", "billing-pg"}  # the MariaDB ones have no server here
    assert all(s.converged for s in statuses.values()), statuses


def test_login_attributes_are_least_privilege(pg_server: PgServer) -> None:
    with admin(pg_server) as conn:
        rows = conn.execute(
            "SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls,"
            " rolconnlimit FROM pg_roles WHERE rolname LIKE 'atx\\_%' AND rolcanlogin"
        ).fetchall()
    limits = {r[0]: r[6] for r in rows}
    assert len(rows) == 6
    assert not any(any(r[1:6]) for r in rows)
    assert limits["atx_orders_orders_app_g1"] == 20  # 2 replicas x a pool of 10
    assert limits["atx_orders_orders_owner_g1"] == 2
    assert limits["atx_billing_billing_readonly_g1"] == 5


def test_owner_migrates_app_writes_readonly_reads(pg_server: PgServer, state: Path) -> None:
    owner = cred(state, "orders-pg", "orders", "owner")
    app = cred(state, "orders-pg", "orders", "app")
    ro = cred(state, "orders-pg", "orders", "readonly")
    with connect(pg_server, owner) as conn:
        conn.execute("CREATE TABLE items (id serial PRIMARY KEY, name text)")
    with connect(pg_server, app) as conn:
        conn.execute("INSERT INTO items (name) VALUES ('a'), ('b')")
        conn.execute("UPDATE items SET name = 'c' WHERE name = 'b'")
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (2,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE TABLE sneaky (x int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE ROLE sneaky LOGIN")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DROP TABLE items")
    with connect(pg_server, ro) as conn:
        assert conn.execute("SELECT count(*) FROM items").fetchone() == (2,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO items (name) VALUES ('x')")
    # Objects belong to the owner group, not to the login that ran the migration.
    with admin(pg_server, "atx_orders") as conn:
        owner_of = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'items'")
        assert owner_of.fetchone() == ("atx_orders_owner",)


def test_another_services_database_is_refused(pg_server: PgServer, state: Path) -> None:
    for kind in ("owner", "app", "readonly"):
        creds = cred(state, "orders-pg", "orders", kind)
        with pytest.raises(psycopg.OperationalError) as exc:
            connect(pg_server, creds, dbname="atx_billing")
        assert "permission denied for database" in str(exc.value)
    billing = cred(state, "billing-pg", "billing", "owner")
    with pytest.raises(psycopg.OperationalError):
        connect(pg_server, billing, dbname="atx_orders")


def test_plaintext_is_refused_where_tls_is_required(pg_server: PgServer, state: Path) -> None:
    app = cred(state, "orders-pg", "orders", "app")
    with pytest.raises(psycopg.OperationalError) as exc:
        connect(pg_server, app, sslmode="disable")
    assert "no encryption" in str(exc.value)
    with connect(pg_server, app) as conn:
        assert conn.info.pgconn.ssl_in_use


def test_tls_declared_but_not_enforced_is_reported(
    blueprint: Blueprint, state: Path, pg_server: PgServer
) -> None:
    dbs = [
        d.model_copy(update={"tls": True}) if d.name == "billing-pg" else d
        for d in blueprint.databases
    ]
    strict = blueprint.model_copy(update={"databases": dbs})
    drv = make_driver(strict, state, pg_server, cluster="billing-pg")
    plan = drv.plan()
    (tls,) = plan.of("update", "tls")
    assert "atx_billing_billing_app_g1" in tls.diff
    result = drv.apply(plan)
    assert not result.ok
    assert "accepts them for" in result.error
    status = {s.name: s for s in drv.status()}["billing-pg"]
    assert not status.converged and "update tls/atx_billing" in status.message


def test_drift_shows_in_the_next_plan_and_apply_repairs_it(
    driver: DatabaseDriver, pg_server: PgServer
) -> None:
    with admin(pg_server) as conn:
        conn.execute('ALTER ROLE "atx_orders_orders_app_g1" CONNECTION LIMIT 99')
        conn.execute('ALTER ROLE "atx_orders_orders_readonly_g1" CREATEDB')
        conn.execute("GRANT CONNECT ON DATABASE atx_orders TO PUBLIC")
    plan = driver.plan()
    updated = {c.key: c.diff for c in plan.of("update")}
    assert set(updated) == {
        "login/atx_orders_orders_app_g1",
        "login/atx_orders_orders_readonly_g1",
        "database/atx_orders",
    }
    assert "-connection_limit: 99" in updated["login/atx_orders_orders_app_g1"]
    assert "+connection_limit: 20" in updated["login/atx_orders_orders_app_g1"]
    assert "-createdb: true" in updated["login/atx_orders_orders_readonly_g1"]
    assert "PUBLIC:CONNECT" in updated["database/atx_orders"]
    assert not any(s.converged for s in driver.status() if s.name == "orders-pg")
    result = driver.apply(plan)
    assert result.ok, result.error
    assert driver.plan().is_empty


def test_an_unlabelled_object_with_a_wanted_name_stops_the_plan(
    blueprint: Blueprint, state: Path, pg_server: PgServer
) -> None:
    dbs = [
        d.model_copy(update={"database": "atx_foreign"}) if d.name == "billing-pg" else d
        for d in blueprint.databases
    ]
    other = blueprint.model_copy(update={"databases": dbs})
    with admin(pg_server) as conn:
        conn.execute("CREATE ROLE atx_foreign_owner NOLOGIN")
    try:
        with pytest.raises(DeployError) as exc:
            make_driver(other, state, pg_server, cluster="billing-pg").plan()
        assert "atx_foreign_owner" in exc.value.message
        assert "not by this blueprint" in exc.value.message
    finally:
        with admin(pg_server) as conn:
            conn.execute("DROP ROLE atx_foreign_owner")


def test_destroy_removes_only_what_attonix_created(
    driver: DatabaseDriver, pg_server: PgServer, state: Path
) -> None:
    with admin(pg_server) as conn:
        conn.execute("CREATE ROLE atx_decoy LOGIN PASSWORD 'decoy'")
        conn.execute("CREATE DATABASE atx_decoy_db")
        conn.execute("COMMENT ON ROLE atx_decoy IS 'attonix-looking but not a label'")
    try:
        # What the CLI lists before asking: every labelled object, never the decoys.
        listed = driver.removals()
        assert listed and all(line.startswith("delete ") for line in listed)
        assert not [line for line in listed if "atx_decoy" in line]
        result = driver.destroy()
        assert result.ok, result.error
        assert len(result.done) == len(listed)
        with admin(pg_server) as conn:
            roles = {
                r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'atx%'")
            }
            dbs = {
                r[0]
                for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'atx%'")
            }
        assert roles == {"atx_decoy"}
        assert dbs == {"atx_decoy_db"}
        assert not list((state / "credentials").glob("*orders-pg*"))
        assert driver.plan().counts()["create"] > 0
    finally:
        with admin(pg_server) as conn:
            conn.execute("DROP DATABASE IF EXISTS atx_decoy_db")
            conn.execute("DROP ROLE IF EXISTS atx_decoy")
