"""Credential rotation with the consumers switched through the deploy engine (real Podman).

tests/fixtures/databases/rotation-podman.yaml runs a two-replica service on Podman that mounts
its own login to a managed PostgreSQL database (here a throwaway server with TLS verified in
full, as for BigAnimal) on which Attonix provisions the logins, and serves the mounted files over
HTTP on the Podman network. The consumer loop below stands in for the service's connection
pool: before each query it reads the login the running replicas hold (keeping its last one
while no replica answers, as a pool keeps its open connections) and reconnects when it changes.

The rotation's switch converges the Podman cluster (a new versioned secret, the pods replayed,
verified healthy), and only then is the old login drained and dropped: not one query may fail.
An interrupted rotation (the CLI killed in the middle of the switch) resumes and finishes.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from _clusters import PgServer
from _write_loop import WriteLoop

from attonix.blueprint import Blueprint, load_file
from attonix.deploy import EnvSecretSource, get_driver
from attonix.deploy.consumers import switch_consumers
from attonix.deploy.databases import DatabaseDriver
from attonix.deploy.databases.rotation import load_state, rotate
from attonix.deploy.podman import PodmanDriver

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).parents[2] / "fixtures" / "databases" / "rotation-podman.yaml"
CRED = "attonix-rottest.test.ledger-pg.ledger.app"
INSTANCE = "app.kubernetes.io/instance=attonix-rottest-ledger"
PORT = 38461


def podman(*args: str) -> str:
    done = subprocess.run(["podman", *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"podman {' '.join(args)}: {done.stderr}"
    return done.stdout


def replica_addresses() -> list[str]:
    """The Podman-network addresses of the service's running containers (not the infra ones)."""
    ids = podman("ps", "-q", "--filter", f"label={INSTANCE}").split()
    if not ids:
        return []
    out = []
    for info in json.loads(podman("inspect", *ids)):
        if info.get("IsInfra"):
            continue
        for net in (info.get("NetworkSettings", {}).get("Networks") or {}).values():
            if net.get("IPAddress"):
                out.append(net["IPAddress"])
    return out


def mounted_login(address: str) -> dict[str, str] | None:
    """The login one replica holds in its mounted files, or ``None`` if it does not answer."""
    try:
        got = {}
        for key in ("username", "password"):
            url = f"http://{address}:{PORT}/{key}"
            with urllib.request.urlopen(url, timeout=0.5) as resp:
                got[key] = resp.read().decode()
        return got
    except (OSError, http.client.HTTPException):  # a replica stopped mid-answer: IncompleteRead
        return None


class Consumer(WriteLoop):
    """A bounded loop of writes with the login the running replicas hold."""

    errors = (psycopg.Error,)
    seconds = 240.0
    interval = 0.02

    def __init__(self, pg: PgServer, stop: threading.Event) -> None:
        super().__init__(stop)
        self.pg = pg
        self.addresses: list[str] = []
        self._refresher = threading.Thread(target=self._refresh, daemon=True)

    def _refresh(self) -> None:
        while not self.stop.is_set():
            try:
                self.addresses = replica_addresses()
            except AssertionError:
                self.addresses = []
            time.sleep(0.3)

    def login(self, last: dict[str, str] | None) -> dict[str, str] | None:
        for address in list(self.addresses):
            login = mounted_login(address)
            if login is not None:
                return login
        return last

    def connect(self, login: dict[str, str]) -> Any:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.pg.port,
            dbname="atx_ledger",
            user=login["username"],
            password=login["password"],
            sslmode="require",
            autocommit=True,
        )

    def write(self, conn: Any) -> None:
        conn.execute("INSERT INTO entries DEFAULT VALUES")

    def run(self) -> None:
        self._refresher.start()
        super().run()


def logins(pg: PgServer) -> set[str]:
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE 'atx_ledger_ledger_app%'"
        ).fetchall()
    return {r[0] for r in rows}


