"""First start of a Central Server: an administrator, an environment, a blueprint imported.

Idempotent: on later starts nothing is created again and no password is printed; a changed
blueprint file is stored as a new version.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from attonix.server import environments, identity_plans
from attonix.server.audit import Actor
from attonix.server.auth import users
from attonix.server.context import ServerContext
from attonix.server.db.models import BlueprintVersion, Environment, User
from attonix.server.errors import BadRequest


@dataclass
class BootstrapReport:
    """What the first start did; ``admin_password`` is set only when the admin was created."""

    admin_password: str = ""
    lines: list[str] = field(default_factory=list)


def bootstrap(
    ctx: ServerContext, *, blueprint: Path, environment: str, admin: str
) -> BootstrapReport:
    """Ensure ``admin`` exists, ``environment`` exists and holds ``blueprint``'s current text."""
    actor = Actor(name="bootstrap", source_ip="local")
    report = BootstrapReport()
    try:
        source = blueprint.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadRequest(f"cannot read {blueprint}: {exc.strerror}") from None
    with ctx.db.session() as s:
        has_admin = s.execute(select(User.id).where(User.name == admin)).first() is not None
        env = s.execute(select(Environment).where(Environment.name == environment)).scalar()
        env_exists = env is not None
        latest_sha = None
        if env is not None:
            latest_sha = s.execute(
                select(BlueprintVersion.sha256)
                .where(BlueprintVersion.environment_id == env.id)
                .order_by(BlueprintVersion.version.desc())
                .limit(1)
            ).scalar()
    if not has_admin:
        created = users.create_admin(ctx, name=admin, actor=actor)
        report.admin_password = created.one_time_password
    if not env_exists:
        environments.create_environment(ctx, name=environment, actor=actor)
        report.lines.append(f"environment {environment} created")
    if latest_sha != hashlib.sha256(source.encode()).hexdigest():
        result = environments.upload(
            ctx,
            environment=environment,
            source=source,
            filename=blueprint.name,
            actor=actor,
        )
        report.lines.append(
            f"{blueprint} imported into {environment} as version {result.version.version} "
            f"({len(result.version.findings)} finding(s)); "
            f"identity: {len(result.identity.created)} created, "
            f"{len(result.identity.updated)} updated"
        )
        if result.identity_plan is not None:
            # The operator starting the server with a local file is the identity authority here.
            identity_plans.decide(
                ctx,
                environment=environment,
                plan_id=result.identity_plan.id,
                approve=True,
                actor=actor,
                two_person_rule=False,
            )
            new = [c for c in result.identity.created if c.startswith("user/")]
            if new:
                report.lines.append(
                    f"  {len(new)} account(s) created without a password: they sign in through "
                    "the identity provider, or get a one-time password from "
                    "`attonix users reset-password NAME`"
                )
    else:
        report.lines.append(f"{environment} already holds {blueprint} (unchanged)")
    return report
