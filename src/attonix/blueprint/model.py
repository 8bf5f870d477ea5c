"""The blueprint: one frozen pydantic model of the whole data center.

Top-level sections mirror the Attonixcorp plan. Cross-references between sections are plain
names; ``references.py`` resolves and checks them after the model validates, so that every
dangling or duplicate name is reported at its own line.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

API_VERSION = "attonix.io/v1"

# A DNS-1123 label: usable as a Kubernetes name, a Swarm service name, a hostname and a Chef name.
Name = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63),
]
# Kubernetes-style quantities ("500m", "2", "512Mi", "100Gi").
CpuQuantity = Annotated[str, StringConstraints(pattern=r"^([0-9]+m|[0-9]+(\.[0-9]+)?)$")]
MemoryQuantity = Annotated[str, StringConstraints(pattern=r"^[0-9]+(Ki|Mi|Gi|Ti)$")]
Hostname = Annotated[
    str,
    StringConstraints(
        pattern=r"^(\*\.)?([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)+[a-z][-a-z0-9]*[a-z0-9]$",
        max_length=253,
    ),
]
Url = Annotated[str, StringConstraints(pattern=r"^https?://[^\s/$.?#][^\s]*$", max_length=2048)]
Cidr = Annotated[str, StringConstraints(max_length=64)]
Port = Annotated[int, Field(ge=1, le=65535)]
ImageRef = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9._/:@-]*$", max_length=255),
]

DomainLevel = Literal["host", "rack", "zone"]
RoleName = Literal["admin", "operator", "developer", "auditor"]
HostRole = Literal[
    "bastion",
    "load-balancer",
    "database",
    "ci",
    "chef-server",
    "monitoring",
    "storage",
    "compute",
]


def _admin_only() -> list[RoleName]:
    return ["admin"]


def _zuul_pipelines() -> list[ZuulPipeline]:
    return ["check", "gate", "post", "deploy"]


def _ci_stages() -> list[CiStage]:
    return ["lint", "test", "build", "check", "render", "deploy"]


def _all_hosts() -> list[HostRole | Literal["all"]]:
    return ["all"]


class Model(BaseModel):
    """Base of every blueprint model: immutable and strict about unknown keys."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_default=True, coerce_numbers_to_str=True
    )


# --------------------------------------------------------------------------- metadata


class Metadata(Model):
    """Who the data center is and which environment this blueprint describes."""

    name: Name
    environment: Name = "prod"
    domain: Hostname = Field(description="Public DNS domain under which services are exposed.")
    description: str = Field("", max_length=2000)
    owner: str = Field("", max_length=200)


# --------------------------------------------------------------------------- hosts


class OperatingSystem(Model):
    """The host OS; the plan standardises on Ubuntu LTS."""

    distribution: Literal["ubuntu"] = "ubuntu"
    release: Literal["22.04", "24.04"] = "24.04"


class Host(Model):
    """One Ubuntu machine, placed in a zone and a rack (its failure domains)."""

    name: Name
    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    zone: Name
    rack: Name
    roles: list[HostRole] = Field(default_factory=list)
    os: OperatingSystem = Field(default_factory=OperatingSystem)
    cpus: int = Field(8, ge=1, le=1024)
    memory_gib: int = Field(32, ge=1, le=65536)
    disks: list[Annotated[str, StringConstraints(pattern=r"^/dev/[a-z0-9/_-]+$")]] = Field(
        default_factory=list, description="Raw devices given to Ceph OSDs."
    )
    labels: dict[Name, Annotated[str, StringConstraints(max_length=63)]] = Field(
        default_factory=dict
    )


# --------------------------------------------------------------------------- orchestration


class ClusterNetwork(Model):
    """Address ranges inside a cluster."""

    pod_cidr: Cidr = "10.244.0.0/16"
    service_cidr: Cidr = "10.96.0.0/12"


