"""The typed desired state a renderer hands to the deploy layer next to its files.

A renderer knows, while it writes a file, what the engine must end up running: every workload
with its effective replica count, the secret files it mounts (as references to one key of a
declared secret, never a value), the networks it joins and the volumes it keeps. It returns
that knowledge as :class:`DesiredState` in a :class:`Rendered`, so that a driver plans,
versions secrets and reads replica counts from these types and never parses the rendered
file back to recover them; the file itself is what the driver hands to the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from attonix.render.base import Artifact


@dataclass(frozen=True, slots=True, order=True)
class SecretKeyRef:
    """One key of a declared ``security.secrets`` entry, as the engine stores it.

    ``ref`` is how the rendered file names it (a Compose secret key, a Kubernetes Secret) and
    ``base`` the engine's name for it before the deploy step appends a version tag.
    """

    secret: str
    key: str
    ref: str
    base: str


@dataclass(frozen=True, slots=True, order=True)
class SecretObject:
    """A whole declared secret the engine holds as one object in ``namespace`` (Kubernetes:
    a ``Secret`` with every key), because some rendered object references it by name."""

    namespace: str
    secret: str


@dataclass(frozen=True, slots=True)
class SecretMount:
    """A secret key a workload sees as the file ``path``, owned by ``uid`` with ``mode``."""

    ref: SecretKeyRef
    path: str
    uid: int
    mode: int = 0o400


@dataclass(frozen=True, slots=True)
class Network:
    """A network the engine creates for the cluster: ``key`` in the file, engine ``name``."""

    key: str
    name: str
    driver: str
    encrypted: bool
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Volume:
    """A named volume the engine keeps for the cluster: ``key`` in the file, engine ``name``."""

    key: str
    name: str
    driver: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PublishedPort:
    """A container port the engine publishes on its nodes."""

    published: int
    target: int
    protocol: str = "tcp"
    mode: str = "ingress"


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """The engine's health check of a container: the command and how often it runs."""

    test: tuple[str, ...]
    interval_seconds: float


@dataclass(frozen=True, slots=True)
class Resources:
    """CPUs (a decimal string, as the engine's CLI writes them) and memory in bytes."""

    cpus: str | None = None
    memory_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """How the engine runs a workload's containers, as the engine receives it (values after
    the file's own escaping, durations in seconds, memory in bytes), so that a driver compares
    it field by field with what the engine reports."""

    image: str
    command: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    user: str = ""
    read_only: bool = False
    cap_drop: tuple[str, ...] = ()
    cap_add: tuple[str, ...] = ()
    #: Labels of the service, and of its containers.
    labels: Mapping[str, str] = field(default_factory=dict)
    container_labels: Mapping[str, str] = field(default_factory=dict)
    ports: tuple[PublishedPort, ...] = ()
    healthcheck: HealthCheck | None = None
    limits: Resources = Resources()
    reservations: Resources = Resources()
    #: ``start-first`` or ``stop-first``.
    update_order: str = "stop-first"
    constraints: tuple[str, ...] = ()
    max_replicas_per_node: int = 0


@dataclass(frozen=True, slots=True)
class Workload:
    """One service (or a database run as a service) as the engine must run it.

    ``name`` is the engine's name for it, ``key`` the file's; ``replicas`` is the effective
    count (the blueprint's replicas, one for a database); ``networks`` and ``volumes`` are
    engine names. ``kind`` and ``namespace`` place it where the engine has them (Kubernetes:
    ``Deployment`` or ``StatefulSet``, and its namespace). ``spec`` is the renderer's own
    rendering of the workload in the file (the driver compares it with what the engine runs,
    for the plan's diff), read-only.

    ``container`` is how the engine runs it, typed (Swarm: the driver's plan and status
    compare these fields, and no dict of the file, with what the engine reports).
    """

    key: str
    name: str
    replicas: int
    kind: str = ""
    namespace: str = ""
    secrets: tuple[SecretMount, ...] = ()
    networks: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    container: ContainerSpec | None = None
    spec: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DesiredState:
    """What one cluster of one target must run, as the renderer of its files knows it;
    ``files`` are the rendered files the engine is given for it, ``manifests`` the engine
    objects among them in apply order (where the engine takes objects one by one), and
    ``secret_objects`` the declared secrets the engine must hold whole (where it does)."""

    target: str
    cluster: str
    files: tuple[Artifact, ...] = ()
    workloads: tuple[Workload, ...] = ()
    networks: tuple[Network, ...] = ()
    volumes: tuple[Volume, ...] = ()
    manifests: tuple[Mapping[str, Any], ...] = ()
    secret_objects: tuple[SecretObject, ...] = ()

    @property
    def secrets(self) -> tuple[SecretKeyRef, ...]:
        """Every secret key some workload mounts, once each, sorted."""
        return tuple(sorted({m.ref for w in self.workloads for m in w.secrets}))

    def workload(self, name: str) -> Workload | None:
        """The workload the engine calls ``name``, if the cluster runs it."""
        return next((w for w in self.workloads if w.name == name), None)


@dataclass(frozen=True, slots=True)
class Rendered:
    """A renderer's files, with the desired state of each cluster they are for."""

    artifacts: tuple[Artifact, ...]
    states: Mapping[str, DesiredState] = field(default_factory=dict)

    def of(self, target: str, cluster: str) -> DesiredState:
        """The desired state of ``cluster`` (nothing to run when the target has none of it)."""
        return self.states.get(cluster) or DesiredState(target=target, cluster=cluster)
