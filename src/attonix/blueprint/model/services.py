"""The services section: backend services and frontends, and what they share."""

from __future__ import annotations

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


class Health(Model):
    """HTTP health check used for readiness and liveness probes."""

    path: Annotated[str, StringConstraints(pattern=r"^/[^\s]*$")] = "/healthz"
    port: Port | None = Field(None, description="Defaults to the first port.")
    initial_delay_seconds: int = Field(5, ge=0, le=600)
    period_seconds: int = Field(10, ge=1, le=600)


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
    ports: list[ServicePort] = Field(min_length=1)
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

    backends: list[Name] = Field(default_factory=list)
    content_security_policy: Annotated[str, StringConstraints(max_length=2000)] = (
        "default-src 'self'"
    )


class Services(Model):
    """Backend services and frontends."""

    backend: list[Service] = Field(default_factory=list)
    frontend: list[Frontend] = Field(default_factory=list)