class Cluster(Model):
    """A container cluster: Kubernetes (primary), Docker Swarm, or Podman hosts.

    ``control_plane`` holds the Kubernetes control-plane nodes or the Swarm managers; Podman
    has none. ``workers`` holds the nodes that run workloads.
    """

    name: Name
    kind: Literal["kubernetes", "swarm", "podman"]
    version: Annotated[str, StringConstraints(pattern=r"^[0-9]+\.[0-9]+$")] | None = Field(
        None, description="Kubernetes minor version (e.g. '1.33'); only for kind kubernetes."
    )
    control_plane: list[Name] = Field(default_factory=list)
    workers: list[Name] = Field(default_factory=list)
    network: ClusterNetwork = Field(default_factory=ClusterNetwork)
    ingress_class: Name = "nginx"

    @model_validator(mode="after")
    def _kind_specific(self) -> Cluster:
        if self.kind == "kubernetes" and self.version is None:
            raise ValueError("a kubernetes cluster needs 'version' (for example '1.33')")
        if self.kind != "kubernetes" and self.version is not None:
            raise ValueError(f"'version' is only for kubernetes clusters, not {self.kind}")
        if self.kind == "podman" and self.control_plane:
            raise ValueError("podman clusters have no control plane; list their hosts as workers")
        if self.kind in ("kubernetes", "swarm") and not self.control_plane:
            raise ValueError(f"a {self.kind} cluster needs at least one control_plane host")
        if self.kind == "podman" and not self.workers:
            raise ValueError("a podman cluster needs at least one host in workers")
        return self


class Orchestration(Model):
    """The clusters that run containers."""

    clusters: list[Cluster] = Field(default_factory=list)


# --------------------------------------------------------------------------- storage


class CephPool(Model):
    """A Ceph pool exposed as block (RBD), object (RGW/S3) or file (CephFS) storage."""

    name: Name
    type: Literal["block", "object", "filesystem"]
    replicas: int = Field(3, ge=1, le=10)
    min_size: int = Field(2, ge=1, le=10)
    failure_domain: DomainLevel | None = Field(
        None, description="Overrides the cluster's failure domain for this pool."
    )
    default: bool = Field(False, description="Make its StorageClass the cluster default.")

    @model_validator(mode="after")
    def _min_size(self) -> CephPool:
        if self.min_size > self.replicas:
            raise ValueError(f"min_size ({self.min_size}) cannot exceed replicas ({self.replicas})")
        return self


class Ceph(Model):
    """A Ceph cluster, run by the Rook operator on Kubernetes or directly on hosts."""

    name: Name
    mode: Literal["rook", "hosts"] = "rook"
    kubernetes_cluster: Name | None = Field(
        None, description="The Kubernetes cluster Rook runs in (mode rook)."
    )
    image: ImageRef = "quay.io/ceph/ceph:v18.2.4"
    monitors: int = Field(3, ge=1, le=9)
    managers: int = Field(2, ge=1, le=5)
    hosts: list[Name] = Field(default_factory=list, description="Storage (OSD) hosts.")
    failure_domain: DomainLevel = "host"
    encryption: bool = Field(True, description="Encrypt OSDs (dm-crypt).")
    network_encryption: bool = Field(True, description="msgr2 secure mode on the wire.")
    pools: list[CephPool] = Field(default_factory=list)

    @model_validator(mode="after")
    def _mode(self) -> Ceph:
        if self.mode == "rook" and self.kubernetes_cluster is None:
            raise ValueError("mode 'rook' needs 'kubernetes_cluster'")
        if self.mode == "hosts" and self.kubernetes_cluster is not None:
            raise ValueError("'kubernetes_cluster' is only for mode 'rook'")
        return self


class OpenStackNetwork(Model):
    """A tenant network in OpenStack."""

    name: Name
    cidr: Cidr
    external: bool = False


class OpenStackInstanceGroup(Model):
    """A group of identical instances, spread over availability zones."""

    name: Name
    flavor: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    image: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    count: int = Field(1, ge=1, le=1000)
    network: Name
    volume_gib: int = Field(20, ge=1, le=65536)
    availability_zones: list[Name] = Field(default_factory=list)


class OpenStack(Model):
    """An OpenStack cloud the data center uses for compute, block and object storage."""

    name: Name
    auth_url: Url
    region: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "RegionOne"
    project: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    domain: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "Default"
    credentials_secret: Name
    networks: list[OpenStackNetwork] = Field(default_factory=list)
    instances: list[OpenStackInstanceGroup] = Field(default_factory=list)


class VSphereVmGroup(Model):
    """A group of identical virtual machines cloned from a template."""

    name: Name
    template: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    count: int = Field(1, ge=1, le=1000)
    cpus: int = Field(2, ge=1, le=256)
    memory_gib: int = Field(4, ge=1, le=4096)
    disk_gib: int = Field(40, ge=1, le=65536)
    folder: Annotated[str, StringConstraints(max_length=255)] = ""


