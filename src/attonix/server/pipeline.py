"""The one place the server calls the layers below: load, check, render, plan, apply.

The CLI calls the same functions of those layers; keeping the server's calls here means a
change of their signatures is one edit.
"""

from __future__ import annotations

import io
import tarfile
from typing import Any

from attonix.blueprint import Loaded, load_bytes
from attonix.deploy import SecretSource, get_driver
from attonix.deploy.base import Plan, Result
from attonix.policy import check
from attonix.render.base import Artifact
from attonix.render.registry import TARGETS, render

RENDER_TARGETS = tuple(sorted(TARGETS))
__all__ = [
    "RENDER_TARGETS",
    "Loaded",
    "apply",
    "findings",
    "load",
    "plan",
    "render_target",
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


def plan(loaded: Loaded, target: str, *, secrets: SecretSource) -> Plan:
    """What applying ``target`` would change on the live engine."""
    return get_driver(target, loaded.blueprint, secrets=secrets).plan()


def apply(
    loaded: Loaded, target: str, *, secrets: SecretSource, progress: Any
) -> tuple[Plan, Result]:
    """Plan again (the engine may have moved) and apply, reporting progress lines."""
    driver = get_driver(target, loaded.blueprint, secrets=secrets)
    fresh = driver.plan()
    return fresh, driver.apply(fresh, progress)
