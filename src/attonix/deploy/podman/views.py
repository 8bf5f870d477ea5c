"""Comparable views of Podman pods, built from the podman renderer's desired state (desired)
and from ``podman inspect`` of the pods' containers (observed), and the per-service status
derived from the same inspect documents — all pure, so planning and status are tested without
an engine.

A view keeps what Attonix sets and what an operator could change by replaying another YAML:
image, replicas (pods whose container runs), environment, published ports, mounts, user,
read-only root, memory limit, health check and labels. Engine additions (``HOSTNAME``, the
image's own ``ENV``, ``io.podman`` labels) are left out so an untouched pod compares equal.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from typing import Any

from attonix.deploy.base import Failure, ServiceStatus
from attonix.render.desired import Workload

#: Variables Podman adds to every container.
_ENGINE_ENV = frozenset({"HOSTNAME", "container", "TERM", "HOME"})
#: Only these label namespaces are Attonix's (images and Podman add others).
_OWN_LABEL_PREFIXES = ("app.kubernetes.io/", "attonix.io/")
_URL = re.compile(r"(https?)(://[^\s'\"]+)", re.IGNORECASE)


def own_labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    """The Attonix labels among ``labels``, sorted by key."""
    return {k: v for k, v in sorted((labels or {}).items()) if k.startswith(_OWN_LABEL_PREFIXES)}


def pod_view(w: Workload, *, secret_names: Mapping[str, str]) -> dict[str, Any]:
    """The view of the pods the desired state asks for ``w``: replicas and secret mounts from
    its typed fields, the rest from the settings the renderer recorded while building its
    Deployment. ``secret_names`` gives the engine name of each Podman secret (by its name
    before versioning; versioned for a plan, left out for status)."""
    s = w.spec
    secrets = {
        f"{posixpath.dirname(m.path)} <- {secret_names.get(m.ref.base, m.ref.base)}"
        for m in w.secrets
    }
    return {
        "image": s["image"],
        "replicas": w.replicas,
        "env": dict(s["env"]),
        "ports": list(s["ports"]),
        "mounts": sorted([*s["mounts"], *secrets]),
        "user": s["user"],
        "read_only": s["read_only"],
        "memory_limit": s["memory_limit"],
        "health": s["health"],
        "labels": own_labels(s["labels"]),
    }


_VERSION = re.compile(r"-[0-9a-f]{10}$")


def unversioned(view: dict[str, Any]) -> dict[str, Any]:
    """``view`` with version tags cut from secret names in its mounts, so that status can
    compare a pod's spec without the secret values (plan compares the versioned names)."""
    mounts = view.get("mounts")
    if not mounts:
        return view
    return {**view, "mounts": sorted(_VERSION.sub("", m) for m in mounts)}


def health_verdict(containers: list[dict[str, Any]]) -> tuple[Failure | None, str]:
    """``unhealthy`` and the check's own output when a container's health check failed its
    ``retries`` times in a row: ``State.Health.Status`` says ``unhealthy``, or its
    ``FailingStreak`` reached ``Config.Healthcheck.Retries`` (Podman 4.3 keeps the status
    ``starting`` until a first check passes, however often it fails)."""
    for c in containers:
        health = c["info"].get("State", {}).get("Health") or {}
        retries = int((c["info"].get("Config", {}).get("Healthcheck") or {}).get("Retries") or 0)
        streak = int(health.get("FailingStreak") or 0)
        if health.get("Status") != "unhealthy" and not (retries and streak >= retries):
            continue
        log = health.get("Log") or [{}]
        last = log[-1]
        output = str(last.get("Output", "")).strip()
        reason = output or f"health check exit code {last.get('ExitCode', '?')}"
        return "unhealthy", f"{c['info'].get('Name', '?')}: {reason} ({streak} failures in a row)"
    return None, ""


def _name(entry: dict[str, Any]) -> str:
    return str(entry["name"])