class VSphere(Model):
    """A vCenter-managed vSphere cluster for virtual machines."""

    name: Name
    vcenter: Hostname
    datacenter: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    cluster: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    datastore: Annotated[str, StringConstraints(min_length=1, max_length=80)]
    network: Annotated[str, StringConstraints(min_length=1, max_length=80)] = "VM Network"
    credentials_secret: Name
    ha_enabled: bool = True
    drs_enabled: bool = True
    vm_encryption: bool = True
    vms: list[VSphereVmGroup] = Field(default_factory=list)


class Storage(Model):
    """Ceph, OpenStack and vSphere."""

    ceph: list[Ceph] = Field(default_factory=list)
    openstack: list[OpenStack] = Field(default_factory=list)
    vsphere: list[VSphere] = Field(default_factory=list)


# --------------------------------------------------------------------------- security


class CertificateAuthority(Model):
    """The internal CA that issues every service certificate."""

    name: Name
    common_name: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    key_algorithm: Literal["ecdsa-p256", "ecdsa-p384", "rsa-3072", "rsa-4096"] = "ecdsa-p256"
    validity_days: int = Field(3650, ge=1, le=36500)
    certificate_validity_days: int = Field(90, ge=1, le=825)
    renew_before_days: int = Field(30, ge=1, le=365)


class Acme(Model):
    """Public certificates for exposed hosts from an ACME server (e.g. Let's Encrypt)."""

    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$")]
    server: Url = "https://acme-v02.api.letsencrypt.org/directory"


class Tls(Model):
    """Transport security everywhere Attonix renders a listener."""

    min_version: Literal["1.0", "1.1", "1.2", "1.3"] = "1.3"
    ca: CertificateAuthority
    acme: Acme | None = None


class EncryptionAtRest(Model):
    """What is encrypted on disk."""

    databases: bool = True
    storage: bool = True
    secrets: bool = True
    provider: Literal["kms", "aesgcm", "secretbox", "aescbc"] = "kms"


class EncryptionInTransit(Model):
    """What is encrypted on the wire."""

    internal_tls: bool = True
    mutual_tls: bool = False
    overlay_encryption: bool = True


class Encryption(Model):
    """Encryption at rest and in transit."""

    at_rest: EncryptionAtRest = Field(default_factory=EncryptionAtRest)
    in_transit: EncryptionInTransit = Field(default_factory=EncryptionInTransit)


class RoleBinding(Model):
    """Grants one role to users and groups in the named environments."""

    role: RoleName
    environments: list[Name] = Field(min_length=1)
    users: list[Name] = Field(default_factory=list)
    groups: list[Name] = Field(default_factory=list)

    @model_validator(mode="after")
    def _subjects(self) -> RoleBinding:
        if not self.users and not self.groups:
            raise ValueError("a binding needs at least one user or group")
        return self


class AccessControl(Model):
    """Who may do what, per environment; MFA requirements per role."""

    mfa_required_for: list[RoleName] = Field(default_factory=_admin_only)
    session_minutes: int = Field(15, ge=1, le=1440)
    bindings: list[RoleBinding] = Field(default_factory=list)


class FirewallZone(Model):
    """A network zone: address ranges, and the hosts and services placed in it."""

    name: Name
    cidrs: list[Cidr] = Field(default_factory=list)
    description: str = Field("", max_length=500)


PortRange = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,5}(-[0-9]{1,5})?$")]


class FirewallRule(Model):
    """Allows (or denies) traffic from one zone to another on some ports."""

    name: Name
    source: Name = Field(description="A zone name, or 'internet' for any address.")
    destination: Name = Field(description="A zone name.")
    ports: list[Port | PortRange] = Field(min_length=1)
    protocol: Literal["tcp", "udp"] = "tcp"
    action: Literal["allow", "deny"] = "allow"


class Firewall(Model):
    """Zones and the flows allowed between them; everything else follows default_policy."""

    default_policy: Literal["deny", "allow"] = "deny"
    zones: list[FirewallZone] = Field(default_factory=list)
    rules: list[FirewallRule] = Field(default_factory=list)


