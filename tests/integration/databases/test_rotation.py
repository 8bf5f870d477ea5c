"""Credential rotation on real servers: lossless under a consumer's query loop, resumable.

A consumer thread runs a bounded loop of queries; before each one it reads the current
credential from the store and, if it changed, opens a connection with the new login (as a
connection pool recycling its connections would). The rotation must lose no query, the old
login must end dropped, and an interrupted rotation must resume instead of starting over.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from _clusters import MariaServer, PgServer
from _write_loop import WriteLoop

from attonix.blueprint import Blueprint, load_file
from attonix.deploy import DeployError, EnvSecretSource
from attonix.deploy.databases import DatabaseDriver
from attonix.deploy.databases.rotation import RotationStopped, load_state, rotate
from conftest import FIXTURE

pytestmark = pytest.mark.integration

CRED = "attonix-dbtest.test.orders-pg.orders.app"


@pytest.fixture(scope="module")
def blueprint() -> Blueprint:
    return load_file(FIXTURE).blueprint


@pytest.fixture(scope="module")
def driver(
    tmp_path_factory: pytest.TempPathFactory, pg_server: PgServer, blueprint: Blueprint
) -> DatabaseDriver:
    state = tmp_path_factory.mktemp("rotstate")
    (state / "connections.yaml").write_text(
        f"databases:\n  orders-pg: {{host: 127.0.0.1, port: {pg_server.port}, sslmode: require}}\n"
    )
    secrets = EnvSecretSource(
        blueprint.security.secrets,
        environ={
            "ATTONIX_SECRET_PG_ADMIN_USERNAME": pg_server.superuser,
            "ATTONIX_SECRET_PG_ADMIN_PASSWORD": pg_server.password,
        },
    )
    drv = DatabaseDriver(blueprint, cluster="orders-pg", secrets=secrets, state=state)
    result = drv.apply(drv.plan())
    assert result.ok, result.error
    owner = drv.credentials.read("attonix-dbtest.test.orders-pg.orders.owner")
    assert owner is not None
    with pg_connect(pg_server, owner) as conn:
        conn.execute("CREATE TABLE events (id serial PRIMARY KEY, at timestamptz DEFAULT now())")
    return drv


def pg_connect(pg: PgServer, creds: dict[str, str]) -> Any:
    return psycopg.connect(
        host="127.0.0.1",
        port=pg.port,
        dbname=creds["database"],
        user=creds["username"],
        password=creds["password"],
        sslmode="require",
        autocommit=True,
    )


def logins(pg: PgServer) -> set[str]:
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE 'atx_orders_orders_app%'"
        ).fetchall()
    return {r[0] for r in rows}


class Consumer(WriteLoop):
    """A service replica: reads its login from the credential store before each write."""

    errors = (psycopg.Error,)

    def __init__(self, driver: DatabaseDriver, pg: PgServer, stop: threading.Event) -> None:
        super().__init__(stop)
        self.driver, self.pg = driver, pg

    def login(self, last: dict[str, str] | None) -> dict[str, str] | None:
        creds = self.driver.credentials.read(CRED)
        assert creds is not None
        return creds

    def connect(self, login: dict[str, str]) -> Any:
        return pg_connect(self.pg, login)

    def write(self, conn: Any) -> None:
        conn.execute("INSERT INTO events DEFAULT VALUES")


def test_rotation_under_a_query_loop_loses_no_query(
    driver: DatabaseDriver, pg_server: PgServer
) -> None:
    assert logins(pg_server) == {"atx_orders_orders_app_g1"}
    stop = threading.Event()
    consumers = [Consumer(driver, pg_server, stop) for _ in range(3)]
    for c in consumers:
        c.start()
    time.sleep(0.5)
    steps: list[str] = []
    state = rotate(
        driver,
        database="orders-pg",
        service="orders",
        kind="app",
        progress=steps.append,
        drain_timeout=30,
    )
    time.sleep(0.5)
    stop.set()
    for c in consumers:
        c.join(10)
    assert state.step == "dropped"
    assert [c.failures for c in consumers] == [[], [], []]
    assert all(
        c.users == ["atx_orders_orders_app_g1", "atx_orders_orders_app_g2"] for c in consumers
    )
    assert all(c.ok > 20 for c in consumers)
    assert logins(pg_server) == {"atx_orders_orders_app_g2"}
    with psycopg.connect(pg_server.dsn("atx_orders"), autocommit=True) as conn:
        total = conn.execute("SELECT count(*) FROM events").fetchone()
    assert total == (sum(c.ok for c in consumers),)
    assert any("created and verified atx_orders_orders_app_g2" in s for s in steps)
    assert load_state(driver.state_directory, CRED) is None
    # The store keeps only the new version; the plan adopts the new generation as desired.
    assert driver.credentials.read(CRED, state.version - 1) is None
    assert driver.plan().is_empty
    # The dropped login's password no longer works.
    old = {"username": "atx_orders_orders_app_g1", "password": "x", "database": "atx_orders"}
    with pytest.raises(psycopg.OperationalError):
        pg_connect(pg_server, old)


def test_an_interrupted_rotation_resumes_where_it_stopped(
    driver: DatabaseDriver, pg_server: PgServer
) -> None:
    # A consumer that never lets go of the old login: the rotation stops after the switch.
    creds = driver.credentials.read(CRED)
    assert creds is not None
    stuck = pg_connect(pg_server, creds)
    try:
        with pytest.raises(RotationStopped) as exc:
            rotate(driver, database="orders-pg", service="orders", kind="app", drain_timeout=1)
        assert exc.value.state.step == "switched"
        assert "still use the old login atx_orders_orders_app_g2" in exc.value.message
        assert logins(pg_server) == {"atx_orders_orders_app_g2", "atx_orders_orders_app_g3"}
        # Both logins are valid meanwhile: the stuck consumer keeps working.
        stuck.execute("SELECT 1")
        saved = load_state(driver.state_directory, CRED)
        assert saved is not None and saved.step == "switched"
        assert driver.plan().is_empty  # mid-rotation both generations are desired
        status = {s.name: s for s in driver.status()}["orders-pg"]
        assert status.converged
    finally:
        stuck.close()
    # Run again: resumes (no fourth generation), drains and drops.
    steps: list[str] = []
    state = rotate(
        driver, database="orders-pg", service="orders", kind="app", progress=steps.append
    )
    assert steps[0].startswith("resuming the rotation")
    assert state.generation == 3 and state.step == "dropped"
    assert logins(pg_server) == {"atx_orders_orders_app_g3"}


def test_rotation_refuses_what_it_cannot_do(driver: DatabaseDriver) -> None:
    with pytest.raises(DeployError) as exc:
        rotate(driver, database="orders-pg", service="billing", kind="app")
    assert "does not declare database" in exc.value.message
    with pytest.raises(DeployError):
        rotate(driver, database="orders-pg", service="orders", kind="root")


def test_rotation_on_mariadb(
    tmp_path: Path, maria_server: MariaServer, blueprint: Blueprint
) -> None:
    (tmp_path / "connections.yaml").write_text(
        f"databases:\n  orders-my: {{host: 127.0.0.1, port: {maria_server.port}, "
        "sslmode: require}\n"
    )
    secrets = EnvSecretSource(
        blueprint.security.secrets,
        environ={
            "ATTONIX_SECRET_MARIA_ADMIN_USERNAME": maria_server.admin,
            "ATTONIX_SECRET_MARIA_ADMIN_PASSWORD": maria_server.password,
        },
    )
    drv = DatabaseDriver(blueprint, cluster="orders-my", secrets=secrets, state=tmp_path)
    assert drv.apply(drv.plan()).ok
    try:
        state = rotate(drv, database="orders-my", service="orders", kind="readonly")
        assert state.new_login == "atx_orders_orders_readonly_g2"
        creds = drv.credentials.read("attonix-dbtest.test.orders-my.orders.readonly")
        assert creds is not None and creds["username"] == state.new_login
        conn = pymysql.connect(
            host="127.0.0.1",
            port=maria_server.port,
            user=creds["username"],
            password=creds["password"],
            database="atx_orders",
            ssl={"check_hostname": False},
        )
        conn.close()
        assert drv.plan().is_empty
    finally:
        assert drv.destroy().ok


def test_cli_rotate_prints_steps_and_json(driver: DatabaseDriver, pg_server: PgServer) -> None:
    import json
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "ATTONIX_STATE_DIR": str(driver.state_directory),
        "ATTONIX_SECRET_PG_ADMIN_USERNAME": pg_server.superuser,
        "ATTONIX_SECRET_PG_ADMIN_PASSWORD": pg_server.password,
    }
    argv = [sys.executable, "-m", "attonix", "rotate", str(FIXTURE), "-d", "orders-pg"]
    done = subprocess.run(
        [*argv, "-s", "orders", "-k", "readonly", "-o", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["done"] and report["new_login"] == "atx_orders_orders_readonly_g2"
    assert "password" not in done.stdout + done.stderr
    assert "created and verified atx_orders_orders_readonly_g2" in done.stderr
    bad = subprocess.run(
        [*argv, "-s", "nobody"], env=env, capture_output=True, text=True, check=False
    )
    assert bad.returncode == 3  # the operation could not be done (docs/cli.md)
    assert "does not declare database" in bad.stderr and "Traceback" not in bad.stderr
