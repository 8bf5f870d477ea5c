"""Background jobs stored in the database: enqueue, claim with row locks, heartbeat, retry.

Claiming uses ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL and MariaDB ≥ 10.6, so any
number of workers (in-process or ``attonix worker``) share the queue without a coordinator.
Fallback on SQLite, which has no row locks: every transaction there starts with
``BEGIN IMMEDIATE`` (see db.engine), so claimers are serialised and a plain SELECT then UPDATE
is safe. A job whose heartbeat is older than ``job_stale_seconds`` (its worker died) is put
back in the queue until ``max_attempts``. ``running_lock`` (unique) lets at most one job per
lock key run at once — one apply per target.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from attonix.server.context import ServerContext
from attonix.server.db.models import Job, JobLog, utcnow
from attonix.server.errors import NotFound, database_unavailable
from attonix.server.leader import Leadership
from attonix.server.states import JOB, JobEvent, JobStatus
from attonix.server.tasks import HANDLERS, Handler

log = logging.getLogger("attonix.server.jobs")


def handlers() -> dict[str, Handler]:
    """The explicit table of job kinds (in attonix.server.tasks)."""
    return HANDLERS


def enqueue(
    session: Any, kind: str, payload: dict[str, Any], *, lock_key: str | None = None
) -> Job:
    """Add a job in the caller's transaction (it exists only if the change commits)."""
    job = Job(kind=kind, payload=payload, status=JOB.initial, lock_key=lock_key)
    session.add(job)
    session.flush()
    return job


def append_log(ctx: ServerContext, job_id: int, line: str) -> None:
    """Add one line to a job's log (own transaction, visible to streaming readers at once)."""
    with ctx.db.session() as s:
        s.add(JobLog(job_id=job_id, line=line[:2000]))


def claim(ctx: ServerContext, worker: str) -> Job | None:
    """Take the oldest runnable job, or None. Safe with any number of concurrent workers."""
    for _ in range(5):
        try:
            with ctx.db.session() as s:
                q = (
                    select(Job)
                    .where(Job.status.in_(JOB.sources(JobEvent.CLAIM)), Job.run_after <= utcnow())
                    .order_by(Job.id)
                    .limit(1)
                )
                if ctx.db.skip_locked:
                    q = q.with_for_update(skip_locked=True)
                job = s.execute(q).scalar_one_or_none()
                if job is None:
                    return None
                now = utcnow()
                job.status = JOB.next(job.status, JobEvent.CLAIM)
                job.worker, job.running_lock = worker, job.lock_key
                job.attempts += 1
                job.started_at = job.heartbeat_at = now
                s.flush()
                s.expunge(job)
                return job
        except IntegrityError:
            # Another job with the same lock key is running: leave this one queued a moment.
            _postpone_locked(ctx)
    return None


def _postpone_locked(ctx: ServerContext) -> None:
    with ctx.db.session() as s:
        running = select(Job.running_lock).where(Job.running_lock.is_not(None))
        s.execute(
            update(Job)
            .where(Job.status == JobStatus.QUEUED, Job.lock_key.in_(running))
            .values(run_after=utcnow() + dt.timedelta(seconds=2))
        )


def heartbeat(ctx: ServerContext, job_id: int) -> None:
    """Tell the others this job's worker is alive."""
    with ctx.db.session() as s:
        s.execute(update(Job).where(Job.id == job_id).values(heartbeat_at=utcnow()))


def finish(
    ctx: ServerContext, job_id: int, *, result: dict[str, Any] | None, error: str = ""
) -> None:
    """Mark a job done (or failed with ``error``) and release its lock."""
    event = JobEvent.FAIL if error else JobEvent.SUCCEED
    with ctx.db.session() as s:
        s.execute(
            update(Job)
            .where(Job.id == job_id, Job.status.in_(JOB.sources(event)))
            .values(
                status=JOB.target(event),
                error=error[:2000],
                result=result or {},
                finished_at=utcnow(),
                running_lock=None,
            )
        )


def reap_stale(ctx: ServerContext) -> int:
    """Requeue (or fail, after max attempts) running jobs whose worker stopped beating."""
    cutoff = utcnow() - dt.timedelta(seconds=ctx.settings.job_stale_seconds)
    with ctx.db.session() as s:
        stale = or_(Job.heartbeat_at < cutoff, Job.heartbeat_at.is_(None))
        failed = s.execute(
            update(Job)
            .where(
                stale,
                Job.status.in_(JOB.sources(JobEvent.ABANDON)),
                Job.attempts >= Job.max_attempts,
            )
            .values(
                status=JOB.target(JobEvent.ABANDON),
                error="worker died; no attempts left",
                running_lock=None,
            )
        )
        retried = s.execute(
            update(Job)
            .where(
                stale,
                Job.status.in_(JOB.sources(JobEvent.REQUEUE)),
                Job.attempts < Job.max_attempts,
            )
            .values(status=JOB.target(JobEvent.REQUEUE), worker=None, running_lock=None)
        )
        return int(getattr(retried, "rowcount", 0) or 0) + int(getattr(failed, "rowcount", 0) or 0)


