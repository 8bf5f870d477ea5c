"""The services section: backend services and frontends, and what they share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from attonix.blueprint.model.common import (
    CpuQuantity,
    DomainLevel,
    Hostname,
    ImageRef,
    MemoryQuantity,
    Model,
    Name,
    Port,
)

EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)]


class ServicePort(Model):
    """A port a service listens on."""

    name: Annotated[str, StringConstraints(pattern=r"^[a-z]([-a-z0-9]{0,13}[a-z0-9])?$")]
    port: Port
    protocol: Literal["TCP", "UDP"] = "TCP"


HealthCheck = Literal["http", "tcp", "command", "none"]
#: Port names that say the port speaks HTTP (the ``<protocol>[-suffix]`` naming convention).
HTTP_PORT_NAMES = ("http", "https", "http2", "grpc-web")
DEFAULT_HEALTH_PATH = "/healthz"


def speaks_http(port: ServicePort) -> bool:
    """True when a port's name says it serves HTTP (``http``, ``https``, ``http-metrics``...)."""
    return port.protocol == "TCP" and port.name.split("-", 1)[0] in HTTP_PORT_NAMES


class Health(Model):
    """How replicas are checked for readiness and liveness: HTTP, TCP connect, a command, none.

    ``check`` may be left out: a ``command`` means ``command``, a ``path`` means ``http``;
    otherwise the checked port decides — ``http`` when its name says HTTP (``http``,
    ``https``, ``http-<suffix>``), ``tcp`` for any other port, ``none`` without ports.
    :meth:`Workload.health_check` is the one place this is decided.
    """

    check: HealthCheck | None = Field(
        None, description="http, tcp, command or none; derived from the port when unset."
    )
    path: Annotated[str, StringConstraints(pattern=r"^/[^\s]*$")] | None = Field(
        None, description="HTTP path (check http); defaults to /healthz."
    )
    port: Port | None = Field(None, description="Defaults to the first port.")
    command: list[Annotated[str, StringConstraints(min_length=1, max_length=4096)]] | None = Field(
        None, min_length=1, description="Run in the container (check command)."
    )
    initial_delay_seconds: int = Field(5, ge=0, le=600)
    period_seconds: int = Field(10, ge=1, le=600)

    @model_validator(mode="after")
    def _consistent(self) -> Health:
        if self.check not in (None, "http") and self.path is not None:
            raise ValueError(f"'path' is only for check http, not {self.check}")
        if self.check not in (None, "command") and self.command is not None:
            raise ValueError(f"'command' is only for check command, not {self.check}")
        if self.check == "command" and self.command is None:
            raise ValueError("check command needs 'command' (the argv to run in the container)")
        if self.command is not None and self.path is not None:
            raise ValueError("give either 'path' (an HTTP check) or 'command', not both")
        return self


@dataclass(frozen=True, slots=True)
class ResolvedHealth:
    """The health check a workload really gets, as every target renders it."""

    check: Literal["http", "tcp", "command"]
    port: int | None
    path: str
    scheme: Literal["HTTP", "HTTPS"]
    command: tuple[str, ...]
    initial_delay_seconds: int
    period_seconds: int


class Autoscaling(Model):
    """Horizontal autoscaling bounds."""

    min_replicas: int = Field(ge=1, le=1000)
    max_replicas: int = Field(ge=1, le=1000)
    target_cpu_percent: int = Field(70, ge=10, le=100)

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.max_replicas < self.min_replicas:
            raise ValueError(
                f"max_replicas ({self.max_replicas}) is below min_replicas ({self.min_replicas})"
            )
        return self


class Resources(Model):
    """Requests and limits."""

    cpu: CpuQuantity = "250m"
    memory: MemoryQuantity = "256Mi"
    cpu_limit: CpuQuantity | None = "1"
    memory_limit: MemoryQuantity | None = "512Mi"


class SecretMount(Model):
    """A declared secret made available to a service as files (never as plain env)."""

    secret: Name
    mount_path: Annotated[str, StringConstraints(pattern=r"^/[^\s]*$")] | None = None


class Volume(Model):
    """Persistent storage for a stateful service."""

    name: Name
    pool: Name | None = None
    size: MemoryQuantity = "10Gi"
    mount_path: Annotated[str, StringConstraints(pattern=r"^/[^\s]*$")]


class Expose(Model):
    """Publishes a service under a public hostname through the cluster's ingress."""

    host: Hostname
    path: Annotated[str, StringConstraints(pattern=r"^/[^\s]*$")] = "/"
    tls: bool = True


