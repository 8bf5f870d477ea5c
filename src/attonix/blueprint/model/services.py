"""The services section: backend services and frontends, and what they share."""

from dataclasses import dataclass
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, Field, StringConstraints, model_validator

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


def _header_value(value: str) -> str:
    """An HTTP header value that every edge can send verbatim: printable ASCII on one line,
    without surrounding spaces (HTTP would strip them)."""
    bad = next((c for c in value if not " " <= c <= "~"), None)
    if bad is not None:
        raise ValueError(
            f"the Content-Security-Policy contains {bad!r}: a header value is printable ASCII "
            "on one line (no line breaks, tabs or other control or non-ASCII characters)"
        )
    if value != value.strip(" "):
        raise ValueError("the Content-Security-Policy starts or ends with a space")
    return value


#: A Content-Security-Policy header value (haproxy and ingress-nginx can send these verbatim).
HeaderValue = Annotated[
    str, StringConstraints(min_length=1, max_length=2000), AfterValidator(_header_value)
]

EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)]


class ServicePort(Model):
    """A port a service listens on."""

    name: Annotated[str, StringConstraints(pattern=r"^[a-z]([-a-z0-9]{0,13}[a-z0-9])?$")] = Field(
        description="The port's name (at most 15 characters: lowercase letters, digits, '-'). "
        "'http', 'https', 'http2', 'grpc-web' or 'http-<suffix>' say it serves HTTP, which "
        "selects an HTTP health check.",
        examples=["http", "https", "grpc"],
    )
    port: Port = Field(
        description="The port number in the container (1 to 65535).", examples=[8080]
    )
    protocol: Literal["TCP", "UDP"] = Field("TCP", description="TCP or UDP.")


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
        None,
        description="http, tcp, command or none; derived from the port when unset. Kubernetes "
        "probes need nothing in the image. Swarm runs the check inside the container, so the "
        "image must hold: for http, wget or curl (busybox wget counts); for tcp, /bin/sh only "
        "(a listening socket is read from /proc/net/tcp with shell built-ins); for command, "
        "the program it names (run without a shell). An image without a shell (distroless) "
        "needs check: command. Podman (podman kube play) runs every check through /bin/sh "
        "in the image: http as curl -f, tcp as the same check as on Swarm, command as its "
        "argv quoted for the shell.",
    )
    path: Annotated[str, StringConstraints(pattern=r"^/[^\s]*$")] | None = Field(
        None, description="HTTP path (check http); defaults to /healthz."
    )
    port: Port | None = Field(None, description="Defaults to the first port.")
    command: list[Annotated[str, StringConstraints(min_length=1, max_length=4096)]] | None = Field(
        None, min_length=1, description="Run in the container (check command)."
    )
    initial_delay_seconds: int = Field(
        5, ge=0, le=600, description="Seconds after start before the first check (0 to 600)."
    )
    period_seconds: int = Field(10, ge=1, le=600, description="Seconds between checks (1 to 600).")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
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

    min_replicas: int = Field(ge=1, le=1000, description="Fewest replicas (1 to 1000).")
    max_replicas: int = Field(
        ge=1, le=1000, description="Most replicas (1 to 1000, at least min_replicas)."
    )
    target_cpu_percent: int = Field(
        70,
        ge=10,
        le=100,
        description="Average CPU use, in percent of the request, the autoscaler aims at.",
    )

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.max_replicas < self.min_replicas:
            raise ValueError(
                f"max_replicas ({self.max_replicas}) is below min_replicas ({self.min_replicas})"
            )
        return self


class Resources(Model):
    """Requests and limits."""

    cpu: CpuQuantity = Field(
        "250m",
        description="CPU reserved per replica: cores ('1', '0.5') or millicores ('250m').",
    )
    memory: MemoryQuantity = Field(
        "256Mi", description="Memory reserved per replica, in Ki, Mi, Gi or Ti ('256Mi')."
    )
    cpu_limit: CpuQuantity | None = Field(
        "1", description="Most CPU a replica may use; null for no limit."
    )
    memory_limit: MemoryQuantity | None = Field(
        "512Mi",
        description="Most memory a replica may use before it is killed; null for no limit.",
    )


class SecretMount(Model):
    """A declared secret made available to a service as files (never as plain env)."""

    secret: Name = Field(
        description="A secret declared under security.secrets.", examples=["orders-api-token"]
    )
    mount_path: Annotated[str, StringConstraints(pattern=r"^/[^\s]*$")] | None = Field(
        None,
        description="Directory the secret's keys appear in, one file per key; "
        "/run/secrets/<secret> when unset.",
    )