PERIODIC = {"pki.rotate": "pki_rotate_seconds", "audit.checkpoint": "audit_checkpoint_seconds"}


def schedule_periodic(ctx: ServerContext) -> list[str]:
    """Enqueue each periodic job whose last run is older than its interval (idempotent)."""
    queued = []
    for kind, setting in PERIODIC.items():
        interval = dt.timedelta(seconds=getattr(ctx.settings, setting))
        with ctx.db.session() as s:
            recent = s.execute(
                select(Job.id)
                .where(
                    Job.kind == kind,
                    or_(Job.status.not_in(JOB.terminal), Job.created_at > utcnow() - interval),
                )
                .limit(1)
            ).first()
            if recent is None:
                enqueue(s, kind, {})
                queued.append(kind)
    return queued


def heartbeat_seconds(ctx: ServerContext) -> float:
    """How often the thread beside a running job records its heartbeat."""
    return max(1.0, ctx.settings.job_stale_seconds / 4)


def run_one(
    ctx: ServerContext,
    worker: str,
    on_claim: Callable[[], None] | None = None,
    on_beat: Callable[[], None] | None = None,
) -> Job | None:
    """Claim and run one job (with a heartbeat thread); return it, or None if idle.

    ``on_claim`` is called once a job is claimed and ``on_beat`` at each of its heartbeats (the
    worker's health check counts them as ticks).
    """
    job = claim(ctx, worker)
    if job is None:
        return None
    if on_claim is not None:
        on_claim()
    fn = handlers().get(job.kind)
    stop = threading.Event()

    def beat() -> None:
        interval = heartbeat_seconds(ctx)
        while not stop.wait(interval):
            heartbeat(ctx, job.id)
            if on_beat is not None:
                on_beat()

    beater = threading.Thread(target=beat, daemon=True, name=f"heartbeat-{job.id}")
    beater.start()
    try:
        if fn is None:
            raise NotFound(f"No handler for job kind {job.kind!r}.")
        result = fn(ctx, job, lambda line: append_log(ctx, job.id, line))
        finish(ctx, job.id, result=result)
    except Exception as exc:
        message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
        log.warning("job failed", extra={"job": job.id, "kind": job.kind})
        append_log(ctx, job.id, f"error: {message}")
        finish(ctx, job.id, result=None, error=message)
    finally:
        stop.set()
    return job


def worker_name() -> str:
    """An id for this worker: host, process and thread."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


class BackgroundWorker:
    """Polls the queue in a daemon thread (or in the caller's, with :meth:`loop`) until stopped.

    Every worker claims and runs jobs; only the leader (attonix.server.leader) requeues the jobs
    of dead workers and schedules the periodic ones, so those happen once however many run.
    """

    def __init__(self, ctx: ServerContext) -> None:
        """Prepare (not start) the worker."""
        self.ctx = ctx
        self.name = worker_name()
        self.leadership = Leadership(ctx.db, self.name)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.loop, daemon=True, name="attonix-worker")
        # Health (attonix.server.worker_health): when the loop or a job's heartbeat last ticked.
        self._last_tick = time.monotonic()
        self._in_job = False

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def request_stop(self) -> None:
        """Claim no more jobs; the loop ends once the job in hand is finished."""
        self._stop.set()

    def stop(self) -> None:
        """Ask the loop to stop, wait for the current job, give up the leader lock."""
        self._stop.set()
        self._thread.join(timeout=30)
        self.close()

    def close(self) -> None:
        """Give up the leader lock (another worker takes over at its next poll)."""
        self.leadership.release()

    def tick(self) -> None:
        """Record that the loop (or the heartbeat of the job in hand) is alive."""
        self._last_tick = time.monotonic()

    def _claimed(self) -> None:
        self._in_job = True
        self.tick()

    def health(self) -> dict[str, object]:
        """Healthy while the last tick is younger than three poll intervals (three heartbeat
        intervals while a job is in hand: the loop does not tick then, the heartbeat does)."""
        settings = self.ctx.settings
        interval = settings.worker_poll_seconds
        if self._in_job:
            interval = max(interval, heartbeat_seconds(self.ctx))
        age = time.monotonic() - self._last_tick
        threshold = 3 * interval
        return {
            "healthy": age <= threshold,
            "last_tick_seconds_ago": round(age, 3),
            "threshold_seconds": threshold,
            "job_in_hand": self._in_job,
            "stopping": self._stop.is_set(),
        }

    def loop(self) -> None:
        """Leader duties when leading, run what is queued, sleep when idle."""
        while not self._stop.is_set():
            self.tick()
            try:
                if self.leadership.check():
                    reap_stale(self.ctx)
                    schedule_periodic(self.ctx)
                try:
                    ran = run_one(self.ctx, self.name, on_claim=self._claimed, on_beat=self.tick)
                finally:
                    self._in_job = False
                    self.tick()
                if ran is not None:
                    continue
            except Exception as exc:
                if not database_unavailable(exc):
                    log.exception("worker loop error; it carries on")
                else:
                    log.warning("database unavailable; worker retries")
            self._stop.wait(self.ctx.settings.worker_poll_seconds)
