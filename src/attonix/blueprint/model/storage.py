"""The storage section: Ceph (Rook or hosts), OpenStack and vSphere."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from attonix.blueprint.model.common import (
    Cidr,
    DomainLevel,
    Hostname,
    HostRole,
    ImageRef,
    MemoryQuantity,
    Model,
    Name,
    Url,
)


class Bucket(Model):
    """An S3 bucket on an object pool, owned by one backend service's gateway user."""

    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")]
    service: Name = Field(description="The backend service that owns and uses the bucket.")
    quota: MemoryQuantity | None = Field(None, description="Most bytes the bucket may hold.")
    max_objects: int | None = Field(None, ge=1, description="Most objects it may hold.")


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
    quota: MemoryQuantity | None = Field(None, description="Most bytes the pool may hold.")
    buckets: list[Bucket] = Field(
        default_factory=list, description="S3 buckets (object pools of a 'hosts' cluster)."
    )

    @model_validator(mode="after")
    def _min_size(self) -> CephPool:
        if self.min_size > self.replicas:
            raise ValueError(f"min_size ({self.min_size}) cannot exceed replicas ({self.replicas})")
        if self.buckets and self.type != "object":
            raise ValueError(f"buckets need an object pool, not a {self.type} pool")
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
    roles: list[HostRole] = Field(
        default_factory=list, description="Host roles; 'storage' instances get a data volume."
    )
    data_volume_gib: int = Field(
        100, ge=1, le=65536, description="Size of the data volume of 'storage' instances."
    )


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
