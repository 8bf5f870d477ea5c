"""The deploy layer: drivers that converge live targets towards the rendered blueprint.

Targets are listed in :data:`DRIVERS`, an explicit registry; a driver module is imported only
when its target is asked for.
"""

from __future__ import annotations

import importlib
from typing import Any

from attonix.blueprint.model import Blueprint
from attonix.deploy.base import (
    Change,
    ConvergeFailed,
    DeployError,
    Driver,
    EngineUnavailable,
    LockHeld,
    Plan,
    Progress,
    Result,
    ServiceStatus,
    StalePlan,
)
from attonix.deploy.connections import KIND_OF_TARGET, ConnectionsFile, for_cluster
from attonix.deploy.converging import Outcome, converge
from attonix.deploy.secrets import (
    ChainSecretSource,
    EnvSecretSource,
    FileSecretSource,
    SecretMissing,
    SecretSource,
)

#: target name -> (module, driver class)
DRIVERS: dict[str, tuple[str, str]] = {
    "swarm": ("attonix.deploy.swarm", "SwarmDriver"),
    "podman": ("attonix.deploy.podman", "PodmanDriver"),
    "kubernetes": ("attonix.deploy.kubernetes", "KubernetesDriver"),
    "databases": ("attonix.deploy.databases", "DatabaseDriver"),
    "ceph": ("attonix.deploy.ceph", "CephDriver"),
    "vsphere": ("attonix.deploy.vsphere", "VSphereDriver"),
}


def get_driver(
    target: str,
    blueprint: Blueprint,
    *,
    cluster: str | None = None,
    secrets: SecretSource,
    connections: ConnectionsFile | None = None,
) -> Driver:
    """The driver for ``target`` and one of the blueprint's clusters of that kind, connected
    to that cluster's endpoint from ``connections`` (else the local engine).

    ``cluster`` may be omitted when the blueprint has exactly one cluster of the kind.
    """
    cls = _driver_class(target)
    chosen = _choose(cls, blueprint, kind=target, name=cluster)
    # A target that is not an orchestration cluster (databases, ceph) reads its servers from
    # its own section of the connections file.
    if getattr(cls, "pick", None) and target not in KIND_OF_TARGET:
        driver: Driver = cls(blueprint, cluster=chosen, secrets=secrets)
        return driver
    connection = for_cluster(connections or ConnectionsFile(), cluster=chosen, target=target)
    driver = cls(blueprint, cluster=chosen, secrets=secrets, connection=connection)
    return driver


def cluster_for(target: str, blueprint: Blueprint, name: str | None = None) -> str:
    """The cluster (or, for vSphere, databases and Ceph, the entry) of ``target`` to work
    on: ``name`` checked against the blueprint, or the only one there is."""
    return _choose(_driver_class(target), blueprint, kind=target, name=name)


def _choose(cls: Any, blueprint: Blueprint, *, kind: str, name: str | None) -> str:
    # A target that is not an orchestration cluster (databases, ceph, vsphere) picks its own.
    pick = getattr(cls, "pick", None)
    return str(pick(blueprint, name)) if pick else pick_cluster(blueprint, kind=kind, name=name)


def _driver_class(target: str) -> Any:
    try:
        module_name, cls_name = DRIVERS[target]
    except KeyError:
        raise DeployError(
            f"no deploy driver for target {target!r}",
            hint=f"Use one of: {', '.join(sorted(DRIVERS))}.",
        ) from None
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        raise DeployError(
            f"the {target} deploy driver is not available in this version of Attonix",
            hint="Render the files with `attonix render --target` and apply them by hand.",
        ) from None
    return getattr(module, cls_name)


def pick_cluster(blueprint: Blueprint, *, kind: str, name: str | None) -> str:
    """The name of the cluster of ``kind`` to work on: ``name``, or the only one there is."""
    clusters = [c.name for c in blueprint.orchestration.clusters if c.kind == kind]
    if name is not None:
        if name not in clusters:
            raise DeployError(
                f"the blueprint has no {kind} cluster named {name!r}",
                hint=f"{kind} clusters: {', '.join(clusters) or 'none'}.",
            )
        return name
    if len(clusters) == 1:
        return clusters[0]
    if not clusters:
        raise DeployError(
            f"the blueprint declares no {kind} cluster",
            hint="Add one under orchestration.clusters, or pick another --target.",
        )
    raise DeployError(
        f"the blueprint has {len(clusters)} {kind} clusters: {', '.join(clusters)}",
        hint="Choose one with --cluster.",
    )


__all__ = [
    "DRIVERS",
    "ChainSecretSource",
    "Change",
    "ConvergeFailed",
    "DeployError",
    "Driver",
    "EngineUnavailable",
    "EnvSecretSource",
    "FileSecretSource",
    "LockHeld",
    "Outcome",
    "Plan",
    "Progress",
    "Result",
    "SecretMissing",
    "SecretSource",
    "ServiceStatus",
    "StalePlan",
    "cluster_for",
    "converge",
    "get_driver",
    "pick_cluster",
]
