"""Duties with two workers: the leader lock moves when its holder is killed, and a deployment
whose worker is killed mid-apply ends failed with the reason — never applied twice — then a new
request completes it exactly once, as the engine (Podman) shows."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import harness
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DEPLOY = harness.BLUEPRINT.with_name("deploy.yaml")
ENV = "hadeploy"
PODS = ["attonix-hadeploy-echo-pod-0", "attonix-hadeploy-echo-pod-1"]


@pytest.fixture(scope="module")
def db(ha: harness.Cluster) -> Iterator[Engine]:
    """The cluster's database, read directly (what the workers wrote)."""
    engine = create_engine(ha.database_url)
    yield engine
    engine.dispose()


def _leader(db: Engine) -> str:
    with db.connect() as conn:
        names = conn.execute(
            text(
                "SELECT application_name FROM pg_stat_activity "
                "WHERE application_name LIKE 'attonix-leader %'"
            )
        ).scalars()
        found = list(names)
    return found[0].split(" ", 1)[1] if len(found) == 1 else ""


def _polling(proc: harness.Proc) -> int:
    """How many times the worker has started polling (its log line)."""
    return proc.log.read_text(errors="replace").count("Attonix worker polling for jobs")


def _worker_by_pid(ha: harness.Cluster, worker: str) -> harness.Proc:
    pid = int(worker.split(":")[1])  # host:pid:thread
    (proc,) = [w for w in ha.workers if w.alive and w.pid == pid]
    return proc


def test_the_leader_lock_moves_within_seconds_when_its_holder_is_killed_or_stopped(
    ha: harness.Cluster, db: Engine, figures: Callable[..., None]
) -> None:
    harness.wait_until("a leader", lambda: bool(_leader(db)), timeout=30)
    first = _leader(db)
    holder = _worker_by_pid(ha, first)
    t0 = time.monotonic()
    holder.kill9()
    moved = harness.wait_until("another leader", lambda: _leader(db) not in ("", first), timeout=30)
    figures(leader_moved_after_kill9_s=round(moved, 2))
    started = _polling(holder)
    holder.start()
    assert moved < 5
    assert time.monotonic() - t0 < 30

    # A graceful stop (SIGTERM) of the new leader: it exits cleanly and hands the lock over
    # (to the restarted worker, once it polls).
    harness.wait_until("worker restarted", lambda: _polling(holder) > started, timeout=90)
    second = _leader(db)
    leader = _worker_by_pid(ha, second)
    t0 = time.monotonic()
    assert leader.stop(timeout=30) == 0
    handed = harness.wait_until(
        "the lock handed over", lambda: _leader(db) not in ("", second), timeout=30
    )
    figures(sigterm_exit_s=round(time.monotonic() - t0 - handed, 2), handed_over_s=round(handed, 2))
    leader.start()
    assert handed < 5