class ContainerSecurity(Model):
    """Container hardening; the defaults are the secure ones."""

    run_as_root: bool = False
    privileged: bool = False
    read_only_root_filesystem: bool = True
    capabilities_add: list[Annotated[str, StringConstraints(pattern=r"^[A-Z_]+$")]] = Field(
        default_factory=list
    )
    run_as_user: int = Field(10001, ge=0, le=2**31 - 1)


class Placement(Model):
    """Restricts where replicas may run (a pin); spreading still applies inside it."""

    zones: list[Name] = Field(default_factory=list)
    racks: list[Name] = Field(default_factory=list)
    hosts: list[Name] = Field(default_factory=list)


class Workload(Model):
    """What backend services and frontends share."""

    name: Name
    cluster: Name
    image: ImageRef
    replicas: int = Field(2, ge=0, le=1000)
    ports: list[ServicePort] = Field(
        default_factory=list, description="Listening ports; none for a worker."
    )
    health: Health | None = Field(default_factory=Health)
    autoscaling: Autoscaling | None = None
    resources: Resources = Field(default_factory=Resources)
    env: dict[EnvName, Annotated[str, StringConstraints(max_length=4096)]] = Field(
        default_factory=dict
    )
    secrets: list[SecretMount] = Field(default_factory=list)
    zone: Name | None = Field(None, description="The firewall zone it runs in.")
    namespace: Name | None = None
    security: ContainerSecurity = Field(default_factory=ContainerSecurity)
    spread: DomainLevel | None = Field(None, description="Overrides ha.failure_domain.")
    placement: Placement | None = None
    min_available: int | None = Field(
        None, ge=0, description="PodDisruptionBudget minAvailable; derived when unset."
    )
    expose: Expose | None = None

    @model_validator(mode="after")
    def _ports_needed(self) -> Workload:
        if self.ports:
            return self
        if self.expose is not None:
            raise ValueError("'expose' needs a port to route to; add one under 'ports'")
        if self.health is not None and self.health.check in ("http", "tcp"):
            raise ValueError(
                f"health check {self.health.check} needs a port; add one under 'ports', "
                "or use check command or none"
            )
        if self.health is not None and self.health.path is not None:
            raise ValueError("an HTTP health path needs a port; add one under 'ports'")
        return self

    def health_check(self) -> ResolvedHealth | None:
        """The check every target renders for this workload (None: not checked).

        The one home of the rule: explicit ``check`` wins; a ``command`` means command, a
        ``path`` means HTTP; otherwise HTTP when the checked port's name says HTTP, TCP for any
        other port, and nothing for a workload without ports.
        """
        h = self.health
        if h is None or h.check == "none":
            return None
        port = next((p for p in self.ports if p.port == h.port), None) if h.port else None
        if port is None and self.ports:
            port = self.ports[0]
        check = h.check
        if check is None:
            if h.command is not None:
                check = "command"
            elif h.path is not None or (port is not None and speaks_http(port)):
                check = "http"
            elif port is not None:
                check = "tcp"
            else:
                return None
        number = h.port or (port.port if port is not None else None)
        return ResolvedHealth(
            check=check,
            port=number if check != "command" else None,
            path=h.path or DEFAULT_HEALTH_PATH,
            scheme="HTTPS" if port is not None and port.name.startswith("https") else "HTTP",
            command=tuple(h.command or ()),
            initial_delay_seconds=h.initial_delay_seconds,
            period_seconds=h.period_seconds,
        )


class Service(Workload):
    """A backend service (an API, a worker) that runs on a cluster."""

    databases: list[Name] = Field(default_factory=list)
    depends_on: list[Name] = Field(default_factory=list)
    volumes: list[Volume] = Field(default_factory=list)
    stateful: bool = False
    command: list[Annotated[str, StringConstraints(max_length=4096)]] | None = None
    kubernetes_api_access: bool = Field(
        False, description="Mount a ServiceAccount token (only if the service calls the API)."
    )


class Frontend(Workload):
    """A separately hosted frontend that talks to backend services over TLS."""

    ports: list[ServicePort] = Field(min_length=1)

    backends: list[Name] = Field(default_factory=list)
    content_security_policy: Annotated[str, StringConstraints(max_length=2000)] = (
        "default-src 'self'"
    )


class Services(Model):
    """Backend services and frontends."""

    backend: list[Service] = Field(default_factory=list)
    frontend: list[Frontend] = Field(default_factory=list)