def _env(entries: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for entry in entries:
        key, _, value = entry.partition("=")
        out[key] = value
    return out


def container_view(info: dict[str, Any], *, image_env: Iterable[str] = ()) -> dict[str, Any]:
    """The view of one live container (from ``podman inspect``), replicas not yet counted.

    ``image_env`` is the image's own ``ENV``: entries the container inherits unchanged from its
    image are not the blueprint's and are left out.
    """
    cfg = info.get("Config", {})
    host = info.get("HostConfig", {})
    inherited = _env(image_env)
    env = {
        k: v
        for k, v in _env(cfg.get("Env") or []).items()
        if k not in _ENGINE_ENV and inherited.get(k) != v
    }
    ports = []
    for key, bindings in sorted((info.get("NetworkSettings", {}).get("Ports") or {}).items()):
        for b in bindings or []:
            ports.append(f"{b.get('HostIp', '')}:{b.get('HostPort')}->{key}")
    health = cfg.get("Healthcheck") or {}
    found = _URL.search(" ".join(health.get("Test") or []))
    return {
        "image": cfg.get("Image") or info.get("ImageName", ""),
        "replicas": 1,
        "env": dict(sorted(env.items())),
        "ports": sorted(ports),
        "mounts": sorted(
            f"{m['Destination']} <- {m.get('Name') or m.get('Source', '')}"
            for m in info.get("Mounts") or []
            if m.get("Type") == "volume"
        ),
        "user": cfg.get("User", ""),
        "read_only": bool(host.get("ReadonlyRootfs", False)),
        "memory_limit": int(host.get("Memory") or 0),
        "health": found.group(1).lower() + found.group(2) if found else None,
        "labels": own_labels(cfg.get("Labels")),
    }


def running(info: dict[str, Any]) -> bool:
    """True when the container's process is running (restarting counts as not running)."""
    state = info.get("State", {})
    return bool(state.get("Running")) and state.get("Status") == "running"


def service_view(
    desired: dict[str, Any] | None, containers: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The observed view of a service from its pods' app containers (views, see above).

    ``replicas`` counts running containers. When replicas differ from one another, the one that
    differs from ``desired`` is shown, so a change made to one pod is never hidden.
    """
    if not containers:
        return None
    views = [c["view"] for c in containers]
    shown = views[0]
    if desired is not None:
        wanted = {k: v for k, v in desired.items() if k != "replicas"}
        for v in views:
            if {k: x for k, x in v.items() if k != "replicas"} != wanted:
                shown = v
                break
    return {**shown, "replicas": sum(1 for c in containers if c["running"])}


def service_status(
    name: str,
    *,
    desired: int,
    containers: list[dict[str, Any]],
    healthy: int,
    image: str,
    orphan: bool = False,
    drift: bool = False,
) -> ServiceStatus:
    """The status of one service from its containers (``{"info", "running", ...}``).

    The message says what an operator would look at first: restarts in progress or done,
    exited containers, missing pods, or that the service is not in the blueprint.
    """
    up = sum(1 for c in containers if c["running"])
    restarts = sum(int(c["info"].get("RestartCount") or 0) for c in containers)
    notes: list[str] = []
    down = [c for c in containers if not c["running"]]
    for c in down[:2]:
        state = c["info"].get("State", {})
        notes.append(
            f"{c['info'].get('Name', '?')} is {state.get('Status', 'unknown')}"
            f" (exit code {state.get('ExitCode', '?')})"
        )
    if len(containers) < desired:
        notes.append(f"{desired - len(containers)} of {desired} pods missing")
    if restarts:
        notes.append(f"restarted {restarts} time(s) by Podman")
    if up > healthy:
        notes.append(f"{up - healthy} running but not healthy")
    if orphan:
        notes.insert(0, "not in the blueprint (will be removed)")
    if drift and not orphan:
        notes.append("the engine runs another spec than the blueprint (drift)")
    if not containers and not orphan:
        notes = ["not deployed"]
    failure, reason = health_verdict(containers)
    return ServiceStatus(
        name,
        desired,
        up,
        healthy,
        image=image,
        message="; ".join(notes),
        failure=failure,
        reason=reason,
        drift=drift and not orphan,
    )