class Secret(Model):
    """A secret by name only: its value lives in the vault (or env/file for the CLI)."""

    name: Name
    description: str = Field("", max_length=500)
    rotation_days: int = Field(90, ge=1, le=3650)
    keys: list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]+$")]] = Field(
        default_factory=lambda: ["value"]
    )


def secret_env_var(secret: str, key: str) -> str:
    """The environment variable that holds ``key`` of ``secret``: ``ATTONIX_SECRET_<NAME>_<KEY>``.

    One convention for the CLI's environment secret source and the rendered CI pipelines.
    """
    return "_".join(
        ("ATTONIX_SECRET", *(t.upper().replace("-", "_").replace(".", "_") for t in (secret, key)))
    )


class Security(Model):
    """Cryptography, access control, firewalls and encryption."""

    tls: Tls
    encryption: Encryption = Field(default_factory=Encryption)
    access_control: AccessControl = Field(default_factory=AccessControl)
    firewall: Firewall = Field(default_factory=Firewall)
    secrets: list[Secret] = Field(default_factory=list)


# --------------------------------------------------------------------------- CI/CD


class Zuul(Model):
    """Zuul gating CI; its tenant reads projects from GitHub and GitLab."""

    tenant: Name
    url: Url
    pipelines: list[ZuulPipeline] = Field(default_factory=_zuul_pipelines)
    nodeset_label: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "ubuntu-noble"


class GitHub(Model):
    """A GitHub organisation hosting source repositories."""

    organization: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,39}$")]
    url: Url = "https://github.com"


class GitLab(Model):
    """A GitLab group hosting source repositories and pipelines."""

    group: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,255}$")]
    url: Url = "https://gitlab.com"


ZuulPipeline = Literal["check", "gate", "post", "deploy", "periodic"]
CiStage = Literal["lint", "test", "build", "scan", "check", "render", "plan", "deploy"]


class Pipeline(Model):
    """A pipeline for one repository; ``check`` is the Attonix policy gate."""

    name: Name
    provider: Literal["zuul", "github", "gitlab"]
    repository: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")]
    source: Literal["github", "gitlab"] = Field(
        "github", description="Where the repository lives (zuul pipelines read from either)."
    )
    branches: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        default_factory=lambda: ["main"]
    )
    stages: list[CiStage] = Field(default_factory=_ci_stages)
    deploy_environment: Name | None = None
    services: list[Name] = Field(
        default_factory=list, description="Backend or frontend services this pipeline builds."
    )


class CiCd(Model):
    """Zuul, GitHub and GitLab."""

    zuul: Zuul | None = None
    github: GitHub | None = None
    gitlab: GitLab | None = None
    pipelines: list[Pipeline] = Field(default_factory=list)


# --------------------------------------------------------------------------- configuration


class ChefRole(Model):
    """A Chef role applied to every host that has one of ``hosts_with``."""

    name: Name
    run_list: list[Annotated[str, StringConstraints(pattern=r"^(recipe|role)\[[a-z0-9_:-]+\]$")]]
    hosts_with: list[HostRole | Literal["all"]] = Field(default_factory=_all_hosts)


class Chef(Model):
    """Chef Infra: the server, organisation and roles that converge the hosts."""

    server_url: Url
    organization: Name
    policy_group: Name = "prod"
    client_version: Annotated[str, StringConstraints(pattern=r"^[0-9]+(\.[0-9]+)*$")] = "18"
    interval_minutes: int = Field(30, ge=5, le=1440)
    validation_secret: Name
    roles: list[ChefRole] = Field(default_factory=list)


class Configuration(Model):
    """Configuration management."""

    chef: Chef | None = None


# --------------------------------------------------------------------------- databases


class DatabaseStorage(Model):
    """Where a database keeps its data."""

    size: MemoryQuantity = "20Gi"
    pool: Name | None = Field(None, description="A Ceph block pool; cluster default if unset.")


class Backup(Model):
    """Continuous backups into a Ceph object pool."""

    enabled: bool = True
    object_pool: Name | None = Field(None, description="A Ceph object pool (S3).")
    schedule: Annotated[str, StringConstraints(pattern=r"^(\S+\s+){4,5}\S+$")] = "0 0 2 * * *"
    retention_days: int = Field(30, ge=1, le=3650)


