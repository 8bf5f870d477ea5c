"""Against a real `attonix worker --health-port` process: GET /healthz is 200 while its job loop
ticks and 503 while the loop is stuck (here on a PostgreSQL table lock the test holds), and a
port already in use is a clear usage error."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from attonix.server.context import ServerContext

POLL = 0.2  # worker_poll_seconds: the loop is stale after 3 × 0.2 s without a tick


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(ctx: ServerContext, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ATTONIX_DATABASE_URL": ctx.db.engine.url.render_as_string(hide_password=False),
        "ATTONIX_DATA_DIR": str(tmp_path),
        "ATTONIX_SIGNING_KEY": ctx.settings.signing_key.get_secret_value(),  # type: ignore[union-attr]
        "ATTONIX_KEK": ctx.settings.kek.get_secret_value(),  # type: ignore[union-attr]
        "ATTONIX_AUTO_MIGRATE": "false",
        "ATTONIX_WORKER_POLL_SECONDS": str(POLL),
        "ATTONIX_JOB_STALE_SECONDS": "5",  # heartbeat every 1.25 s, stale after 3.75 s in a job
        "NO_COLOR": "1",
    }


@pytest.fixture
def worker(ctx: ServerContext, tmp_path: Path) -> Iterator[str]:
    """A real `attonix worker` on this test's database, its health on a free port."""
    if ctx.db.dialect != "postgresql":
        pytest.skip("the stall is a PostgreSQL table lock")
    port = _free_port()
    log = (tmp_path / "worker.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "attonix", "worker", "--health-port", str(port)],
        env=_env(ctx, tmp_path),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        raise AssertionError("no health answer: " + (tmp_path / "worker.log").read_text())
    yield base
    proc.terminate()
    assert proc.wait(timeout=15) == 0, (tmp_path / "worker.log").read_text()
    log.close()


def _wait_for(base: str, code: int, seconds: float = 15) -> httpx.Response:
    """The first answer with ``code`` (200: once idle, past the periodic jobs the leader queues)."""
    deadline = time.monotonic() + seconds
    while True:
        r = httpx.get(f"{base}/healthz", timeout=2)
        settled = code != 200 or not r.json()["job_in_hand"]
        if (r.status_code == code and settled) or time.monotonic() > deadline:
            return r
        time.sleep(POLL / 2)


def test_healthz_is_200_while_the_loop_ticks_and_503_while_it_is_stuck(
    ctx: ServerContext, worker: str
) -> None:
    ok = _wait_for(worker, 200)
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body["healthy"] is True
    assert body["last_tick_seconds_ago"] <= 3 * POLL
    assert body["threshold_seconds"] == pytest.approx(3 * POLL)
    assert httpx.get(f"{worker}/other", timeout=2).status_code == 404

    # The loop's next claim waits on this lock: no tick until it is released.
    holder = create_engine(ctx.db.engine.url)
    try:
        with holder.connect() as conn, conn.begin():
            conn.execute(text("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE"))
            stuck = _wait_for(worker, 503)
    finally:
        holder.dispose()
    assert stuck.status_code == 503, stuck.text
    assert stuck.json()["healthy"] is False
    # Idle, the loop's tick is stale; if a periodic job the leader queues was claimed just
    # before the lock, its heartbeat (a write to the same table) is stale instead.
    assert stuck.json()["last_tick_seconds_ago"] > stuck.json()["threshold_seconds"]

    again = _wait_for(worker, 200)
    assert again.status_code == 200, again.text


def test_a_health_port_in_use_is_a_usage_error(ctx: ServerContext, tmp_path: Path) -> None:
    if ctx.db.dialect != "sqlite":
        pytest.skip("binding the port does not depend on the database")
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "attonix", "worker", "--health-port", str(port)],
            env=_env(ctx, tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2, done.stderr
    assert f"--health-port {port}: cannot listen" in done.stderr
    assert "Traceback" not in done.stderr