def entries(pg: PgServer) -> int:
    with psycopg.connect(pg.dsn("atx_ledger"), autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM entries").fetchone()
    assert row is not None
    return int(row[0])


def secret_names() -> set[str]:
    ids = podman("secret", "ls", "--format", "{{.ID}}").split()
    found = json.loads(podman("secret", "inspect", *ids)) if ids else []
    return {s["Spec"]["Name"] for s in found if s["Spec"]["Name"].startswith("attonix-rottest-")}


@pytest.fixture(scope="module")
def blueprint() -> Blueprint:
    return load_file(FIXTURE).blueprint


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, pg_server: PgServer) -> Iterator[dict[str, str]]:
    """One state directory for the database and Podman drivers and the CLI."""
    if subprocess.run(["podman", "info"], capture_output=True, check=False).returncode != 0:
        pytest.fail("Podman does not answer: run scripts/setup.sh all")
    state = tmp_path_factory.mktemp("rotengine")
    (state / "connections.yaml").write_text(
        "databases:\n  ledger-pg:\n"
        f"    {{host: 127.0.0.1, port: {pg_server.port}, admin_database: postgres,\n"
        f"     sslrootcert: {pg_server.cert}}}\n"
    )
    values = {
        "ATTONIX_STATE_DIR": str(state),
        "ATTONIX_SECRET_PG_ADMIN_USERNAME": pg_server.superuser,
        "ATTONIX_SECRET_PG_ADMIN_PASSWORD": pg_server.password,
    }
    with pytest.MonkeyPatch.context() as mp:
        for k, v in values.items():
            mp.setenv(k, v)
        mp.delenv("ATTONIX_CONNECTIONS", raising=False)
        yield values


@pytest.fixture(scope="module")
def deployed(
    env: dict[str, str], blueprint: Blueprint, pg_server: PgServer
) -> Iterator[tuple[DatabaseDriver, PodmanDriver]]:
    secrets = EnvSecretSource(blueprint.security.secrets)
    db = DatabaseDriver(blueprint, cluster="ledger-pg", secrets=secrets)
    assert db.apply(db.plan()).ok
    owner = db.credentials.read("attonix-rottest.test.ledger-pg.ledger.owner")
    assert owner is not None
    with psycopg.connect(
        host="127.0.0.1",
        port=pg_server.port,
        dbname="atx_ledger",
        user=owner["username"],
        password=owner["password"],
        sslmode="require",
        autocommit=True,
    ) as conn:
        conn.execute("CREATE TABLE entries (id serial PRIMARY KEY, at timestamptz DEFAULT now())")
    engine = get_driver("podman", blueprint, secrets=secrets)
    assert isinstance(engine, PodmanDriver)
    engine.destroy()  # leftovers of an interrupted earlier run
    result = engine.apply(engine.plan(), timeout=90)
    assert result.ok, result.to_dict()
    try:
        yield db, engine
    finally:
        engine.destroy()
        db.destroy()


def test_replicas_mount_their_own_login_not_the_admin(
    deployed: tuple[DatabaseDriver, PodmanDriver], pg_server: PgServer
) -> None:
    db, engine = deployed
    addresses = replica_addresses()
    assert len(addresses) == 2
    held = [mounted_login(a) for a in addresses]
    stored = db.credentials.read(CRED)
    assert stored is not None
    assert held == [{"username": "atx_ledger_ledger_app_g1", "password": stored["password"]}] * 2
    assert all(h is not None and h["username"] != pg_server.superuser for h in held)
    rendered = "".join(a.text() for a in engine.desired())
    assert stored["password"] not in rendered + json.dumps(engine.plan().to_dict())
    assert engine.plan().is_empty


def run_consumers(pg: PgServer, n: int = 2) -> tuple[list[Consumer], threading.Event]:
    stop = threading.Event()
    consumers = [Consumer(pg, stop) for _ in range(n)]
    for c in consumers:
        c.start()
    deadline = time.monotonic() + 10
    while not all(c.ok > 5 for c in consumers):
        assert time.monotonic() < deadline, "the consumers never got going"
        time.sleep(0.1)
    return consumers, stop


def finish(consumers: list[Consumer], stop: threading.Event) -> None:
    time.sleep(0.5)
    stop.set()
    for c in consumers:
        c.join(10)


