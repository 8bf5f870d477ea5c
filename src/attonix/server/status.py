"""Live health per component: what the target of an environment's last successful deployment
reports, mapped onto the blueprint's ``kind/name`` component ids.

Reading it never fails the request: an engine that is down, refuses or does not answer
within ``STATUS_TIMEOUT_SECONDS`` makes every component ``unknown`` with the reason.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from sqlalchemy import select

from attonix.errors import Error
from attonix.server import connections, pipeline
from attonix.server.context import ServerContext
from attonix.server.db.models import BlueprintVersion, Deployment, utcnow
from attonix.server.schemas import ComponentStatusOut, EnvironmentStatusOut, Health
from attonix.server.states import DeploymentStatus
from attonix.server.vault import VaultSecretSource, environment_row

log = logging.getLogger("attonix.server")

#: How long one status read may wait for the engine.
STATUS_TIMEOUT_SECONDS = 5.0
# Few threads: an engine that hangs occupies one each until it answers, and further reads
# then time out instead of piling up threads.
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="attonix-status")


def health_of(s: pipeline.ServiceStatus) -> Health:
    """healthy (every desired replica runs healthy), down (none healthy), degraded between."""
    if s.desired <= 0:
        return "unknown"
    if s.healthy >= s.desired and s.running >= s.desired:
        return "healthy"
    if s.healthy == 0:
        return "down"
    return "degraded"


def component_of(service: str, names: dict[str, str], blueprint: str) -> str | None:
    """The component id of an engine's service name (``orders-api``, ``dc-orders-api``,
    ``stack_orders-api``, ``Deployment/ns/orders-api``), or None when it is not one."""
    short = service.rsplit("/", 1)[-1].rsplit("_", 1)[-1]
    for candidate in (short, short.removeprefix(f"{blueprint}-")):
        if candidate in names:
            return names[candidate]
    return None


def _read(
    ctx: ServerContext, environment: str, loaded: pipeline.Loaded, target: str, cluster: str
) -> list[pipeline.ServiceStatus]:
    """The engine's report, through the deployed cluster's stored connection."""
    name = pipeline.cluster_of(loaded, target, cluster)
    with connections.opened(ctx, environment=environment, cluster=name, target=target) as conn:
        return pipeline.status(
            loaded,
            target,
            secrets=VaultSecretSource(ctx, environment),
            cluster=name,
            connection=conn.connection,
        )


def environment_status(ctx: ServerContext, environment: str) -> EnvironmentStatusOut:
    """Health of every component of the last successfully deployed version."""
    with ctx.db.session() as s:
        env = environment_row(s, environment)
        row = s.execute(
            select(Deployment, BlueprintVersion)
            .join(BlueprintVersion, BlueprintVersion.id == Deployment.version_id)
            .where(
                Deployment.environment_id == env.id, Deployment.status == DeploymentStatus.SUCCEEDED
            )
            .order_by(Deployment.id.desc())
            .limit(1)
        ).first()
        if row is None:
            latest = s.execute(
                select(BlueprintVersion)
                .where(BlueprintVersion.environment_id == env.id)
                .order_by(BlueprintVersion.version.desc())
                .limit(1)
            ).scalar_one_or_none()
            source = (latest.source, latest.filename) if latest else None
            deployment = None
        else:
            dep, ver = row
            source = (ver.source, ver.filename)
            deployment = (dep.id, ver.version, dep.target, dep.cluster)
    now = utcnow()
    if source is None:
        return EnvironmentStatusOut(
            environment=environment, message="No blueprint yet.", checked_at=now, components=[]
        )
    loaded = pipeline.load(source[0], filename=source[1])
    names = pipeline.status_components(loaded)
    ids = sorted(set(names.values()))

    def unknown(message: str) -> list[ComponentStatusOut]:
        return [ComponentStatusOut(component=c, state="unknown", message=message) for c in ids]

    if deployment is None:
        return EnvironmentStatusOut(
            environment=environment,
            message="Never deployed successfully.",
            checked_at=now,
            components=unknown("never deployed"),
        )
    dep_id, version, target, cluster = deployment
    base = EnvironmentStatusOut(
        environment=environment,
        deployment_id=dep_id,
        version=version,
        target=target,
        checked_at=now,
        components=[],
    )
    future = _POOL.submit(_read, ctx, environment, loaded, target, cluster)
    try:
        services = future.result(timeout=STATUS_TIMEOUT_SECONDS)
    except FutureTimeout:
        future.cancel()
        why = f"the {target} target did not answer within {STATUS_TIMEOUT_SECONDS:g} s"
        return base.model_copy(update={"message": why, "components": unknown(why)})
    except Exception as exc:
        if isinstance(exc, Error):
            why = f"the {target} target cannot be read: {exc.message}"
        else:
            why = f"the {target} target cannot be read ({type(exc).__name__})"
        log.warning("status read failed", extra={"environment": environment, "reason": why})
        return base.model_copy(update={"message": why, "components": unknown(why)})
    found: dict[str, ComponentStatusOut] = {}
    for svc in services:
        component = component_of(svc.name, names, loaded.blueprint.metadata.name)
        if component is None or component in found:
            continue
        found[component] = ComponentStatusOut(
            component=component,
            state=health_of(svc),
            desired=svc.desired,
            running=svc.running,
            healthy=svc.healthy,
            message=svc.message,
        )
    components = [
        found.get(c)
        or ComponentStatusOut(component=c, state="unknown", message=f"not reported by {target}")
        for c in ids
    ]
    return base.model_copy(update={"reachable": True, "components": components})