class ManagedDatabase(Model):
    """A database run by a provider (EDB BigAnimal), reached through an endpoint."""

    provider: Literal["biganimal"] = "biganimal"
    cloud_provider: Literal["aws", "azure", "gcp"] = "aws"
    region: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    endpoint: Hostname
    high_availability: bool = True


class Database(Model):
    """A database: PostgreSQL (primary), MySQL, EDB BigAnimal (managed) or MongoDB."""

    name: Name
    engine: Literal["postgresql", "mysql", "biganimal", "mongodb"]
    primary: bool = False
    version: Annotated[str, StringConstraints(pattern=r"^[0-9]+(\.[0-9]+)*$")]
    cluster: Name | None = Field(
        None, description="The Kubernetes cluster whose operator runs it (not for biganimal)."
    )
    replicas: int = Field(3, ge=1, le=15)
    synchronous_replicas: int = Field(0, ge=0, le=14)
    storage: DatabaseStorage = Field(default_factory=DatabaseStorage)
    encryption_at_rest: bool = True
    tls: bool = True
    backup: Backup = Field(default_factory=Backup)
    credentials_secret: Name
    database: Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]{0,62}$")] = "app"
    managed: ManagedDatabase | None = None
    spread: DomainLevel | None = Field(None, description="Overrides ha.failure_domain.")

    @model_validator(mode="after")
    def _engine_specific(self) -> Database:
        if self.engine == "biganimal":
            if self.managed is None:
                raise ValueError("a biganimal database needs 'managed' (region and endpoint)")
            if self.cluster is not None:
                raise ValueError("a biganimal database is managed: remove 'cluster'")
        else:
            if self.managed is not None:
                raise ValueError(f"'managed' is only for biganimal, not {self.engine}")
            if self.cluster is None:
                raise ValueError(f"a {self.engine} database needs 'cluster' (a kubernetes cluster)")
        if self.synchronous_replicas >= self.replicas:
            raise ValueError(
                f"synchronous_replicas ({self.synchronous_replicas}) must be fewer than "
                f"replicas ({self.replicas})"
            )
        return self


# --------------------------------------------------------------------------- services


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


SshPublicKey = Annotated[
    str,
    StringConstraints(
        pattern=r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com"
        r"|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\n]*)?$",
        max_length=16384,
    ),
]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)]


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


# --------------------------------------------------------------------------- users


class IdentityProvider(Model):
    """Where user identities come from."""

    kind: Literal["local", "oidc"] = "local"
    issuer: Url | None = None
    client_id: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    client_secret: Name | None = Field(None, description="A declared secret.")

    @model_validator(mode="after")
    def _oidc(self) -> IdentityProvider:
        if self.kind == "oidc" and (self.issuer is None or self.client_id is None):
            raise ValueError("an oidc identity provider needs 'issuer' and 'client_id'")
        return self


class PasswordPolicy(Model):
    """Rules for local passwords."""

    min_length: int = Field(12, ge=8, le=256)
    reject_breached: bool = True


class Group(Model):
    """A group of users; bindings grant roles to groups."""

    name: Name
    description: str = Field("", max_length=500)


class Account(Model):
    """A person who logs into the Central Server."""

    name: Name
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$", max_length=254)]
    full_name: Annotated[str, StringConstraints(max_length=200)] = ""
    groups: list[Name] = Field(default_factory=list)
    disabled: bool = False
    ssh_keys: list[SshPublicKey] = Field(
        default_factory=list,
        description="OpenSSH public keys; admins of this environment get them on every host.",
    )


class Users(Model):
    """User management: identity provider, password and MFA policy, accounts and groups."""

    identity_provider: IdentityProvider = Field(default_factory=IdentityProvider)
    password_policy: PasswordPolicy = Field(default_factory=PasswordPolicy)
    groups: list[Group] = Field(default_factory=list)
    accounts: list[Account] = Field(default_factory=list)


# --------------------------------------------------------------------------- HA


class LoadBalancerFrontend(Model):
    """A listener on a load balancer and the service behind it."""

    name: Name
    port: Port
    protocol: Literal["tcp", "http", "https"] = "https"
    backend: Name = Field(
        description="A backend service, a frontend, or 'kubernetes-api:<cluster>'."
    )


class LoadBalancer(Model):
    """A load balancer pair (haproxy + keepalived) sharing a virtual IP."""

    name: Name
    kind: Literal["haproxy", "metallb"] = "haproxy"
    hosts: list[Name] = Field(default_factory=list)
    virtual_ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    frontends: list[LoadBalancerFrontend] = Field(default_factory=list)


