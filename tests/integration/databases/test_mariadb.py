"""The databases driver against a real MariaDB with TLS (a throwaway server on a spare port).

The tests share one provisioned state and run in file order: converge, idempotence, least
privilege, TLS required per user, drift, destroy with a decoy left alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pymysql
import pytest
from _clusters import MariaServer

from attonix.blueprint import load_file
from attonix.deploy import EnvSecretSource
from attonix.deploy.credentials import FileCredentialStore
from attonix.deploy.databases import DatabaseDriver
from conftest import FIXTURE

pytestmark = pytest.mark.integration

ACCESS_DENIED = (1044, 1045, 1142, 1227)


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory, maria_server: MariaServer) -> Path:
    path = tmp_path_factory.mktemp("mystate")
    (path / "connections.yaml").write_text(
        "databases:\n"
        + "".join(
            f"  {name}: {{host: 127.0.0.1, port: {maria_server.port}, sslmode: require}}\n"
            for name in ("orders-my", "billing-my")
        )
    )
    return path


@pytest.fixture(scope="module")
def driver(state: Path, maria_server: MariaServer) -> DatabaseDriver:
    bp = load_file(FIXTURE).blueprint
    secrets = EnvSecretSource(
        bp.security.secrets,
        environ={
            "ATTONIX_SECRET_MARIA_ADMIN_USERNAME": maria_server.admin,
            "ATTONIX_SECRET_MARIA_ADMIN_PASSWORD": maria_server.password,
        },
    )
    return DatabaseDriver(bp, cluster="all", secrets=secrets, state=state)


def cred(state: Path, db: str, svc: str, kind: str) -> dict[str, str]:
    values = FileCredentialStore(state / "credentials").read(
        f"attonix-dbtest.test.{db}.{svc}.{kind}"
    )
    assert values is not None
    return values


def connect(server: MariaServer, creds: dict[str, str], *, tls: bool = True, db: str = "") -> Any:
    return pymysql.connect(
        host="127.0.0.1",
        port=server.port,
        user=creds["username"],
        password=creds["password"],
        database=db or creds["database"],
        ssl={"check_hostname": False} if tls else None,
        ssl_disabled=not tls,
        autocommit=True,
    )


def admin(server: MariaServer) -> Any:
    return pymysql.connect(
        host="127.0.0.1",
        port=server.port,
        user=server.admin,
        password=server.password,
        autocommit=True,
    )


def test_apply_converges_and_a_second_apply_plans_nothing(driver: DatabaseDriver) -> None:
    plan = driver.plan()
    keys = {c.key for c in plan.of("create")}
    assert {"database/atx_orders", "group/atx_orders_rw", "login/atx_orders_orders_app_g1"} <= keys
    result = driver.apply(plan)
    assert result.ok, result.error
    again = driver.plan()
    assert again.is_empty, [(c.key, c.diff) for c in again.pending]
    assert all(s.converged for s in driver.status())


def test_least_privilege(maria_server: MariaServer, state: Path) -> None:
    owner = cred(state, "orders-my", "orders", "owner")
    app = cred(state, "orders-my", "orders", "app")
    ro = cred(state, "orders-my", "orders", "readonly")
    with connect(maria_server, owner) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, name TEXT)")
    with connect(maria_server, app) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO items (name) VALUES ('a'), ('b')")
        cur.execute("SELECT COUNT(*) FROM items")
        assert cur.fetchone() == (2,)
        for statement in (
            "CREATE TABLE sneaky (x INT)",
            "DROP TABLE items",
            "CREATE USER sneaky@'%'",
            "SELECT * FROM mysql.user",
        ):
            with pytest.raises(pymysql.err.OperationalError) as exc:
                cur.execute(statement)
            assert exc.value.args[0] in ACCESS_DENIED, (statement, exc.value.args)
    with connect(maria_server, ro) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM items")
        with pytest.raises(pymysql.err.OperationalError):
            cur.execute("INSERT INTO items (name) VALUES ('x')")
    # Another service's database: refused at connect.
    with pytest.raises(pymysql.err.OperationalError) as exc:
        connect(maria_server, app, db="atx_billing")
    assert exc.value.args[0] in ACCESS_DENIED


def test_tls_required_per_user(maria_server: MariaServer, state: Path) -> None:
    app = cred(state, "orders-my", "orders", "app")
    with pytest.raises(pymysql.err.OperationalError) as exc:
        connect(maria_server, app, tls=False)
    assert exc.value.args[0] == 1045
    with connect(maria_server, app) as conn, conn.cursor() as cur:
        cur.execute("SHOW STATUS LIKE 'Ssl_cipher'")
        assert cur.fetchone()[1]
    # billing-my does not require TLS: plaintext works.
    plain = connect(maria_server, cred(state, "billing-my", "billing", "app"), tls=False)
    with plain, plain.cursor() as cur:
        cur.execute("SHOW STATUS LIKE 'Ssl_cipher'")
        assert cur.fetchone()[1] == ""


def test_drift_shows_and_is_repaired(driver: DatabaseDriver, maria_server: MariaServer) -> None:
    with admin(maria_server) as conn, conn.cursor() as cur:
        cur.execute("ALTER USER atx_orders_orders_app_g1@'%' WITH MAX_USER_CONNECTIONS 99")
        cur.execute("GRANT DROP ON atx_orders.* TO atx_orders_rw")
    plan = driver.plan()
    updated = {c.key: c.diff for c in plan.of("update")}
    assert set(updated) == {"login/atx_orders_orders_app_g1", "group/atx_orders_rw"}
    assert "-max_user_connections: 99" in updated["login/atx_orders_orders_app_g1"]
    assert "atx_orders:DROP" in updated["group/atx_orders_rw"]
    result = driver.apply(plan)
    assert result.ok, result.error
    assert driver.plan().is_empty


def test_destroy_leaves_the_decoy(driver: DatabaseDriver, maria_server: MariaServer) -> None:
    with admin(maria_server) as conn, conn.cursor() as cur:
        cur.execute("CREATE USER atx_decoy@'%' IDENTIFIED BY 'decoy'")
        cur.execute("CREATE DATABASE atx_decoy_db")
    result = driver.destroy()
    assert result.ok, result.error
    with admin(maria_server) as conn, conn.cursor() as cur:
        cur.execute("SELECT User FROM mysql.user WHERE User LIKE 'atx%'")
        assert {r[0] for r in cur.fetchall()} == {"atx_decoy"}
        cur.execute("SHOW DATABASES LIKE 'atx%'")
        assert {r[0] for r in cur.fetchall()} == {"atx_decoy_db"}
