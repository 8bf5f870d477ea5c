"""Credential rotation as a Central Server action: request, approval by a second person, a job.

The server runs on the machine's PostgreSQL (a throwaway database); the rotated login lives
on a throwaway PostgreSQL server with TLS (the managed database of
tests/fixtures/databases/rotation-podman.yaml), and its consumer is the fixture's service on
real Podman. An operator of ``staging`` requests the rotation; the plan job names the login
replaced and the one created; the requester cannot approve it (two-person rule), an operator
of another environment cannot either; an administrator approves, and the job's log shows each
step while the service is rolled onto the new login and the old one is dropped.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from _clusters import MariaServer, PgServer
from _write_loop import WriteLoop
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from attonix.blueprint import load_file
from attonix.deploy import EnvSecretSource, get_driver
from attonix.deploy.databases import DatabaseDriver
from attonix.server.app import create_app
from attonix.server.db.models import AuditEntry, RoleBinding, User
from attonix.server.security import hash_password
from attonix.server.security.envelope import KeyRing
from attonix.server.security.totp import new_totp_secret, totp_now
from attonix.server.settings import Settings

pytestmark = pytest.mark.integration

V = "/api/v1"
FIXTURE = Path(__file__).parents[2] / "fixtures" / "databases" / "rotation-podman.yaml"
#: The MariaDB case: a database on a server Attonix reaches, consumed by a service whose
#: engine Attonix does not roll (Kubernetes), so the test's query loop is the consumer.
SHOP = Path(__file__).parents[2] / "fixtures" / "databases" / "shop-db.yaml"
PG_ADMIN = os.environ.get(
    "ATTONIX_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PASSWORD = "Correct-Horse-Battery-42"
CRED = "attonix-rottest.test.ledger-pg.ledger.app"


@dataclass
class Live:
    client: TestClient
    users: dict[str, dict[str, str]]
    db: DatabaseDriver
    ctx: Any

    def call(self, method: str, url: str, who: str, **kw: Any) -> Any:
        return self.client.request(method, f"{V}{url}", headers=self.users[who], **kw)

    def wait(self, dep: int, statuses: set[str], timeout: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            body: dict[str, Any] = self.call(
                "GET", f"/environments/staging/deployments/{dep}", "olga"
            ).json()
            if body["status"] in statuses:
                return body
            assert body["status"] not in {"failed", "plan_failed", "rejected"}, body
            assert time.monotonic() < deadline, f"deployment {dep} still {body['status']}"
            time.sleep(0.3)


def _sign_in(client: TestClient, name: str, secret: str) -> dict[str, str]:
    r = client.post(f"{V}/auth/login", json={"username": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    r = client.post(
        f"{V}/auth/mfa", json={"mfa_token": r.json()["mfa_token"], "code": totp_now(secret)}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@contextlib.contextmanager
def central_server(
    tmp: Path, db: DatabaseDriver, *, source: Path, secret: str, values: dict[str, str]
) -> Iterator[Live]:
    """A Central Server on a throwaway database of the machine's PostgreSQL, with its users
    (ada: admin; olga: operator of staging; pete: operator of prod), both environments, the
    blueprint ``source`` uploaded to staging and the database administrator's ``secret``."""
    db_name = f"atx_rotsrv_{uuid.uuid4().hex[:10]}"
    admin_engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {db_name}"))
    try:
        settings = Settings(
            data_dir=tmp,
            database_url=make_url(PG_ADMIN).set(database=db_name).render_as_string(False),
            signing_key="s" * 48,
            kek=KeyRing.generate_line("rotation-test"),
            auto_migrate=True,
            run_workers=True,
            worker_poll_seconds=0.2,
            two_person_rule=["staging"],
        )
        app = create_app(settings)
        with TestClient(app, base_url="http://testserver") as client:
            ctx = app.state.ctx
            totp = {n: new_totp_secret() for n in ("ada", "olga", "pete")}
            with ctx.db.session() as s:
                for name, key in totp.items():
                    user = User(
                        name=name,
                        email=f"{name}@example.test",
                        password_hash=hash_password(PASSWORD),
                        is_admin=name == "ada",
                        mfa_enabled=True,
                    )
                    s.add(user)
                    s.flush()
                    user.mfa_secret = ctx.keyring.seal(
                        key.encode(), aad=f"mfa:{user.id}".encode()
                    ).to_bytes()
                # olga operates staging; pete operates prod only.
                for name, where in (("olga", "staging"), ("pete", "prod")):
                    s.add(
                        RoleBinding(
                            role="operator", environment=where, subject_kind="user", subject=name
                        )
                    )
            users = {n: _sign_in(client, n, t) for n, t in totp.items()}
            lv = Live(client=client, users=users, db=db, ctx=ctx)
            for name in ("staging", "prod"):
                r = lv.call("POST", "/environments", "ada", json={"name": name})
                assert r.status_code == 201, r.text
            r = lv.call(
                "POST",
                "/environments/staging/blueprints",
                "olga",
                json={"source": source.read_text(), "filename": source.name},
            )
            assert r.status_code == 201, r.text
            r = lv.call(
                "PUT", f"/environments/staging/secrets/{secret}", "olga", json={"values": values}
            )
            assert r.status_code == 200, r.text
            yield lv
    finally:
        with admin_engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
        admin_engine.dispose()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, pg_server: PgServer) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("rotation-server")
    state = tmp / "state"
    state.mkdir()
    (state / "connections.yaml").write_text(
        "databases:\n  ledger-pg:\n"
        f"    {{host: 127.0.0.1, port: {pg_server.port}, admin_database: postgres,\n"
        f"     sslrootcert: {pg_server.cert}}}\n"
    )
    bp = load_file(FIXTURE).blueprint
    admin_values = {"username": pg_server.superuser, "password": pg_server.password}
    env = {
        "ATTONIX_SECRET_PG_ADMIN_USERNAME": admin_values["username"],
        "ATTONIX_SECRET_PG_ADMIN_PASSWORD": admin_values["password"],
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ATTONIX_STATE_DIR", str(state))
        mp.delenv("ATTONIX_CONNECTIONS", raising=False)
        secrets = EnvSecretSource(bp.security.secrets, environ=env)
        db = DatabaseDriver(bp, cluster="ledger-pg", secrets=secrets)
        engine = get_driver("podman", bp, secrets=secrets)
        engine.destroy()
        try:
            assert db.apply(db.plan()).ok
            assert engine.apply(engine.plan(), timeout=90).ok
            with central_server(
                tmp, db, source=FIXTURE, secret="pg-admin", values=admin_values
            ) as lv:
                yield lv
        finally:
            engine.destroy()
            db.destroy()


def test_rotation_is_requested_approved_by_another_person_and_run_as_a_job(
    live: Live, pg_server: PgServer
) -> None:
    body = {"version": 1, "database": "ledger-pg", "service": "ledger", "kind": "app"}
    # RBAC per environment: an operator of prod cannot request in staging.
    r = live.call("POST", "/environments/staging/rotations", "pete", json=body)
    assert r.status_code == 403, r.text
    bad = live.call(
        "POST", "/environments/staging/rotations", "olga", json={**body, "service": "nobody"}
    )
    assert bad.status_code == 202  # accepted; its plan fails with the reason
    failed = live.call("GET", f"/environments/staging/deployments/{bad.json()['id']}", "olga")
    deadline = time.monotonic() + 60
    while failed.json()["status"] == "planning" and time.monotonic() < deadline:
        time.sleep(0.3)
        failed = live.call("GET", f"/environments/staging/deployments/{bad.json()['id']}", "olga")
    assert failed.json()["status"] == "plan_failed"
    assert "does not declare database" in failed.json()["plan"]["error"]

    # The consumers roll through their cluster's stored connection only: with none stored,
    # the approved rotation stops before a new login exists, naming the cluster.
    r = live.call("POST", "/environments/staging/rotations", "olga", json=body)
    assert r.status_code == 202, r.text
    first = r.json()["id"]
    live.wait(first, {"awaiting_approval"})
    ok = live.call(
        "POST", f"/environments/staging/deployments/{first}/decision", "ada", json={"approve": True}
    )
    assert ok.status_code == 200, ok.text
    live.wait(first, {"failed"})
    logs = live.call("GET", f"/environments/staging/deployments/{first}/logs", "olga").text
    assert "cluster 'podman-rot' has no connection in environment 'staging'" in logs, logs
    assert "created and verified" not in logs
    before = live.db.credentials.read(CRED)
    assert before is not None and before["username"] == "atx_ledger_ledger_app_g1"
    r = live.call(
        "PUT",
        "/environments/staging/connections/podman-rot",
        "ada",
        json={"kind": "podman", "url": "local"},
    )
    assert r.status_code == 200, r.text

    r = live.call("POST", "/environments/staging/rotations", "olga", json=body)
    assert r.status_code == 202, r.text
    dep = r.json()["id"]
    planned = live.wait(dep, {"awaiting_approval"})
    plan = planned["plan"]
    assert plan["target"] == "rotation" and plan["cluster"] == "ledger-pg"
    assert plan["rotation"]["old_login"] == "atx_ledger_ledger_app_g1"
    assert plan["rotation"]["new_login"] == "atx_ledger_ledger_app_g2"
    assert [(c["action"], c["name"]) for c in plan["changes"]] == [
        ("create", "atx_ledger_ledger_app_g2"),
        ("delete", "atx_ledger_ledger_app_g1"),
    ]
    # The requester may not approve (two-person rule), nor an operator of another environment.
    own = live.call(
        "POST", f"/environments/staging/deployments/{dep}/decision", "olga", json={"approve": True}
    )
    assert own.status_code == 403 and "two-person rule" in own.json()["detail"]
    other = live.call(
        "POST", f"/environments/staging/deployments/{dep}/decision", "pete", json={"approve": True}
    )
    assert other.status_code == 403
    ok = live.call(
        "POST", f"/environments/staging/deployments/{dep}/decision", "ada", json={"approve": True}
    )
    assert ok.status_code == 200, ok.text
    done = live.wait(dep, {"succeeded"})
    assert done["approved_by"] == "ada" and done["requested_by"] == "olga"

    logs = live.call("GET", f"/environments/staging/deployments/{dep}/logs", "olga").text
    lines = [
        json.loads(line[len("data: ") :])["line"]
        for line in logs.splitlines()
        if line.startswith('data: {"at"')
    ]
    joined = "\n".join(lines)
    for step in (
        "plan: rotate attonix-rottest.test.ledger-pg.ledger.app: create atx_ledger_ledger_app_g2",
        "rotate: created and verified atx_ledger_ledger_app_g2",
        "rotate: ledger rolls on podman cluster podman-rot through ",
        "rotate: rolling ledger on podman cluster podman-rot onto the new login",
        "rotate: consumers switched to atx_ledger_ledger_app_g2",
        "rotate: no session uses atx_ledger_ledger_app_g1 any more",
        "rotate: dropped atx_ledger_ledger_app_g1",
        "rotate: succeeded",
    ):
        assert step in joined, joined
    # The order of the steps is the rotation's.
    at = [joined.index(k) for k in ("created and", "rolling", "switched", "no session", "dropped")]
    assert at == sorted(at)
    stored = live.db.credentials.read(CRED)
    assert stored is not None and stored["username"] == "atx_ledger_ledger_app_g2"
    assert stored["password"] not in logs + json.dumps(done)
    assert pg_server.password not in logs + json.dumps(done)
    with psycopg.connect(
        host="127.0.0.1",
        port=pg_server.port,
        dbname="atx_ledger",
        user=stored["username"],
        password=stored["password"],
        sslmode="require",
    ) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("atx_ledger_ledger_app_g2",)
    with live.ctx.db.session() as s:
        actions = [
            (a.action, a.actor)
            for a in s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()
            if a.target == f"deployment/{dep}"
        ]
    assert ("rotation.request", "olga") in actions and ("deployment.approve", "ada") in actions
    back = live.call("POST", f"/environments/staging/deployments/{dep}/rollback", "olga")
    assert back.status_code == 400 and "cannot be rolled back" in back.json()["detail"]


MARIA_CRED = "attonix-dbtest.test.orders-my.orders.app"


class MariaConsumer(WriteLoop):
    """A replica of the MariaDB database's consumer: reads the current login from the
    credential store before each write."""

    errors = (pymysql.MySQLError,)

    def __init__(self, db: DatabaseDriver, port: int, stop: threading.Event) -> None:
        super().__init__(stop)
        self.db, self.port = db, port

    def login(self, last: dict[str, str] | None) -> dict[str, str] | None:
        creds = self.db.credentials.read(MARIA_CRED)
        assert creds is not None
        return creds

    def connect(self, login: dict[str, str]) -> Any:
        return pymysql.connect(
            host="127.0.0.1",
            port=self.port,
            user=login["username"],
            password=login["password"],
            database="atx_orders",
            ssl={"check_hostname": False},
            autocommit=True,
        )

    def write(self, conn: Any) -> None:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO events () VALUES ()")


def _maria_logins(server: MariaServer) -> set[str]:
    with (
        pymysql.connect(
            host="127.0.0.1",
            port=server.port,
            user=server.admin,
            password=server.password,
            ssl={"check_hostname": False},
        ) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("SELECT user FROM mysql.user WHERE user LIKE 'atx_orders_orders_app%'")
        return {str(r[0]) for r in cur.fetchall()}


def test_a_mariadb_rotation_through_the_server_loses_no_query(
    tmp_path: Path, maria_server: MariaServer
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "connections.yaml").write_text(
        f"databases:\n  orders-my: {{host: 127.0.0.1, port: {maria_server.port}, "
        "sslmode: require}\n"
    )
    bp = load_file(SHOP).blueprint
    admin_values = {"username": maria_server.admin, "password": maria_server.password}
    env = {
        "ATTONIX_SECRET_MARIA_ADMIN_USERNAME": admin_values["username"],
        "ATTONIX_SECRET_MARIA_ADMIN_PASSWORD": admin_values["password"],
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ATTONIX_STATE_DIR", str(state))
        mp.delenv("ATTONIX_CONNECTIONS", raising=False)
        db = DatabaseDriver(
            bp, cluster="orders-my", secrets=EnvSecretSource(bp.security.secrets, environ=env)
        )
        assert db.apply(db.plan()).ok
        try:
            owner = db.credentials.read("attonix-dbtest.test.orders-my.orders.owner")
            assert owner is not None
            with (
                pymysql.connect(
                    host="127.0.0.1",
                    port=maria_server.port,
                    user=owner["username"],
                    password=owner["password"],
                    database="atx_orders",
                    ssl={"check_hostname": False},
                    autocommit=True,
                ) as conn,
                conn.cursor() as cur,
            ):
                cur.execute("CREATE TABLE events (id INT AUTO_INCREMENT PRIMARY KEY)")
            assert _maria_logins(maria_server) == {"atx_orders_orders_app_g1"}
            with central_server(
                tmp_path, db, source=SHOP, secret="maria-admin", values=admin_values
            ) as lv:
                _rotate_mariadb(lv, maria_server)
        finally:
            assert db.destroy().ok


def _rotate_mariadb(lv: Live, maria_server: MariaServer) -> None:
    # The consumers are this test's threads, which reread the login themselves: the service's
    # Kubernetes cluster (which cannot run here) is not rolled (the CLI's --no-switch).
    body = {
        "version": 1,
        "database": "orders-my",
        "service": "orders",
        "kind": "app",
        "switch": False,
    }
    stop = threading.Event()
    consumers = [MariaConsumer(lv.db, maria_server.port, stop) for _ in range(3)]
    for c in consumers:
        c.start()
    seen: list[str] = []

    def watch(dep: int, until: set[str]) -> dict[str, Any]:
        got = lv.wait(dep, until)
        seen.extend(h for h in ("planning", got["status"]) if h not in seen)
        return got

    try:
        r = lv.call("POST", "/environments/staging/rotations", "olga", json=body)
        assert r.status_code == 202, r.text
        dep = r.json()["id"]
        assert r.json()["status"] == "planning"
        planned = watch(dep, {"awaiting_approval"})
        rotation = planned["plan"]["rotation"]
        assert planned["plan"]["cluster"] == "orders-my" and rotation["switch"] is False
        assert (rotation["old_login"], rotation["new_login"]) == (
            "atx_orders_orders_app_g1",
            "atx_orders_orders_app_g2",
        )
        # Nothing happens before the approval, which the requester cannot give.
        assert _maria_logins(maria_server) == {"atx_orders_orders_app_g1"}
        own = lv.call(
            "POST",
            f"/environments/staging/deployments/{dep}/decision",
            "olga",
            json={"approve": True},
        )
        assert own.status_code == 403 and "two-person rule" in own.json()["detail"]
        ok = lv.call(
            "POST",
            f"/environments/staging/deployments/{dep}/decision",
            "ada",
            json={"approve": True},
        )
        assert ok.status_code == 200, ok.text
        assert ok.json()["status"] in {"approved", "applying", "succeeded"}
        seen.append(ok.json()["status"])
        done = watch(dep, {"succeeded"})
        logs = lv.call("GET", f"/environments/staging/deployments/{dep}/logs", "olga").text
        assert "leave orders's consumers to reread it" in logs, logs
        assert "orders's replicas are not rolled (switch off)" in logs, logs
        assert "through" not in logs  # no cluster connection was opened
        time.sleep(0.3)
    finally:
        stop.set()
        for c in consumers:
            c.join(10)
    assert seen[0] == "planning" and seen[1] == "awaiting_approval" and seen[-1] == "succeeded"
    assert done["approved_by"] == "ada" and done["requested_by"] == "olga"
    # No query lost: every write of every replica went through, and the table holds them all.
    assert [c.failures for c in consumers] == [[], [], []]
    assert all(
        c.users == ["atx_orders_orders_app_g1", "atx_orders_orders_app_g2"] for c in consumers
    ), [c.users for c in consumers]
    assert all(c.ok > 20 for c in consumers)
    with (
        pymysql.connect(
            host="127.0.0.1",
            port=maria_server.port,
            user=maria_server.admin,
            password=maria_server.password,
            database="atx_orders",
            ssl={"check_hostname": False},
        ) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("SELECT count(*) FROM events")
        assert cur.fetchone() == (sum(c.ok for c in consumers),)
    # The old login is dropped; the new one is stored and works.
    assert _maria_logins(maria_server) == {"atx_orders_orders_app_g2"}
    stored = lv.db.credentials.read(MARIA_CRED)
    assert stored is not None and stored["username"] == "atx_orders_orders_app_g2"
    logs = lv.call("GET", f"/environments/staging/deployments/{dep}/logs", "olga").text
    joined = "\n".join(
        json.loads(line[len("data: ") :])["line"]
        for line in logs.splitlines()
        if line.startswith('data: {"at"')
    )
    steps = (
        "plan: rotate attonix-dbtest.test.orders-my.orders.app: create atx_orders_orders_app_g2",
        "rotate: created and verified atx_orders_orders_app_g2",
        "rotate: consumers switched to atx_orders_orders_app_g2",
        "rotate: no session uses atx_orders_orders_app_g1 any more",
        "rotate: dropped atx_orders_orders_app_g1",
        "rotate: succeeded",
    )
    for step in steps:
        assert step in joined, joined
    at = [joined.index(step) for step in steps]
    assert at == sorted(at)
    assert stored["password"] not in logs + json.dumps(done)
    assert maria_server.password not in logs + json.dumps(done)
