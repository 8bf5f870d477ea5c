"""Identity plans: the identity changes of an upload, held until an identity administrator
(``users:write``) approves or rejects them, with the two-person rule where configured."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from attonix.blueprint import Blueprint
from attonix.server import audit, identity, pipeline
from attonix.server.audit import Actor
from attonix.server.auth import lifecycle
from attonix.server.context import ServerContext
from attonix.server.db.models import BlueprintVersion, Environment, IdentityPlan, utcnow
from attonix.server.errors import Conflict, Forbidden, NotFound
from attonix.server.schemas import IdentityDrift, IdentityPlanOut
from attonix.server.vault import environment_row


def _out(ctx: ServerContext, s: Session, plan: IdentityPlan, env: str) -> IdentityPlanOut:
    ver = s.get(BlueprintVersion, plan.version_id)
    return IdentityPlanOut(
        id=plan.id,
        environment=env,
        version=ver.version if ver is not None else 0,
        status=plan.status,
        requested_by=plan.requested_by,
        decided_by=plan.decided_by,
        created_at=plan.created_at,
        decided_at=plan.decided_at,
        changes=IdentityDrift.model_validate(plan.changes),
        two_person_rule=env in ctx.settings.two_person_rule,
    )


def hold(
    ctx: ServerContext,
    s: Session,
    *,
    env: Environment,
    version: BlueprintVersion,
    bp: Blueprint,
    actor: Actor,
) -> tuple[IdentityDrift, IdentityPlanOut | None]:
    """Plan the identity of an uploaded version (in the upload's transaction); store a pending
    plan when it changes anything. A stricter MFA policy applies at once; nothing else does."""
    drift, _weaker = identity.reconcile(
        s, bp, environment=env.name, mfa_policy=list(env.mfa_required_for), actor=actor, apply=False
    )
    new_policy, weakens = identity.mfa_policy_change(list(env.mfa_required_for), bp)
    if not weakens and new_policy != sorted(env.mfa_required_for):
        env.mfa_required_for = new_policy
        lifecycle.restrict_until_mfa(s, user_ids=None)
        audit.record(
            s,
            actor,
            "environment.mfa_policy",
            target=f"environment/{env.name}",
            detail={"mfa_required_for": new_policy},
        )
    if not identity.pending(drift):
        return drift, None
    s.execute(
        update(IdentityPlan)
        .where(IdentityPlan.environment_id == env.id, IdentityPlan.status == "pending")
        .values(status="superseded", decided_at=utcnow())
    )
    plan = IdentityPlan(
        environment_id=env.id,
        version_id=version.id,
        status="pending",
        requested_by=actor.name,
        changes=drift.model_dump(mode="json"),
    )
    s.add(plan)
    s.flush()
    audit.record(
        s,
        actor,
        "identity.plan",
        target=f"environment/{env.name}/identity-plan/{plan.id}",
        detail={
            "version": version.version,
            "changes": len(drift.created + drift.updated + drift.disabled),
        },
    )
    return drift, _out(ctx, s, plan, env.name)


def list_plans(ctx: ServerContext, environment: str) -> list[IdentityPlanOut]:
    """The environment's identity plans, newest first."""
    with ctx.db.session() as s:
        env = environment_row(s, environment)
        rows = s.execute(
            select(IdentityPlan)
            .where(IdentityPlan.environment_id == env.id)
            .order_by(IdentityPlan.id.desc())
        ).scalars()
        return [_out(ctx, s, r, environment) for r in rows]


def decide(
    ctx: ServerContext,
    *,
    environment: str,
    plan_id: int,
    approve: bool,
    actor: Actor,
    two_person_rule: bool = True,
) -> IdentityPlanOut:
    """Approve (apply) or reject a pending plan. The requester may not approve in an
    environment under the two-person rule; approval re-plans and refuses on any difference."""
    with ctx.db.session() as s:
        env = environment_row(s, environment)
        plan = s.execute(
            select(IdentityPlan)
            .where(IdentityPlan.id == plan_id, IdentityPlan.environment_id == env.id)
            .with_for_update()
        ).scalar_one_or_none()
        if plan is None:
            raise NotFound(f"Environment {environment!r} has no identity plan {plan_id}.")
        if plan.status != "pending":
            raise Conflict(f"Identity plan {plan_id} is {plan.status}, not pending.")
        if (
            approve
            and two_person_rule
            and environment in ctx.settings.two_person_rule
            and plan.requested_by == actor.name
        ):
            raise Forbidden(
                "The two-person rule applies here: someone other than the uploader must approve.",
            )
        superseded = False
        if approve:
            ver = s.get(BlueprintVersion, plan.version_id)
            assert ver is not None
            bp = pipeline.load(ver.source, filename=ver.filename).blueprint
            policy = list(env.mfa_required_for)
            now, _ = identity.reconcile(
                s, bp, environment=environment, mfa_policy=policy, actor=actor, apply=False
            )
            superseded = now.model_dump(mode="json") != plan.changes
            if not superseded:
                _, weaker = identity.reconcile(
                    s, bp, environment=environment, mfa_policy=policy, actor=actor, apply=True
                )
                if weaker is not None:
                    env.mfa_required_for = weaker
        if superseded:
            # Committed as superseded; the caller learns why below.
            plan.status, plan.decided_at = "superseded", utcnow()
            action = "identity.plan_superseded"
        else:
            plan.status = "applied" if approve else "declined"
            plan.decided_by, plan.decided_at = actor.name, utcnow()
            action = "identity.approve" if approve else "identity.reject"
        audit.record(s, actor, action, target=f"environment/{environment}/identity-plan/{plan_id}")
        out = _out(ctx, s, plan, environment)
    if superseded:
        raise Conflict(
            f"The identity state changed since plan {plan_id} was made; it is now superseded.",
            hint="Upload the blueprint again for a fresh plan.",
        )
    return out
