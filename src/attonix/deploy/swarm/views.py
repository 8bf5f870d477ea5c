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

#: Labels the engine adds itself; never part of a comparison.
_ENGINE_LABEL_PREFIXES = ("com.docker.",)


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
    """The view of one workload of the desired state, from its typed fields: replicas,
    networks and secret files, and how the engine runs its containers (``container``).

    ``secret_names`` gives the engine name of each secret key (versioned for a plan).
    """
    c = w.container
    if c is None:
        raise ValueError(f"workload {w.name} has no container spec (not a Swarm workload)")
    return {
        "image": c.image,
        "replicas": w.replicas,
        "command": list(c.command) if c.command else None,
        "env": dict(sorted(c.env.items())),
        "user": c.user,
        "read_only": c.read_only,
        "cap_drop": sorted(c.cap_drop),
        "cap_add": sorted(c.cap_add),
        "labels": own_labels(c.labels),
        "container_labels": own_labels(c.container_labels),
        "networks": sorted(w.networks),
        "secrets": sorted(f"{m.path} <- {secret_names[m.ref]}" for m in w.secrets),
        "ports": sorted(f"{p.published}:{p.target}/{p.protocol} {p.mode}" for p in c.ports),
        "healthcheck": None
        if c.healthcheck is None
        else {"test": list(c.healthcheck.test), "interval": c.healthcheck.interval_seconds},
        "limits": {"cpus": c.limits.cpus, "memory": c.limits.memory_bytes},
        "reservations": {"cpus": c.reservations.cpus, "memory": c.reservations.memory_bytes},
        "update_order": c.update_order,
        "constraints": sorted(c.constraints),
        "max_replicas_per_node": c.max_replicas_per_node,
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
