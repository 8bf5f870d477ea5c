"""The root of the blueprint: metadata and the DataCenter that holds every section."""

import functools
from typing import Any, Literal, Self

from pydantic import ConfigDict, Field

from attonix.blueprint.model.cicd import CiCd
from attonix.blueprint.model.common import DomainLevel, Hostname, Model, Name, RoleName
from attonix.blueprint.model.configuration import Configuration
from attonix.blueprint.model.databases import Database
from attonix.blueprint.model.ha import Ha
from attonix.blueprint.model.hosts import Host
from attonix.blueprint.model.network import Network
from attonix.blueprint.model.orchestration import Cluster, Orchestration
from attonix.blueprint.model.policy import Policy
from attonix.blueprint.model.security import Secret, Security
from attonix.blueprint.model.services import Frontend, Service, Services
from attonix.blueprint.model.storage import Ceph, CephPool, Storage
from attonix.blueprint.model.users import Account, Users


class Metadata(Model):
    """Who the data center is and which environment this blueprint describes."""

    name: Name = Field(
        description="Name of the data center (a DNS label: lowercase letters, digits and '-', "
        "at most 63). Every rendered file and every live object carries it as a label.",
        examples=["attonixcorp"],
    )
    environment: Name = Field(
        "prod",
        description="The environment this blueprint describes (a DNS label). Role bindings "
        "under security.access_control name environments; only bindings for this one apply.",
        examples=["prod", "staging"],
    )
    domain: Hostname = Field(
        description="Public DNS domain under which services are exposed.",
        examples=["attonixcorp.example"],
    )
    description: str = Field(
        "", max_length=2000, description="Free text for people (at most 2000 characters)."
    )
    owner: str = Field(
        "",
        max_length=200,
        description="Who answers for this data center: a team or an address (at most 200).",
        examples=["platform-team@attonixcorp.example"],
    )


class Blueprint(Model):
    """The whole data center."""

    api_version: Literal["attonix.io/v1"] = Field(
        "attonix.io/v1",
        alias="apiVersion",
        description="Version of the blueprint format; always 'attonix.io/v1'.",
    )
    kind: Literal["DataCenter"] = Field(
        "DataCenter", description="What this document describes; always 'DataCenter'."
    )
    metadata: Metadata = Field(description="Name, environment and public domain.")
    hosts: list[Host] = Field(
        default_factory=list,
        description="The Ubuntu machines, each placed in a zone and a rack. Clusters, Ceph and "
        "load balancers name them.",
    )
    network: Network = Field(
        default_factory=Network,
        description="DNS, time servers and package mirrors every host uses.",
    )
    orchestration: Orchestration = Field(
        default_factory=Orchestration,
        description="The container clusters: Kubernetes, Docker Swarm, Podman.",
    )
    storage: Storage = Field(
        default_factory=Storage, description="Ceph clusters, OpenStack clouds, vSphere clusters."
    )
    security: Security = Field(
        description="TLS and the internal CA, encryption, access control, firewall and the "
        "names of secrets (never their values)."
    )
    cicd: CiCd = Field(
        default_factory=CiCd, description="Zuul, GitHub and GitLab, and the pipelines."
    )
    configuration: Configuration = Field(
        default_factory=Configuration, description="Chef Infra, which converges the hosts."
    )
    databases: list[Database] = Field(
        default_factory=list,
        description="PostgreSQL, MySQL, MongoDB and EDB BigAnimal databases.",
    )
    services: Services = Field(
        default_factory=Services,
        description="The workloads: backend services (APIs, workers) and web frontends.",
    )
    users: Users = Field(
        default_factory=Users,
        description="People who log into the Central Server and the hosts: identity provider, "
        "password policy, groups, accounts, host logins.",
    )
    ha: Ha = Field(
        default_factory=Ha,
        description="The failure domain replicas spread over, and load balancers.",
    )
    policy: Policy = Field(
        default_factory=Policy, description="Reviewed, expiring exceptions to policy rules."
    )

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        validate_default=True,
        coerce_numbers_to_str=True,
        populate_by_name=True,
    )

    def model_copy(self, *, update: Any = None, deep: bool = False) -> Self:
        """A copy; with ``update``, the lookups by name are computed again from the new
        fields (a plain copy would carry the original's cached lookups along)."""
        copy = super().model_copy(update=update, deep=deep)
        if update:
            for name, attr in vars(Blueprint).items():
                if isinstance(attr, functools.cached_property):
                    copy.__dict__.pop(name, None)
        return copy

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