class Volume(Model):
    """Persistent storage for a stateful service."""

    name: Name = Field(description="The volume's name (a DNS label).", examples=["data"])
    pool: Name | None = Field(
        None,
        description="A Ceph block or filesystem pool; the cluster's default StorageClass if unset.",
    )
    size: MemoryQuantity = Field(
        "10Gi", description="Size, in Ki, Mi, Gi or Ti ('10Gi').", examples=["50Gi"]
    )
    mount_path: Annotated[str, StringConstraints(pattern=r"^/[^\s]*$")] = Field(
        description="Where it is mounted in the container (an absolute path).",
        examples=["/var/lib/app"],
    )


class Expose(Model):
    """Publishes a service under a public hostname through the cluster's ingress."""

    host: Hostname = Field(
        description="The public host name, usually under metadata.domain.",
        examples=["app.attonixcorp.example"],
    )
    path: Annotated[str, StringConstraints(pattern=r"^/[^\s]*$")] = Field(
        "/", description="The URL path prefix routed to the service."
    )
    tls: bool = Field(True, description="Serve HTTPS only, with a certificate for the host.")


class ContainerSecurity(Model):
    """Container hardening; the defaults are the secure ones."""

    run_as_root: bool = Field(False, description="Allow the container to run as root.")
    privileged: bool = Field(
        False, description="Run privileged (every capability, host devices); check flags it."
    )
    read_only_root_filesystem: bool = Field(
        True, description="Mount the image read-only; write to volumes instead."
    )
    capabilities_add: list[Annotated[str, StringConstraints(pattern=r"^[A-Z_]+$")]] = Field(
        default_factory=list,
        description="Linux capabilities to add back (all are dropped), without 'CAP_'.",
        examples=[["NET_BIND_SERVICE"]],
    )
    run_as_user: int = Field(
        10001, ge=0, le=2**31 - 1, description="The user id the container runs as."
    )


class Placement(Model):
    """Restricts where replicas may run (a pin); spreading still applies inside it."""

    zones: list[Name] = Field(
        default_factory=list, description="Only hosts in these zones (hosts[].zone)."
    )
    racks: list[Name] = Field(
        default_factory=list, description="Only hosts in these racks (hosts[].rack)."
    )
    hosts: list[Name] = Field(default_factory=list, description="Only these hosts (hosts[].name).")


class Workload(Model):
    """What backend services and frontends share."""

    name: Name = Field(
        description="The service's name (a DNS label, unique among services and frontends).",
        examples=["orders-api"],
    )
    cluster: Name = Field(
        description="The cluster (orchestration.clusters[].name) it runs on.",
        examples=["k8s-prod"],
    )
    image: ImageRef = Field(
        description="The container image, lowercase: [registry/]path/name with ':tag' or "
        "'@sha256:digest'; pin a tag or, better, a digest.",
        examples=["registry.attonixcorp.example/orders-api:1.4.2"],
    )
    replicas: int = Field(
        2, ge=0, le=1000, description="Copies that run (0 to 1000); two or more for HA."
    )
    ports: list[ServicePort] = Field(
        default_factory=list, description="Listening ports; none for a worker."
    )
    health: Health | None = Field(
        default_factory=Health,
        description="Readiness and liveness check; derived from the ports when left out.",
    )
    autoscaling: Autoscaling | None = Field(
        None, description="Scale between bounds on CPU use (Kubernetes); fixed replicas if unset."
    )
    resources: Resources = Field(
        default_factory=Resources, description="CPU and memory requests and limits."
    )
    env: dict[EnvName, Annotated[str, StringConstraints(max_length=4096)]] = Field(
        default_factory=dict,
        description="Plain environment variables (NAME: value); never secrets, use 'secrets'.",
        examples=[{"LOG_LEVEL": "info"}],
    )
    secrets: list[SecretMount] = Field(
        default_factory=list, description="Declared secrets mounted as files."
    )
    zone: Name | None = Field(
        None,
        description="The firewall zone (security.firewall.zones[].name) it runs in.",
    )
    namespace: Name | None = Field(
        None, description="The Kubernetes namespace; metadata.name when unset."
    )
    security: ContainerSecurity = Field(
        default_factory=ContainerSecurity,
        description="Container user, capabilities and file system; the defaults are secure.",
    )
    spread: DomainLevel | None = Field(None, description="Overrides ha.failure_domain.")
    placement: Placement | None = Field(None, description="Pins replicas to zones, racks or hosts.")
    min_available: int | None = Field(
        None, ge=0, description="PodDisruptionBudget minAvailable; derived when unset."
    )
    expose: Expose | None = Field(
        None, description="Publish under a public host name through the cluster's ingress."
    )

    @model_validator(mode="after")
    def _ports_needed(self) -> Self:
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

    def connects_to(self) -> list[str]:
        """The services its own replicas open connections to (the calls network policies,
        Swarm networks and firewall checks admit); none for a bare workload."""
        return []

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


