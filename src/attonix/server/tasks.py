"""What background jobs do: the explicit table of job kinds and their handlers.

The queue (:mod:`attonix.server.jobs`) imports this table; nothing here imports the queue, so
the two modules do not import each other.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from attonix.deploy.connections import Connection
from attonix.errors import Error
from attonix.server import audit, certificates, connections, pipeline
from attonix.server.audit import Actor
from attonix.server.context import ServerContext
from attonix.server.db.models import BlueprintVersion, Deployment, Environment, Job, utcnow
from attonix.server.states import DEPLOYMENT, DeploymentEvent, DeploymentStatus
from attonix.server.vault import VaultSecretSource

#: The deployment target of a credential rotation (a request approved like a deployment).
ROTATION = "rotation"
#: One line for a job's log.
LogFn = Callable[[str], None]
#: A job kind's handler: it returns the job's JSON result or raises.
Handler = Callable[[ServerContext, Job, LogFn], dict[str, Any]]


def _load(ctx: ServerContext, deployment_id: int) -> tuple[Deployment, str, pipeline.Loaded]:
    with ctx.db.session() as s:
        d = s.get(Deployment, deployment_id)
        if d is None:
            raise Error(f"deployment {deployment_id} no longer exists")
        ver = s.get(BlueprintVersion, d.version_id)
        env = s.get(Environment, d.environment_id)
        assert ver is not None and env is not None
        s.expunge(d)
        return d, env.name, pipeline.load(ver.source, filename=ver.filename)


def _move(
    ctx: ServerContext, deployment_id: int, event: DeploymentEvent, **values: Any
) -> DeploymentStatus:
    """Apply ``event`` to a deployment (row-locked, so two workers cannot both move it) and
    set ``values`` with it; :class:`~attonix.server.states.IllegalTransition` if not allowed."""
    with ctx.db.session() as s:
        d = s.execute(
            select(Deployment).where(Deployment.id == deployment_id).with_for_update()
        ).scalar_one()
        status = DEPLOYMENT.next(d.status, event)
        d.status = status
        for k, v in values.items():
            setattr(d, k, v)
        d.updated_at = utcnow()
        return status


def _message(exc: BaseException) -> str:
    """The user-facing sentence of an error (and its hint), never a traceback."""
    if isinstance(exc, Error):
        return f"{exc.message} ({exc.hint})" if exc.hint else exc.message
    return f"{type(exc).__name__}: {exc}"


class ApplyFailed(Error):
    """The driver stopped part-way: what failed and what was not done are in the job log."""


def run_plan(ctx: ServerContext, job: Job, log: LogFn) -> dict[str, Any]:
    """Check, render and plan a deployment with the target's driver; it then awaits approval."""
    dep_id = int(job.payload["deployment"])
    d, env, loaded = _load(ctx, dep_id)
    try:
        log(f"check: {loaded.file}")
        found = pipeline.findings(loaded)
        log(f"check: {len(found)} finding(s)")
        if d.target == ROTATION:
            summary = pipeline.rotation_plan(
                loaded, d.plan["rotation"], secrets=VaultSecretSource(ctx, env)
            )
            r = summary["rotation"]
            consumers = (
                f"roll {r['service']}'s consumers"
                if r.get("switch", True)
                else f"leave {r['service']}'s consumers to reread it"
            )
            log(
                f"plan: rotate {r['credential']}: create {r['new_login']}, {consumers}, "
                f"then drop {r['old_login']}"
                + (f" (resumes after step {r['step']!r})" if r["version"] else "")
            )
            status = _move(ctx, dep_id, DeploymentEvent.PLANNED, plan=summary, findings=found)
            return {"deployment": dep_id, "status": status}
        artifacts = pipeline.render_target(loaded, d.target)
        log(f"render: {len(artifacts)} artifact(s) for {d.target}")
        cluster = pipeline.cluster_of(loaded, d.target, d.cluster)
        with connections.opened(ctx, environment=env, cluster=cluster, target=d.target) as conn:
            log(f"plan: {d.target} cluster {cluster} through {conn.endpoint}")
            plan, _ = pipeline.plan(
                loaded,
                d.target,
                secrets=VaultSecretSource(ctx, env),
                cluster=cluster,
                connection=conn.connection,
            )
        endpoint = conn.endpoint  # as the stored connection names it, for the approver
        summary = {
            **plan.to_dict(),
            "endpoint": endpoint,
            "endpoints": list(conn.endpoints),
            "connection_version": conn.version,
        }
        for line in pipeline.plan_lines(plan):
            log(line)
        counts = ", ".join(f"{n} {a}" for a, n in summary["counts"].items() if n)
        log(f"plan: {plan.target} cluster {plan.cluster} ({endpoint}): {counts or 'no resources'}")
    except Exception as exc:
        # Whatever went wrong (an engine down, a driver this target lacks, a secret missing
        # from the vault, no connection for the cluster), the deployment must not stay
        # "planning" forever.
        _move(ctx, dep_id, DeploymentEvent.PLAN_FAIL, plan={"error": _message(exc)[:2000]})
        raise
    status = _move(
        ctx, dep_id, DeploymentEvent.PLANNED, plan=summary, findings=found, cluster=cluster
    )
    return {"deployment": dep_id, "status": status}


