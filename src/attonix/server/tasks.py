"""What background jobs do: the explicit table of job kinds and their handlers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from attonix.errors import Error
from attonix.server import pipeline, pki
from attonix.server.audit import Actor
from attonix.server.context import ServerContext
from attonix.server.db.models import BlueprintVersion, Deployment, Environment, Job, utcnow
from attonix.server.jobs import Handler, LogFn
from attonix.server.vault import VaultSecretSource


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


def _set(ctx: ServerContext, deployment_id: int, **values: Any) -> None:
    with ctx.db.session() as s:
        d = s.execute(select(Deployment).where(Deployment.id == deployment_id)).scalar_one()
        for k, v in values.items():
            setattr(d, k, v)
        d.updated_at = utcnow()


def run_plan(ctx: ServerContext, job: Job, log: LogFn) -> dict[str, Any]:
    """Check, render and plan a deployment; it then waits for approval."""
    dep_id = int(job.payload["deployment"])
    d, env, loaded = _load(ctx, dep_id)
    try:
        log(f"check: {loaded.file}")
        found = pipeline.findings(loaded)
        log(f"check: {len(found)} finding(s)")
        artifacts = pipeline.render_target(loaded, d.target)
        log(f"render: {len(artifacts)} artifact(s) for {d.target}")
        plan = pipeline.plan(loaded, d.target, secrets=VaultSecretSource(ctx, env))
        summary = plan.to_dict()
        log(f"plan: {summary.get('counts', {})}")
    except Exception as exc:
        # Whatever went wrong, the deployment must not stay "planning" forever.
        message = exc.message if isinstance(exc, Error) else f"{type(exc).__name__}: {exc}"
        _set(ctx, dep_id, status="plan_failed", plan={"error": message[:2000]})
        raise
    _set(ctx, dep_id, status="awaiting_approval", plan=summary, findings=found)
    return {"deployment": dep_id, "status": "awaiting_approval"}


def run_apply(ctx: ServerContext, job: Job, log: LogFn) -> dict[str, Any]:
    """Apply an approved deployment (one apply per target at a time: the job's lock key)."""
    dep_id = int(job.payload["deployment"])
    d, env, loaded = _load(ctx, dep_id)
    _set(ctx, dep_id, status="applying")
    try:
        plan, result = pipeline.apply(
            loaded, d.target, secrets=VaultSecretSource(ctx, env), progress=log
        )
    except Exception:
        _set(ctx, dep_id, status="failed")
        raise
    outcome = result.to_dict()
    _set(ctx, dep_id, status="succeeded" if result.ok else "failed", plan=plan.to_dict())
    log(f"apply: {'succeeded' if result.ok else 'failed'}")
    return {"deployment": dep_id, "result": outcome}


def run_pki_rotate(ctx: ServerContext, job: Job, log: LogFn) -> dict[str, Any]:
    """Issue and renew certificates of every environment (scheduled periodically)."""
    reports = pki.rotate_all(ctx, actor=Actor.system())
    for env, r in reports.items():
        log(f"{env}: issued {r.issued}, renewed {r.renewed}, {len(r.fresh)} fresh")
    return {env: {"issued": r.issued, "renewed": r.renewed} for env, r in reports.items()}


def run_noop(ctx: ServerContext, job: Job, log: LogFn) -> dict[str, Any]:
    """A job that only logs (used to check workers end to end)."""
    log(str(job.payload.get("message", "noop")))
    return {"ok": True}


HANDLERS: dict[str, Handler] = {
    "deploy.plan": run_plan,
    "deploy.apply": run_apply,
    "pki.rotate": run_pki_rotate,
    "noop": run_noop,
}
