"""Deployments: check → render → plan (a job) → approve → apply (a job), and rollback.

Statuses and their transitions are the deployment machine in :mod:`attonix.server.states`.
In environments listed in the ``two_person_rule`` setting the approver must differ from the
requester.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from attonix.deploy import DeployError
from attonix.server import audit, jobs, pipeline
from attonix.server.audit import Actor
from attonix.server.auth.rbac import Permission, Principal
from attonix.server.context import ServerContext
from attonix.server.db.models import BlueprintVersion, Deployment, Environment, Job, JobLog, utcnow
from attonix.server.errors import BadRequest, Conflict, Forbidden, NotFound
from attonix.server.schemas import DeploymentOut, JobLogLine, JobOut
from attonix.server.states import (
    DEPLOYMENT,
    DEPLOYMENT_AT_REST,
    DeploymentEvent,
    DeploymentStatus,
)
from attonix.server.tasks import ROTATION
from attonix.server.vault import environment_row

DEPLOY_TARGETS = ("kubernetes", "podman", "swarm", "vsphere")


def may_approve(
    ctx: ServerContext, principal: Principal, *, environment: str, requested_by: str, status: str
) -> bool:
    """Whether ``principal`` may approve a deployment now: it awaits approval, the principal
    holds the permission, and the two-person rule (where it applies) does not forbid it."""
    return (
        DeploymentEvent.APPROVE in DEPLOYMENT.events(status)
        and principal.can(Permission.DEPLOY_APPROVE, environment)
        and not (environment in ctx.settings.two_person_rule and requested_by == principal.name)
    )


def _out(
    s: Session, d: Deployment, ctx: ServerContext, principal: Principal | None = None
) -> DeploymentOut:
    env = s.get(Environment, d.environment_id)
    ver = s.get(BlueprintVersion, d.version_id)
    job_id = s.execute(
        select(Job.id).where(Job.deployment_id == d.id).order_by(Job.id.desc()).limit(1)
    ).scalar()
    env_name = env.name if env else ""
    return DeploymentOut(
        id=d.id,
        environment=env_name,
        version=ver.version if ver else 0,
        target=d.target,
        status=d.status,
        requested_by=d.requested_by,
        approved_by=d.approved_by,
        plan=d.plan,
        findings=d.findings,
        rollback_of=d.rollback_of,
        cluster=d.cluster,
        created_at=d.created_at,
        updated_at=d.updated_at,
        job_id=job_id,
        two_person_rule=env_name in ctx.settings.two_person_rule,
        can_approve=principal is not None
        and may_approve(
            ctx, principal, environment=env_name, requested_by=d.requested_by, status=d.status
        ),
        can_cancel=principal is not None
        and principal.name == d.requested_by
        and DeploymentEvent.CANCEL in DEPLOYMENT.events(d.status),
    )


def _get(s: Session, environment: str, deployment_id: int, *, lock: bool = False) -> Deployment:
    env = environment_row(s, environment)
    # ``lock``: hold the row until commit, so two replicas deciding at once are serialised
    # and only the first one's transition (and apply job) happens.
    d = s.get(Deployment, deployment_id, with_for_update=lock)
    if d is None or d.environment_id != env.id:
        raise NotFound(f"No deployment {deployment_id} in {environment!r}.")
    return d


def request(
    ctx: ServerContext,
    *,
    environment: str,
    version: int,
    target: str,
    actor: Actor,
    cluster: str | None = None,
    rollback_of: int | None = None,
    rotation: dict[str, str | bool] | None = None,
) -> DeploymentOut:
    """Ask for a deployment of ``version`` to ``target``'s ``cluster`` (when omitted, the plan
    takes the blueprint's only cluster of that kind); planning starts as a job.

    ``rotation`` (database, service, kind, switch) asks instead for the rotation of one
    database login as that version declares it (target ``rotation``): planned, approved and run
    as a job like a deployment."""
    if rotation is not None:
        target = ROTATION
    elif target not in DEPLOY_TARGETS:
        raise BadRequest(
            f"Unknown deploy target {target!r}.", hint=f"Use one of: {', '.join(DEPLOY_TARGETS)}."
        )
    with ctx.db.session() as s:
        env = environment_row(s, environment)
        ver = s.execute(
            select(BlueprintVersion).where(
                BlueprintVersion.environment_id == env.id, BlueprintVersion.version == version
            )
        ).scalar_one_or_none()
        if ver is None:
            raise NotFound(f"Environment {environment!r} has no version {version}.")
        if cluster is not None:
            _check_cluster(ver, target=target, cluster=cluster)
        d = Deployment(
            environment_id=env.id,
            version_id=ver.id,
            target=target,
            status=DEPLOYMENT.initial,
            requested_by=actor.name,
            rollback_of=rollback_of,
            plan={"rotation": rotation} if rotation else {},
            cluster=cluster or "",
        )
        s.add(d)
        s.flush()
        job = jobs.enqueue(s, "deploy.plan", {"deployment": d.id})
        job.deployment_id = d.id
        action = "deployment.rollback" if rollback_of else "deployment.request"
        detail: dict[str, object] = {
            "environment": environment,
            "version": version,
            "target": target,
            "cluster": cluster or "",
        }
        if rotation:
            action, detail = "rotation.request", {**detail, **rotation}
        audit.record(s, actor, action, target=f"deployment/{d.id}", detail=detail)
        s.flush()
        return _out(s, d, ctx)


def _check_cluster(ver: BlueprintVersion, *, target: str, cluster: str) -> None:
    """Refuse a cluster the version's blueprint does not declare for ``target`` (400)."""
    try:
        pipeline.cluster_of(pipeline.load(ver.source, filename=ver.filename), target, cluster)
    except DeployError as exc:
        raise BadRequest(f"Version {ver.version}: {exc.message}.", hint=exc.hint) from None