def run_apply(ctx: ServerContext, job: Job, log: LogFn) -> dict[str, Any]:
    """Apply an approved deployment (one apply per target at a time: the job's lock key)."""
    dep_id = int(job.payload["deployment"])
    d, env, loaded = _load(ctx, dep_id)
    if d.target == ROTATION:
        return _rotate(ctx, job, d, env, loaded, log)
    if d.status == DeploymentStatus.APPLYING:
        # This job ran before and its worker stopped mid-apply (the job was requeued). What the
        # driver had done by then is unknown here, so nothing is applied again: the deployment
        # fails with the reason, and a new request plans what is left.
        reason = (
            f"the worker applying deployment {dep_id} stopped mid-apply (attempt "
            f"{job.attempts - 1}); nothing was applied again"
        )
        log(f"apply: {reason}")
        _move(ctx, dep_id, DeploymentEvent.FAIL)
        raise ApplyFailed(
            reason, hint="Request the deployment again: its plan shows what is left to do."
        )
    _move(ctx, dep_id, DeploymentEvent.START)
    try:
        pending = [c for c in d.plan.get("changes", []) if c.get("action") != "unchanged"]
        log(f"apply: {d.target} cluster {d.cluster}, {len(pending)} approved change(s)")
        with connections.opened(ctx, environment=env, cluster=d.cluster, target=d.target) as conn:
            approved_version = d.plan.get("connection_version")
            if conn.version != approved_version:
                raise ApplyFailed(
                    f"the connection of cluster {d.cluster!r} changed since this plan was "
                    f"approved (version {approved_version} then, {conn.version} now); nothing "
                    "was applied",
                    hint="Request the deployment again: it plans through the new connection.",
                )
            log(f"apply: through {conn.endpoint}")
            outcome = pipeline.converge(
                loaded,
                d.target,
                secrets=VaultSecretSource(ctx, env),
                approved=d.plan,
                progress=lambda line: log(f"apply: {line}"),
                cluster=d.cluster,
                connection=conn.connection,
            )
        result = outcome.result
        if not result.ok:
            for label in result.not_done:
                log(f"apply: not done: {label}")
            raise ApplyFailed(
                result.error or "the apply did not finish",
                hint="Fix the cause, then request the deployment again; it plans what is left.",
            )
    except Exception:
        _move(ctx, dep_id, DeploymentEvent.FAIL)
        raise
    _move(ctx, dep_id, DeploymentEvent.SUCCEED)
    log("apply: succeeded")
    return {"deployment": dep_id, "result": result.to_dict()}


def _rotate(
    ctx: ServerContext, job: Job, d: Deployment, env: str, loaded: pipeline.Loaded, log: LogFn
) -> dict[str, Any]:
    """Run an approved credential rotation. Unlike an apply, a rotation whose worker stopped
    resumes: each step is recorded where the rotation left it, and no step is done twice."""
    if d.status != DeploymentStatus.APPLYING:
        _move(ctx, d.id, DeploymentEvent.START)
    else:
        log(f"rotate: resuming after the worker stopped (attempt {job.attempts - 1})")
    want = d.plan["rotation"]
    log(f"rotate: {want['credential']}: {want['old_login']} -> {want['new_login']}")
    try:
        with contextlib.ExitStack() as stack:
            consumer: tuple[str, Connection | None] | None = None
            rolls = want.get("switch", True)
            where = pipeline.consumer_cluster(loaded, want["service"]) if rolls else None
            if where is not None:
                # Opened before the first step: a cluster without a stored connection stops
                # the rotation before a new login exists, naming the cluster.
                target, cluster = where
                conn = stack.enter_context(
                    connections.opened(ctx, environment=env, cluster=cluster, target=target)
                )
                log(
                    f"rotate: {want['service']} rolls on {target} cluster {cluster} "
                    f"through {conn.endpoint}"
                )
                consumer = (cluster, conn.connection)
            state = pipeline.rotate(
                loaded,
                d.plan,
                secrets=VaultSecretSource(ctx, env),
                progress=lambda line: log(f"rotate: {line}"),
                consumer=consumer,
            )
    except Exception as exc:
        log(f"rotate: stopped: {_message(exc)}")
        _move(ctx, d.id, DeploymentEvent.FAIL)
        raise
    _move(ctx, d.id, DeploymentEvent.SUCCEED)
    log("rotate: succeeded")
    return {"deployment": d.id, "rotation": state}


def run_pki_rotate(ctx: ServerContext, job: Job, log: LogFn) -> dict[str, Any]:
    """Issue and renew certificates of every environment (scheduled periodically)."""
    reports = certificates.rotate_all(ctx, actor=Actor.system())
    for env, r in reports.items():
        log(f"{env}: issued {r.issued}, renewed {r.renewed}, {len(r.fresh)} fresh")
    return {env: {"issued": r.issued, "renewed": r.renewed} for env, r in reports.items()}


def run_noop(ctx: ServerContext, job: Job, log: LogFn) -> dict[str, Any]:
    """A job that only logs (used to check workers end to end)."""
    log(str(job.payload.get("message", "noop")))
    return {"ok": True}


def run_audit_checkpoint(ctx: ServerContext, job: Job, log: LogFn) -> dict[str, Any]:
    """Sign the audit chain's head and append it outside the database (scheduled)."""
    with ctx.db.session() as s:
        cp = audit.take_checkpoint(s, path=ctx.settings.checkpoint_path())
    if cp is None:
        return {"checkpoint": None}
    log(f"audit checkpoint: entry {cp.seq}")
    return {"checkpoint": cp.seq}


HANDLERS: dict[str, Handler] = {
    "deploy.plan": run_plan,
    "deploy.apply": run_apply,
    "pki.rotate": run_pki_rotate,
    "audit.checkpoint": run_audit_checkpoint,
    "noop": run_noop,
}