class CentralServer(Model):
    """The service runs the Attonix Central Server itself (its API or its job worker): the
    renderers give it every ``ATTONIX_`` setting a replicated server must share — its
    database, the vault's key-encryption keys, the token signing key and the audit key, each
    from a mounted secret, and a writable data directory — and never a secret value."""

    role: Literal["server", "worker"] = Field(
        "server", description="server (the API, attonix serve) or worker (attonix worker)."
    )
    database: Name = Field(
        description="The database it keeps its state in: one of the service's databases, "
        "PostgreSQL (or BigAnimal) or MySQL.",
        examples=["pg-main"],
    )
    kek_secret: Name = Field(
        description="The secret (one of the service's secrets) holding the vault's "
        "key-encryption keys.",
        examples=["attonix-kek"],
    )
    signing_key_secret: Name = Field(
        description="The secret (one of the service's secrets) holding the token signing key.",
        examples=["attonix-signing-key"],
    )
    audit_key_secret: Name = Field(
        description="The secret (one of the service's secrets) holding the audit chain's key.",
        examples=["attonix-audit-key"],
    )


class Service(Workload):
    """A backend service (an API, a worker) that runs on a cluster."""

    databases: list[Name] = Field(
        default_factory=list,
        description="Databases (databases[].name) it uses; it gets their credentials as files "
        "and the firewall admits it to them.",
    )
    depends_on: list[Name] = Field(
        default_factory=list,
        description="Backend services it calls; network policies admit exactly these.",
    )
    volumes: list[Volume] = Field(
        default_factory=list, description="Persistent volumes (makes it stateful)."
    )
    stateful: bool = Field(
        False, description="Give each replica a stable identity (StatefulSet on Kubernetes)."
    )
    command: list[Annotated[str, StringConstraints(max_length=4096)]] | None = Field(
        None, description="Replaces the image's entrypoint and arguments."
    )
    central_server: CentralServer | None = Field(
        None,
        description="Set when the service is the Attonix Central Server (or its worker): it "
        "gets the settings it needs to start as one of several replicas.",
    )
    kubernetes_api_access: bool = Field(
        False, description="Mount a ServiceAccount token (only if the service calls the API)."
    )

    def connects_to(self) -> list[str]:
        """The backend services it calls (``depends_on``)."""
        return list(self.depends_on)


class Frontend(Workload):
    """A separately hosted frontend that talks to backend services over TLS."""

    ports: list[ServicePort] = Field(min_length=1, description="Listening ports; at least one.")

    backends: list[Name] = Field(
        default_factory=list,
        description="Backend services it calls over TLS; they accept its origin (CORS).",
    )
    calls_from: Literal["browser", "server"] = Field(
        "server",
        description="Where the calls to its backends come from. 'browser': only visitors' "
        "browsers call them, through the backends' own ingress (a static single-page app); "
        "the backends accept the frontend's origin (CORS) and its replicas get no network "
        "access to them. 'server': its replicas call them too (server-side rendering, a "
        "proxy); network policies, Swarm networks and firewall checks admit them as well. "
        "Prefer 'browser' where it holds: it is least privilege, and an exposed Central "
        "Server that no pod may call believes its ingress's forwarded client addresses.",
    )
    content_security_policy: HeaderValue = Field(
        "default-src 'self'",
        description="The Content-Security-Policy header sent with its pages (printable ASCII "
        "on one line, at most 2000 characters) by the edge Attonix renders in front of them: "
        "the haproxy load balancers' HTTP-mode frontends for it (those that terminate TLS for "
        "a Swarm or Podman cluster) and, on Kubernetes, its Ingress when the cluster's "
        "ingress controller allows the header (ingress_custom_headers); it replaces any the "
        "frontend's server sends, so declare the whole policy its pages need. Where nothing "
        "sends it, 'attonix check' reports ATX051: the frontend's own server must.",
    )

    def connects_to(self) -> list[str]:
        """The backends its replicas call: all of them when it calls from the server, none
        when only browsers do (they come in through the backends' ingress)."""
        return list(self.backends) if self.calls_from == "server" else []


class Services(Model):
    """Backend services and frontends."""

    backend: list[Service] = Field(
        default_factory=list, description="APIs and workers that run on a cluster."
    )
    frontend: list[Frontend] = Field(
        default_factory=list, description="Web frontends hosted separately from the backends."
    )
