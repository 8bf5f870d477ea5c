"""The one place the server calls the layers below: load, check, render, plan, apply.

The CLI calls the same functions of those layers; keeping the server's calls here means a
change of their signatures is one edit.
"""

from __future__ import annotations

import io
import tarfile
from typing import Any

from attonix.blueprint import Loaded, load_bytes
from attonix.deploy import Driver, Outcome, Progress, SecretSource, get_driver
from attonix.deploy import converge as converge_driver
from attonix.deploy.base import Plan, ServiceStatus
from attonix.deploy.converging import endpoint_of
from attonix.policy import check
from attonix.policy.components import workloads
from attonix.render.base import Artifact
from attonix.render.registry import TARGETS, render

RENDER_TARGETS = tuple(sorted(TARGETS))
__all__ = [
    "RENDER_TARGETS",
    "Loaded",
    "ServiceStatus",
    "converge",
    "driver",
    "findings",
    "load",
    "plan",
    "plan_lines",
    "render_target",
    "status",
    "status_components",
    "tarball",
]


def load(source: str | bytes, *, filename: str) -> Loaded:
    """Parse and validate blueprint text; raise ``BlueprintInvalid`` with every diagnostic."""
    return load_bytes(source, file=filename)


def findings(loaded: Loaded) -> list[dict[str, Any]]:
    """The policy findings of a blueprint, as JSON data."""
    return [f.to_dict() for f in check(loaded)]


def render_target(loaded: Loaded, target: str) -> list[Artifact]:
    """The artifacts of one target."""
    return render(loaded.blueprint, target)


def tarball(artifacts: list[Artifact], *, prefix: str) -> bytes:
    """A deterministic .tar.gz of ``artifacts`` under ``prefix/`` (fixed times and owners)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tar:
        for a in sorted(artifacts, key=lambda a: a.path):
            data = a.text().encode()
            info = tarfile.TarInfo(f"{prefix}/{a.path}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def driver(
    loaded: Loaded, target: str, *, secrets: SecretSource, cluster: str | None = None
) -> Driver:
    """The deploy driver of ``target`` for the blueprint (raises ``DeployError`` if none)."""
    return get_driver(target, loaded.blueprint, cluster=cluster, secrets=secrets)


def plan(
    loaded: Loaded, target: str, *, secrets: SecretSource, cluster: str | None = None
) -> tuple[Plan, str]:
    """What applying ``target`` would change on the live engine (changes nothing), and the
    endpoint that engine is, in words (shown with the plan before anyone approves it)."""
    drv = driver(loaded, target, secrets=secrets, cluster=cluster)
    return drv.plan(), endpoint_of(drv)


def status(
    loaded: Loaded, target: str, *, secrets: SecretSource, cluster: str | None = None
) -> list[ServiceStatus]:
    """Desired, running and healthy replicas per service, as the live engine reports them."""
    return driver(loaded, target, secrets=secrets, cluster=cluster).status()


def status_components(loaded: Loaded) -> dict[str, str]:
    """The components a target runs (workloads and databases): name → ``kind/name`` id."""
    out = {d.name: f"database/{d.name}" for d in loaded.blueprint.databases}
    out.update({w.name: component for _, component, w in workloads(loaded.blueprint)})
    return out


def plan_lines(p: Plan) -> list[str]:
    """One readable line per pending change of ``p`` (for job logs), or one saying none."""
    if p.is_empty:
        return [f"plan: nothing to change ({len(p.changes)} resource(s) up to date)"]
    return [f"plan: {c.action} {c.kind} {c.name}" for c in p.pending]


def converge(
    loaded: Loaded,
    target: str,
    *,
    secrets: SecretSource,
    approved: dict[str, Any],
    progress: Progress,
    cluster: str | None = None,
) -> Outcome:
    """Apply exactly the ``approved`` plan through the one converge path the CLI uses too
    (lock, fresh plan equal to the approved one, apply, wait, verify)."""
    drv = driver(loaded, target, secrets=secrets, cluster=cluster)
    return converge_driver(drv, approved=approved, progress=progress)