def _pods() -> list[str]:
    out = subprocess.run(
        ["podman", "pod", "ps", "--filter", "name=attonix-hadeploy-", "--format", "{{.Name}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(out.split())


def _destroy(ha: harness.Cluster) -> None:
    from attonix.deploy import get_driver
    from attonix.deploy.secrets import EnvSecretSource
    from attonix.server import pipeline

    bp = pipeline.load(DEPLOY.read_text(encoding="utf-8"), filename=DEPLOY.name).blueprint
    # The harness's state directory for this call only: left in the environment it would
    # outlive the harness and become every later test's state directory.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ATTONIX_STATE_DIR", ha.env["ATTONIX_STATE_DIR"])
        get_driver("podman", bp, secrets=EnvSecretSource(bp.security.secrets, environ={})).destroy()


class Api:
    """The Central Server through the load balancer, as the admin."""

    def __init__(self, token: str) -> None:
        self.c = harness.lb_client(
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def ok(self, method: str, url: str, **kw: Any) -> Any:
        r = self.c.request(method, url, **kw)
        assert r.status_code < 300, r.text
        return r.json()

    def deployment(self, dep: int) -> dict[str, Any]:
        return dict(self.ok("GET", f"/api/v1/environments/{ENV}/deployments/{dep}"))

    def wait_status(self, dep: int, wanted: set[str], timeout: float = 120) -> str:
        harness.wait_until(
            f"deployment {dep} {wanted}",
            lambda: self.deployment(dep)["status"] in wanted,
            timeout=timeout,
        )
        return str(self.deployment(dep)["status"])

    def request_and_approve(self) -> int:
        dep = int(
            self.ok(
                "POST",
                f"/api/v1/environments/{ENV}/deployments",
                json={"version": 1, "target": "podman"},
            )["id"]
        )
        assert self.wait_status(dep, {"awaiting_approval", "plan_failed"}) == "awaiting_approval"
        self.ok(
            "POST",
            f"/api/v1/environments/{ENV}/deployments/{dep}/decision",
            json={"approve": True},
        )
        return dep


def _apply_job(db: Engine, dep: int) -> dict[str, Any] | None:
    with db.connect() as conn:
        row = conn.execute(
            text(
                "SELECT j.id, j.status, j.worker, j.attempts, j.error, "
                "(SELECT count(*) FROM job_logs l WHERE l.job_id = j.id "
                " AND l.line LIKE 'apply:%') AS apply_lines "
                "FROM jobs j WHERE j.deployment_id = :d AND j.kind = 'deploy.apply'"
            ),
            {"d": dep},
        ).first()
    return dict(row._mapping) if row is not None else None


def _group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def test_killing_the_worker_mid_apply_fails_the_deployment_and_never_applies_twice(
    ha: harness.Cluster, db: Engine, admin_token: str, figures: Callable[..., None]
) -> None:
    _destroy(ha)
    assert _pods() == []
    api = Api(admin_token)
    api.ok("POST", "/api/v1/environments", json={"name": ENV})
    api.ok(
        "POST",
        f"/api/v1/environments/{ENV}/blueprints",
        json={"source": DEPLOY.read_text(encoding="utf-8")},
    )
    # The server deploys only through a stored connection: this machine's Podman, by name.
    api.ok(
        "PUT",
        f"/api/v1/environments/{ENV}/connections/podman-ha",
        json={"kind": "podman", "url": "local"},
    )
    try:
        dep = api.request_and_approve()
        # Wait until the apply is under way (its first log lines), then kill its worker.
        harness.wait_until(
            "apply under way",
            lambda: ((_apply_job(db, dep) or {}).get("apply_lines") or 0) >= 2,
            timeout=60,
        )
        job = _apply_job(db, dep)
        assert job is not None and job["status"] == "running"
        victim = _worker_by_pid(ha, job["worker"])
        t0 = time.monotonic()
        victim.kill9()
        assert api.wait_status(dep, {"failed", "succeeded"}, timeout=60) == "failed"
        to_failed = time.monotonic() - t0
        job = _apply_job(db, dep)
        assert job is not None
        assert job["status"] == "failed" and job["attempts"] == 2
        assert job["error"] == (
            f"the worker applying deployment {dep} stopped mid-apply (attempt 1); "
            "nothing was applied again"
        )
        # The killed worker's podman child may still finish what it had started: wait for
        # it, then read the engine. Never more than the declared replicas, never a second set.
        harness.wait_until("orphaned apply done", lambda: _group_gone(victim.pid), timeout=90)
        after_kill = _pods()
        assert set(after_kill) <= set(PODS)
        victim.start()

        # A new request plans what is left and completes; the engine runs the service once.
        again = api.request_and_approve()
        plan = api.deployment(again)["plan"]["counts"]
        assert api.wait_status(again, {"succeeded", "failed"}) == "succeeded"
        assert _pods() == PODS
        with db.connect() as conn:
            applies = conn.execute(
                text(
                    "SELECT count(*) FROM jobs WHERE kind = 'deploy.apply' AND status = 'succeeded'"
                )
            ).scalar()
        assert applies == 1
        figures(
            kill_to_failed_s=round(to_failed, 1),
            pods_after_kill=len(after_kill),
            replan_counts=plan,
            pods_after_second_request=len(_pods()),
        )
    finally:
        api.c.close()
        _destroy(ha)
        for w in ha.workers:
            if not w.alive:
                w.start()