def test_rotation_rolls_the_service_and_loses_no_query(
    deployed: tuple[DatabaseDriver, PodmanDriver], blueprint: Blueprint, pg_server: PgServer
) -> None:
    db, engine = deployed
    before = entries(pg_server)
    old_secrets = secret_names()
    consumers, stop = run_consumers(pg_server)
    steps: list[str] = []
    secrets = EnvSecretSource(blueprint.security.secrets)

    def roll(_credential: str, _values: dict[str, str]) -> None:
        switch_consumers(blueprint, "ledger", "app", secrets=secrets, progress=steps.append)

    state = rotate(
        db,
        database="ledger-pg",
        service="ledger",
        kind="app",
        switch=roll,
        progress=steps.append,
        drain_timeout=30,
    )
    finish(consumers, stop)
    assert state.step == "dropped"
    assert [c.failures for c in consumers] == [[], []]
    assert all(
        c.users == ["atx_ledger_ledger_app_g1", "atx_ledger_ledger_app_g2"] for c in consumers
    )
    assert entries(pg_server) - before == sum(c.ok for c in consumers)
    assert logins(pg_server) == {"atx_ledger_ledger_app_g2"}
    # The switch went through the engine: a new secret version, the old one removed, every
    # replica holding the new login, and nothing left to plan on either side.
    assert any("rolling ledger on podman cluster podman-rot" in s for s in steps)
    assert any("change(s) applied, all converged" in s for s in steps)
    new_secrets = secret_names()
    assert new_secrets and not new_secrets & old_secrets
    stored = db.credentials.read(CRED)
    assert [mounted_login(a) for a in replica_addresses()] == [
        {"username": "atx_ledger_ledger_app_g2", "password": stored["password"] if stored else ""}
    ] * 2
    assert engine.plan().is_empty and db.plan().is_empty
    # The step order: created, then switched (after the rollout), then drained, dropped.
    order = [s for s in steps if s.startswith(("created", "consumers switched", "no session"))]
    assert [o.split()[0] for o in order] == ["created", "consumers", "no"]


def test_rotation_killed_during_the_switch_resumes_without_losing_a_query(
    deployed: tuple[DatabaseDriver, PodmanDriver], env: dict[str, str], pg_server: PgServer
) -> None:
    db, engine = deployed
    before = entries(pg_server)
    consumers, stop = run_consumers(pg_server)
    argv = [sys.executable, "-m", "attonix", "rotate", str(FIXTURE), "-d", "ledger-pg"]
    argv += ["-s", "ledger", "--drain-timeout", "30"]
    full_env = {**os.environ, **env}
    proc = subprocess.Popen(
        argv, env=full_env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    seen: list[str] = []
    assert proc.stderr is not None
    for line in proc.stderr:
        seen.append(line)
        if "rolling ledger on podman cluster" in line:
            os.kill(proc.pid, signal.SIGKILL)  # in the middle of the switch
            break
    proc.wait(30)
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    saved = load_state(db.state_directory, CRED)
    assert saved is not None and saved.step == "created" and saved.generation == 3
    # Both logins stay valid while the rotation is stopped.
    assert logins(pg_server) == {"atx_ledger_ledger_app_g2", "atx_ledger_ledger_app_g3"}
    again = subprocess.run(
        [*argv, "-o", "json"], env=full_env, capture_output=True, text=True, check=False
    )
    finish(consumers, stop)
    assert again.returncode == 0, again.stderr
    assert "resuming the rotation" in again.stderr and "after step 'created'" in again.stderr
    report = json.loads(again.stdout)
    assert report["done"] and report["new_login"] == "atx_ledger_ledger_app_g3"
    assert [c.failures for c in consumers] == [[], []]
    assert all(c.users[-1] == "atx_ledger_ledger_app_g3" for c in consumers)
    assert entries(pg_server) - before == sum(c.ok for c in consumers)
    assert logins(pg_server) == {"atx_ledger_ledger_app_g3"}
    assert load_state(db.state_directory, CRED) is None
    assert engine.plan().is_empty and db.plan().is_empty
    stored = db.credentials.read(CRED)
    assert stored is not None and stored["password"] not in again.stdout + again.stderr
