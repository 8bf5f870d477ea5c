"""Comparable views of Swarm resources, built from the renderer's desired state (desired) and
from ``docker ... inspect`` output (observed), so that planning is a pure comparison of two
dicts.

A view keeps what Attonix sets and an operator might change by hand (image, replicas, env,
ports, secrets, networks, limits, labels...) in one normal form: durations in seconds, CPUs as
decimal strings, memory in bytes, networks by name, engine-added labels dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from attonix.render.desired import Network, SecretKeyRef, Workload
from attonix.render.swarm import unliteral

_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h)$")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_MEMORY = re.compile(r"^([0-9]+)([bkmgt]?)$")
_MEMORY_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
#: Labels the engine adds itself; never part of a comparison.
_ENGINE_LABEL_PREFIXES = ("com.docker.",)


def seconds(duration: str) -> float:
    """Compose duration (``"1s"``, ``"500ms"``) in seconds."""
    m = _DURATION.match(duration)
    if m is None:
        raise ValueError(f"not a duration: {duration!r}")
    return float(m.group(1)) * _DURATION_UNITS[m.group(2)]


def memory_bytes(quantity: str) -> int:
    """Compose memory (``"64m"``) in bytes (binary units, as Docker reads them)."""
    m = _MEMORY.match(quantity.lower())
    if m is None:
        raise ValueError(f"not a memory size: {quantity!r}")
    return int(m.group(1)) * _MEMORY_UNITS[m.group(2)]


def _cpus_from_nanos(nanos: int) -> str:
    return f"{nanos / 1e9:g}"


def _secs_from_nanos(nanos: int | None) -> float:
    return round((nanos or 0) / 1e9, 3)


def own_labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    """``labels`` without the ones the engine adds, sorted by key."""
    return {
        k: v for k, v in sorted((labels or {}).items()) if not k.startswith(_ENGINE_LABEL_PREFIXES)
    }


def _strip_digest(image: str) -> str:
    return image.split("@", 1)[0]


def service_view(w: Workload, *, secret_names: Mapping[SecretKeyRef, str]) -> dict[str, Any]:
    """The view of one workload of the desired state: replicas, networks and secret files
    from its typed fields, the rest from its rendered compose service.

    ``secret_names`` gives the engine name of each secret key (versioned for a plan).
    """
    svc = w.spec
    deploy = svc.get("deploy", {})
    health = svc.get("healthcheck", {})
    limits = deploy.get("resources", {}).get("limits", {})
    reservations = deploy.get("resources", {}).get("reservations", {})
    placement = deploy.get("placement", {})
    return {
        "image": svc["image"],
        "replicas": w.replicas,
        # The stack file escapes dollars from the CLI's substitution; the engine gets them bare.
        "command": [unliteral(a) for a in svc["command"]] if svc.get("command") else None,
        "env": {k: unliteral(v) for k, v in sorted((svc.get("environment") or {}).items())},
        "user": svc.get("user", ""),
        "read_only": bool(svc.get("read_only", False)),
        "cap_drop": sorted(svc.get("cap_drop", [])),
        "cap_add": sorted(svc.get("cap_add", [])),
        "labels": own_labels(deploy.get("labels")),
        "container_labels": own_labels(svc.get("labels")),
        "networks": sorted(w.networks),
        "secrets": sorted(f"{m.path} <- {secret_names[m.ref]}" for m in w.secrets),
        "ports": sorted(
            f"{p['published']}:{p['target']}/{p.get('protocol', 'tcp')} {p.get('mode', 'ingress')}"
            for p in svc.get("ports", [])
        ),
        "healthcheck": None
        if health.get("disable")
        else {
            "test": [unliteral(t) for t in health.get("test", [])],
            "interval": seconds(health.get("interval", "30s")),
        },
        "limits": {
            "cpus": limits.get("cpus"),
            "memory": memory_bytes(limits["memory"]) if "memory" in limits else None,
        },
        "reservations": {
            "cpus": reservations.get("cpus"),
            "memory": memory_bytes(reservations["memory"]) if "memory" in reservations else None,
        },
        "update_order": deploy.get("update_config", {}).get("order", "stop-first"),
        "constraints": sorted(placement.get("constraints", [])),
        "max_replicas_per_node": placement.get("max_replicas_per_node", 0),
    }


def service_from_inspect(spec: dict[str, Any], *, networks: dict[str, str]) -> dict[str, Any]:
    """The view of a live service from its ``docker service inspect`` ``Spec``.

    ``networks`` maps network ids to names (the spec only holds ids).
    """
    task = spec.get("TaskTemplate", {})
    c = task.get("ContainerSpec", {})
    res = task.get("Resources", {})
    limits = res.get("Limits", {})
    reservations = res.get("Reservations", {})
    placement = task.get("Placement", {})
    health = c.get("Healthcheck")
    mode = spec.get("Mode", {})
    env = dict(e.split("=", 1) if "=" in e else (e, "") for e in c.get("Env") or [])
    ports = spec.get("EndpointSpec", {}).get("Ports") or []
    return {
        "image": _strip_digest(c.get("Image", "")),
        "replicas": mode.get("Replicated", {}).get("Replicas", 0) if "Replicated" in mode else -1,
        "command": list(c["Args"]) if c.get("Args") else None,
        "env": dict(sorted(env.items())),
        "user": c.get("User", ""),
        "read_only": bool(c.get("ReadOnly", False)),
        "cap_drop": sorted(c.get("CapabilityDrop") or []),
        "cap_add": sorted(c.get("CapabilityAdd") or []),
        "labels": own_labels(spec.get("Labels")),
        "container_labels": own_labels(c.get("Labels")),
        "networks": sorted(
            networks.get(n.get("Target", ""), n.get("Target", "")) for n in task.get("Networks", [])
        ),
        "secrets": sorted(
            f"{s['File']['Name']} <- {s['SecretName']}" for s in c.get("Secrets") or []
        ),
        "ports": sorted(
            f"{p.get('PublishedPort')}:{p.get('TargetPort')}/{p.get('Protocol', 'tcp')} "
            f"{p.get('PublishMode', 'ingress')}"
            for p in ports
        ),
        "healthcheck": None
        if not health or health.get("Test", [""])[0] == "NONE"
        else {
            "test": list(health.get("Test", [])),
            "interval": _secs_from_nanos(health.get("Interval")),
        },
        "limits": {
            "cpus": _cpus_from_nanos(limits["NanoCPUs"]) if limits.get("NanoCPUs") else None,
            "memory": limits.get("MemoryBytes") or None,
        },
        "reservations": {
            "cpus": _cpus_from_nanos(reservations["NanoCPUs"])
            if reservations.get("NanoCPUs")
            else None,
            "memory": reservations.get("MemoryBytes") or None,
        },
        "update_order": spec.get("UpdateConfig", {}).get("Order", "stop-first"),
        "constraints": sorted(placement.get("Constraints") or []),
        "max_replicas_per_node": placement.get("MaxReplicas", 0),
    }


def network_view(net: Network) -> dict[str, Any]:
    """The view of one network of the desired state."""
    return {"driver": net.driver, "encrypted": net.encrypted, "labels": own_labels(net.labels)}


def network_from_inspect(info: dict[str, Any]) -> dict[str, Any]:
    """The view of a live network from ``docker network inspect``."""
    opts = info.get("Options") or {}
    return {
        "driver": info.get("Driver", ""),
        "encrypted": "encrypted" in opts and opts["encrypted"] in ("", "true"),
        "labels": own_labels(info.get("Labels")),
    }


_VERSION = re.compile(r"-[0-9a-f]{10}$")


def unversioned(view: dict[str, Any]) -> dict[str, Any]:
    """``view`` with the version tags cut from its secret names, for comparing a service's
    spec without knowing the secret values (status); plan compares the versioned names."""
    secrets = view.get("secrets")
    if not secrets:
        return view
    return {**view, "secrets": sorted(_VERSION.sub("", s) for s in secrets)}


def labelled_view(labels: Mapping[str, str] | None) -> dict[str, Any]:
    """The view of a resource compared by its labels only (secrets, volumes)."""
    return {"labels": own_labels(labels)}
