"""The orchestration section: Kubernetes, Docker Swarm and Podman clusters."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from attonix.blueprint.model.common import Cidr, Model, Name


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