def rollback(
    ctx: ServerContext, *, environment: str, deployment_id: int, actor: Actor
) -> DeploymentOut:
    """Deploy again the version an earlier deployment applied (through approval as usual)."""
    with ctx.db.session() as s:
        d = _get(s, environment, deployment_id)
        if d.target == ROTATION:
            raise BadRequest(
                f"Deployment {deployment_id} is a credential rotation: the old login is "
                "dropped, so it cannot be rolled back.",
                hint="Request a new rotation of the same login instead.",
            )
        ver = s.get(BlueprintVersion, d.version_id)
        assert ver is not None
        version, target, cluster = ver.version, d.target, d.cluster
    return request(
        ctx,
        environment=environment,
        version=version,
        target=target,
        actor=actor,
        cluster=cluster or None,
        rollback_of=deployment_id,
    )


def decide(
    ctx: ServerContext, *, environment: str, deployment_id: int, approve: bool, actor: Actor
) -> DeploymentOut:
    """Approve (enqueue the apply) or reject a planned deployment."""
    with ctx.db.session() as s:
        d = _get(s, environment, deployment_id, lock=True)
        event = DeploymentEvent.APPROVE if approve else DeploymentEvent.REJECT
        if event not in DEPLOYMENT.events(d.status):
            raise Conflict(f"Deployment {deployment_id} is {d.status}, not awaiting approval.")
        if approve and environment in ctx.settings.two_person_rule and d.requested_by == actor.name:
            raise Forbidden(
                f"In {environment!r} a deployment must be approved by someone other than its "
                "requester (two-person rule).",
                hint="Ask another operator or administrator to approve it.",
            )
        d.status = DEPLOYMENT.next(d.status, event)
        d.approved_by, d.updated_at = actor.name, utcnow()
        if approve:
            job = jobs.enqueue(
                s,
                "deploy.apply",
                {"deployment": d.id},
                lock_key=f"apply:{environment}:{d.target}:{d.cluster}",
            )
            job.deployment_id = d.id
        audit.record(
            s,
            actor,
            "deployment.approve" if approve else "deployment.reject",
            target=f"deployment/{d.id}",
        )
        s.flush()
        return _out(s, d, ctx)


def cancel(
    ctx: ServerContext, *, environment: str, deployment_id: int, actor: Actor
) -> DeploymentOut:
    """Withdraw one's own deployment while it awaits approval (nobody else's)."""
    with ctx.db.session() as s:
        d = _get(s, environment, deployment_id, lock=True)
        if d.requested_by != actor.name:
            raise Forbidden(
                f"Deployment {deployment_id} was requested by {d.requested_by!r}; only its "
                "requester can cancel it.",
                hint="An approver can reject it instead.",
            )
        if DeploymentEvent.CANCEL not in DEPLOYMENT.events(d.status):
            raise Conflict(
                f"Deployment {deployment_id} is {d.status}; only a deployment awaiting approval "
                "can be cancelled."
            )
        d.status = DEPLOYMENT.next(d.status, DeploymentEvent.CANCEL)
        d.updated_at = utcnow()
        audit.record(s, actor, "deployment.cancel", target=f"deployment/{d.id}")
        s.flush()
        return _out(s, d, ctx, None)


def list_deployments(
    ctx: ServerContext, environment: str, principal: Principal | None = None
) -> list[DeploymentOut]:
    """Deployment history of an environment, newest first (``can_approve`` for
    ``principal``)."""
    with ctx.db.session() as s:
        env = environment_row(s, environment)
        rows = s.execute(
            select(Deployment)
            .where(Deployment.environment_id == env.id)
            .order_by(Deployment.id.desc())
        ).scalars()
        return [_out(s, d, ctx, principal) for d in rows]


def get_deployment(
    ctx: ServerContext, environment: str, deployment_id: int, principal: Principal | None = None
) -> DeploymentOut:
    """One deployment (``can_approve`` for ``principal``)."""
    with ctx.db.session() as s:
        return _out(s, _get(s, environment, deployment_id), ctx, principal)


def deployment_jobs(ctx: ServerContext, environment: str, deployment_id: int) -> list[JobOut]:
    """The plan and apply jobs of a deployment."""
    with ctx.db.session() as s:
        _get(s, environment, deployment_id)
        rows = s.execute(
            select(Job).where(Job.deployment_id == deployment_id).order_by(Job.id)
        ).scalars()
        return [JobOut.model_validate(j) for j in rows]


def log_lines(
    ctx: ServerContext, environment: str, deployment_id: int, *, after: int = 0
) -> tuple[list[JobLogLine], bool]:
    """Log lines after id ``after`` of the deployment's jobs, and whether it has finished."""
    with ctx.db.session() as s:
        d = _get(s, environment, deployment_id)
        job_ids = select(Job.id).where(Job.deployment_id == deployment_id)
        rows = s.execute(
            select(JobLog)
            .where(JobLog.job_id.in_(job_ids), JobLog.id > after)
            .order_by(JobLog.id)
            .limit(500)
        ).scalars()
        done = DeploymentStatus(d.status) in DEPLOYMENT_AT_REST
        return [JobLogLine.model_validate(r) for r in rows], done
