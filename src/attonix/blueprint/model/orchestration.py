"""The orchestration section: Kubernetes, Docker Swarm and Podman clusters."""

from typing import Annotated, Literal, Self

from pydantic import Field, StringConstraints, model_validator

from attonix.blueprint.model.common import Cidr, Model, Name


class ClusterNetwork(Model):
    """Address ranges inside a cluster."""

    pod_cidr: Cidr = Field(
        "10.244.0.0/16",
        description="The address range pods get addresses from (CIDR); must not overlap the "
        "hosts' or the service range.",
    )
    service_cidr: Cidr = Field(
        "10.96.0.0/12", description="The address range of cluster services' virtual IPs (CIDR)."
    )


class Cluster(Model):
    """A container cluster: Kubernetes (primary), Docker Swarm, or Podman hosts.

    ``control_plane`` holds the Kubernetes control-plane nodes or the Swarm managers; Podman
    has none. ``workers`` holds the nodes that run workloads.
    """

    name: Name = Field(
        description="The cluster's name (a DNS label, unique among clusters); services, "
        "databases and Ceph name the cluster they run on by it.",
        examples=["k8s-prod"],
    )
    kind: Literal["kubernetes", "swarm", "podman"] = Field(
        description="The engine: 'kubernetes' (primary), 'swarm' (Docker Swarm) or 'podman' "
        "(Podman on each host, no control plane)."
    )
    version: Annotated[str, StringConstraints(pattern=r"^[0-9]+\.[0-9]+$")] | None = Field(
        None,
        description="Kubernetes minor version (e.g. '1.33'); required for kind kubernetes, "
        "refused for the others.",
        examples=["1.33"],
    )
    control_plane: list[Name] = Field(
        default_factory=list,
        description="Hosts (names under hosts) of the Kubernetes control plane or the Swarm "
        "managers; at least one for kubernetes and swarm (three for HA), none for podman.",
        examples=[["k8s-cp-1", "k8s-cp-2", "k8s-cp-3"]],
    )
    workers: list[Name] = Field(
        default_factory=list,
        description="Hosts (names under hosts) that run workloads; when empty the control "
        "plane runs them. A podman cluster needs at least one.",
        examples=[["k8s-w-1", "k8s-w-2", "k8s-w-3"]],
    )
    network: ClusterNetwork = Field(
        default_factory=ClusterNetwork, description="Pod and service address ranges."
    )
    ingress_class: Name = Field(
        "nginx",
        description="The Kubernetes IngressClass that publishes exposed services "
        "(services[].expose).",
    )
    ingress_custom_headers: bool = Field(
        False,
        description="Kubernetes: the cluster's ingress-nginx controller (1.11 or later) lists "
        "Content-Security-Policy in 'global-allowed-response-headers' of its ConfigMap, so an "
        "Ingress may set that response header ('custom-headers' annotation naming a "
        "ConfigMap). Then each exposed frontend's Ingress sends its content_security_policy. "
        "Leave false until the controller allows it: it refuses every path of an Ingress "
        "asking for a header it does not allow (503); 'attonix check' then reports (ATX051) "
        "that the frontend's own server must send the header.",
    )

    @model_validator(mode="after")
    def _kind_specific(self) -> Self:
        if self.kind == "kubernetes" and self.version is None:
            raise ValueError("a kubernetes cluster needs 'version' (for example '1.33')")
        if self.kind != "kubernetes" and self.version is not None:
            raise ValueError(f"'version' is only for kubernetes clusters, not {self.kind}")
        if self.kind != "kubernetes" and self.ingress_custom_headers:
            raise ValueError(
                f"'ingress_custom_headers' is only for kubernetes clusters, not {self.kind}"
            )
        if self.kind == "podman" and self.control_plane:
            raise ValueError("podman clusters have no control plane; list their hosts as workers")
        if self.kind in ("kubernetes", "swarm") and not self.control_plane:
            raise ValueError(f"a {self.kind} cluster needs at least one control_plane host")
        if self.kind == "podman" and not self.workers:
            raise ValueError("a podman cluster needs at least one host in workers")
        return self


class Orchestration(Model):
    """The clusters that run containers."""

    clusters: list[Cluster] = Field(
        default_factory=list,
        description="The container clusters; services and databases name theirs in 'cluster'.",
    )