class Ha(Model):
    """High availability: the failure domain replicas spread over, and load balancers."""

    failure_domain: DomainLevel = "zone"
    load_balancers: list[LoadBalancer] = Field(default_factory=list)


# --------------------------------------------------------------------------- policy


class PolicyException(Model):
    """Waives one rule for one component, with a reason and an expiry date."""

    rule: Annotated[str, StringConstraints(pattern=r"^ATX[0-9]{3}$")]
    component: Annotated[str, StringConstraints(pattern=r"^[a-z-]+/[a-z0-9-]+$|^\*$")] = Field(
        description="'kind/name' as findings print it (e.g. 'service/api'), or '*'."
    )
    reason: Annotated[str, StringConstraints(min_length=10, max_length=1000)]
    expires: dt.date


class Policy(Model):
    """Policy settings that live in the blueprint, so that they are reviewed with it."""

    exceptions: list[PolicyException] = Field(default_factory=list)


# --------------------------------------------------------------------------- root


class Blueprint(Model):
    """The whole data center."""

    api_version: Literal["attonix.io/v1"] = Field("attonix.io/v1", alias="apiVersion")
    kind: Literal["DataCenter"] = "DataCenter"
    metadata: Metadata
    hosts: list[Host] = Field(default_factory=list)
    orchestration: Orchestration = Field(default_factory=Orchestration)
    storage: Storage = Field(default_factory=Storage)
    security: Security
    cicd: CiCd = Field(default_factory=CiCd)
    configuration: Configuration = Field(default_factory=Configuration)
    databases: list[Database] = Field(default_factory=list)
    services: Services = Field(default_factory=Services)
    users: Users = Field(default_factory=Users)
    ha: Ha = Field(default_factory=Ha)
    policy: Policy = Field(default_factory=Policy)

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        validate_default=True,
        coerce_numbers_to_str=True,
        populate_by_name=True,
    )

    # Lookups by name, computed once per (immutable) blueprint.
    @functools.cached_property
    def hosts_by_name(self) -> dict[str, Host]:
        """Hosts keyed by name."""
        return {h.name: h for h in self.hosts}

    @functools.cached_property
    def clusters_by_name(self) -> dict[str, Cluster]:
        """Clusters keyed by name."""
        return {c.name: c for c in self.orchestration.clusters}

    @functools.cached_property
    def databases_by_name(self) -> dict[str, Database]:
        """Databases keyed by name."""
        return {d.name: d for d in self.databases}

    @functools.cached_property
    def workloads_by_name(self) -> dict[str, Service | Frontend]:
        """Backend services and frontends keyed by name."""
        out: dict[str, Service | Frontend] = {s.name: s for s in self.services.backend}
        out.update((f.name, f) for f in self.services.frontend)
        return out

    @functools.cached_property
    def pools_by_name(self) -> dict[str, tuple[Ceph, CephPool]]:
        """Ceph pools keyed by (globally unique) name, with their cluster."""
        return {p.name: (c, p) for c in self.storage.ceph for p in c.pools}

    @functools.cached_property
    def secrets_by_name(self) -> dict[str, Secret]:
        """Declared secrets keyed by name."""
        return {s.name: s for s in self.security.secrets}

    def cluster_hosts(self, cluster: Cluster) -> list[Host]:
        """The hosts of a cluster that run workloads (workers, else the control plane)."""
        names = cluster.workers or cluster.control_plane
        return [self.hosts_by_name[n] for n in dict.fromkeys(names) if n in self.hosts_by_name]

    def accounts_with_role(self, role: RoleName) -> list[Account]:
        """Enabled accounts bound to ``role`` in this environment, directly or by group."""
        env = self.metadata.environment
        users: set[str] = set()
        groups: set[str] = set()
        for b in self.security.access_control.bindings:
            if b.role == role and env in b.environments:
                users.update(b.users)
                groups.update(b.groups)
        return [
            a
            for a in self.users.accounts
            if not a.disabled and (a.name in users or groups.intersection(a.groups))
        ]

    def spread_of(self, workload: Service | Frontend | Database) -> DomainLevel:
        """The failure-domain level replicas of ``workload`` spread over."""
        return workload.spread or self.ha.failure_domain
