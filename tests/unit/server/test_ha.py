"""High-availability behaviour of one process, on every engine: the leader lock, a job whose
worker died mid-apply, the database-unavailable problem, the draining readiness probe."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text, update
from sqlalchemy.exc import OperationalError

from attonix.server import jobs
from attonix.server.context import ServerContext
from attonix.server.db.models import Deployment, Job
from attonix.server.leader import Leadership
from attonix.server.states import DeploymentStatus, JobStatus

V = "/api/v1"
SHOP = Path(__file__).resolve().parents[2] / "fixtures" / "deploy" / "shop.yaml"


def test_one_leader_at_a_time_and_the_lock_moves_when_its_holder_goes(ctx: ServerContext) -> None:
    a, b = Leadership(ctx.db, "worker-a"), Leadership(ctx.db, "worker-b")
    try:
        assert a.check()
        if ctx.db.dialect == "sqlite":  # one process: it always leads
            assert b.check()
            return
        assert not b.check() and a.check()  # a keeps it, b cannot take it
        if ctx.db.dialect == "postgresql":  # who leads is visible, and only the leader
            assert _leaders(ctx) == ["attonix-leader worker-a"]
        a.release()  # a graceful stop
        assert b.check() and not a.check()
        # The holder's connection dies (its process was killed): the server drops the lock.
        assert b._conn is not None
        b._conn.invalidate()
        deadline = time.monotonic() + 5
        while not a.check():  # the server ends the closed session a moment later
            assert time.monotonic() < deadline, "the lock did not move within 5 s"
            time.sleep(0.05)
        assert not b.check()  # b notices it lost the lock
    finally:
        a.release()
        b.release()


def _leaders(ctx: ServerContext) -> list[str]:
    with ctx.db.read() as conn:
        return sorted(
            conn.execute(
                text(
                    "SELECT application_name FROM pg_stat_activity "
                    "WHERE datname = current_database() AND application_name LIKE 'attonix-leader%'"
                )
            ).scalars()
        )


def _deployment(client: TestClient, admin: Any) -> int:
    client.post(f"{V}/environments", headers=admin.headers, json={"name": "lab"})
    r = client.post(
        f"{V}/environments/lab/blueprints",
        headers=admin.headers,
        json={"source": SHOP.read_text(encoding="utf-8")},
    )
    assert r.status_code == 201, r.text
    r = client.post(
        f"{V}/environments/lab/deployments",
        headers=admin.headers,
        json={"version": 1, "target": "podman"},
    )
    return int(r.json()["id"])


def test_an_apply_whose_worker_died_fails_with_the_reason_and_applies_nothing_again(
    ctx: ServerContext, client: TestClient, admin: Any
) -> None:
    dep = _deployment(client, admin)
    with ctx.db.session() as s:
        s.execute(update(Job).values(status=JobStatus.SUCCEEDED))
        # The first attempt had started applying when its worker was killed; the reaper put
        # the job back in the queue.
        s.execute(
            update(Deployment)
            .where(Deployment.id == dep)
            .values(status=DeploymentStatus.APPLYING, plan={"changes": []})
        )
        job = jobs.enqueue(s, "deploy.apply", {"deployment": dep})
        job.deployment_id, job.attempts = dep, 1
    ran = jobs.run_one(ctx, "w2")
    assert ran is not None
    with ctx.db.session() as s:
        row, d = s.get(Job, ran.id), s.get(Deployment, dep)
        assert row is not None and d is not None
        assert row.status == JobStatus.FAILED and row.attempts == 2
        assert row.error == (
            f"the worker applying deployment {dep} stopped mid-apply (attempt 1); "
            "nothing was applied again"
        )
        assert d.status == DeploymentStatus.FAILED
    logs = client.get(f"{V}/environments/lab/deployments/{dep}/logs", headers=admin.headers)
    assert "stopped mid-apply" in logs.text


def test_a_database_outage_is_a_503_problem_with_retry_after(
    ctx: ServerContext, client: TestClient, admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from attonix.server import environments

    def down(*_: Any, **__: Any) -> Any:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    monkeypatch.setattr(environments, "list_environments", down)
    r = client.get(f"{V}/environments", headers=admin.headers)
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "2"
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["detail"] == "The database is unavailable (restarting or switching over)."
    assert "refused" not in r.text and "SELECT" not in r.text  # nothing of the driver leaks


def test_a_draining_replica_fails_readiness_and_still_serves(
    client: TestClient, admin: Any
) -> None:
    assert client.get("/readyz").status_code == 200
    client.app.state.draining = True  # type: ignore[attr-defined]
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["detail"] == "This replica is stopping."
    assert client.get(f"{V}/environments", headers=admin.headers).status_code == 200
