"""The storage section: Ceph (Rook or hosts), OpenStack and vSphere."""

from typing import Annotated, Literal, Self

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

    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")] = Field(
        description="The bucket's name (3 to 63 lowercase letters, digits and '-').",
        examples=["orders-archive"],
    )
    service: Name = Field(description="The backend service that owns and uses the bucket.")
    quota: MemoryQuantity | None = Field(None, description="Most bytes the bucket may hold.")
    max_objects: int | None = Field(None, ge=1, description="Most objects it may hold.")


class SubvolumeGroup(Model):
    """The quota of one backend service's CephFS subvolume group on a filesystem pool."""

    service: Name = Field(description="The backend service whose volumes the group holds.")
    quota: MemoryQuantity = Field(
        description="Most bytes all of the service's volumes on this pool may hold together.",
        examples=["100Gi"],
    )


class CephPool(Model):
    """A Ceph pool exposed as block (RBD), object (RGW/S3) or file (CephFS) storage."""

    name: Name = Field(
        description="The pool's name (a DNS label, unique over every Ceph cluster).",
        examples=["rbd-fast"],
    )
    type: Literal["block", "object", "filesystem"] = Field(
        description="block (RBD volumes), object (RGW, S3) or filesystem (a CephFS named after "
        "the pool, with a metadata pool <name>-metadata)."
    )
    replicas: int = Field(3, ge=1, le=10, description="Copies of each object (1 to 10).")
    min_size: int = Field(
        2,
        ge=1,
        le=10,
        description="Copies that must be up for writes to proceed; at most replicas.",
    )
    failure_domain: DomainLevel | None = Field(
        None, description="Overrides the cluster's failure domain for this pool."
    )
    default: bool = Field(False, description="Make its StorageClass the cluster default.")
    quota: MemoryQuantity | None = Field(None, description="Most bytes the pool may hold.")
    buckets: list[Bucket] = Field(
        default_factory=list, description="S3 buckets (object pools of a 'hosts' cluster)."
    )
    subvolume_groups: list[SubvolumeGroup] = Field(
        default_factory=list,
        description="Quotas of services' subvolume groups (filesystem pools of a 'hosts' cluster).",
    )

    @model_validator(mode="after")
    def _min_size(self) -> Self:
        if self.min_size > self.replicas:
            raise ValueError(f"min_size ({self.min_size}) cannot exceed replicas ({self.replicas})")
        if self.buckets and self.type != "object":
            raise ValueError(f"buckets need an object pool, not a {self.type} pool")
        if self.subvolume_groups and self.type != "filesystem":
            raise ValueError(f"subvolume_groups need a filesystem pool, not a {self.type} pool")
        return self


class Ceph(Model):
    """A Ceph cluster, run by the Rook operator on Kubernetes or directly on hosts."""

    name: Name = Field(description="The Ceph cluster's name (a DNS label).", examples=["ceph"])
    mode: Literal["rook", "hosts"] = Field(
        "rook",
        description="'rook' (the Rook operator on a Kubernetes cluster) or 'hosts' (cephadm "
        "on the storage hosts).",
    )
    kubernetes_cluster: Name | None = Field(
        None, description="The Kubernetes cluster Rook runs in (mode rook)."
    )
    image: ImageRef = Field("quay.io/ceph/ceph:v18.2.4", description="The Ceph image.")
    monitors: int = Field(
        3, ge=1, le=9, description="Monitors (1 to 9); an odd number, three or more for HA."
    )
    managers: int = Field(2, ge=1, le=5, description="Managers (1 to 5); two for HA.")
    hosts: list[Name] = Field(
        default_factory=list,
        description="Storage (OSD) hosts (hosts[].name); their 'disks' become OSDs.",
    )
    failure_domain: DomainLevel = Field(
        "host", description="What copies of an object spread over: host, rack or zone."
    )
    encryption: bool = Field(True, description="Encrypt OSDs (dm-crypt).")
    network_encryption: bool = Field(True, description="msgr2 secure mode on the wire.")
    pools: list[CephPool] = Field(
        default_factory=list, description="Block, object and filesystem pools."
    )

    @model_validator(mode="after")
    def _mode(self) -> Self:
        if self.mode == "rook" and self.kubernetes_cluster is None:
            raise ValueError("mode 'rook' needs 'kubernetes_cluster'")
        if self.mode == "hosts" and self.kubernetes_cluster is not None:
            raise ValueError("'kubernetes_cluster' is only for mode 'rook'")
        names = {p.name for p in self.pools}
        for p in self.pools:
            if p.type == "filesystem" and f"{p.name}-metadata" in names:
                raise ValueError(
                    f"pool '{p.name}-metadata' has the name of filesystem pool '{p.name}''s "
                    "metadata pool; rename one of them"
                )
        return self


class OpenStackNetwork(Model):
    """A tenant network in OpenStack."""

    name: Name = Field(description="The network's name (a DNS label).", examples=["app-net"])
    cidr: Cidr = Field(description="Its subnet (CIDR).", examples=["10.20.0.0/24"])
    external: bool = Field(
        False, description="Routed to the outside (a router to the external network)."
    )


class OpenStackInstanceGroup(Model):
    """A group of identical instances, spread over availability zones."""

    name: Name = Field(description="The group's name (a DNS label).", examples=["workers"])
    flavor: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="The Nova flavor.", examples=["m1.large"]
    )
    image: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(
        description="The Glance image name.", examples=["ubuntu-24.04"]
    )
    count: int = Field(1, ge=1, le=1000, description="Instances in the group (1 to 1000).")
    network: Name = Field(description="A network of this cloud (networks[].name).")
    volume_gib: int = Field(
        20, ge=1, le=65536, description="Size of each instance's boot volume in GiB."
    )
    availability_zones: list[Name] = Field(
        default_factory=list,
        description="Availability zones the instances spread over, round robin.",
    )
    roles: list[HostRole] = Field(
        default_factory=list, description="Host roles; 'storage' instances get a data volume."
    )
    data_volume_gib: int = Field(
        100, ge=1, le=65536, description="Size of the data volume of 'storage' instances."
    )


class OpenStack(Model):
    """An OpenStack cloud the data center uses for compute, block and object storage."""

    name: Name = Field(description="The cloud's name (a DNS label).", examples=["openstack"])
    auth_url: Url = Field(
        description="The Keystone URL.", examples=["https://keystone.attonixcorp.example:5000/v3"]
    )
    region: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        "RegionOne", description="The region."
    )
    project: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="The project (tenant) the resources go in."
    )
    domain: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        "Default", description="The Keystone domain."
    )
    credentials_secret: Name = Field(
        description="The secret (declared under security.secrets) with the cloud's credentials."
    )
    networks: list[OpenStackNetwork] = Field(default_factory=list, description="Tenant networks.")
    instances: list[OpenStackInstanceGroup] = Field(
        default_factory=list, description="Groups of identical instances."
    )


class VSphereVmGroup(Model):
    """A group of identical virtual machines cloned from a template."""

    name: Name = Field(description="The group's name (a DNS label).", examples=["app"])
    template: Annotated[str, StringConstraints(min_length=1, max_length=128)] = Field(
        description="The VM template to clone.", examples=["ubuntu-24.04-template"]
    )
    count: int = Field(1, ge=1, le=1000, description="VMs in the group (1 to 1000).")
    cpus: int = Field(2, ge=1, le=256, description="Virtual CPUs per VM (1 to 256).")
    memory_gib: int = Field(4, ge=1, le=4096, description="Memory per VM in GiB.")
    disk_gib: int = Field(40, ge=1, le=65536, description="Disk per VM in GiB.")
    folder: Annotated[str, StringConstraints(max_length=255)] = Field(
        "", description="The VM folder; the datacenter's root folder when empty."
    )


class VSphere(Model):
    """A vCenter-managed vSphere cluster for virtual machines."""

    name: Name = Field(description="The cluster's name in the blueprint (a DNS label).")
    vcenter: Hostname = Field(
        description="The vCenter host name.", examples=["vcenter.attonixcorp.example"]
    )
    datacenter: Annotated[str, StringConstraints(min_length=1, max_length=80)] = Field(
        description="The vSphere datacenter."
    )
    cluster: Annotated[str, StringConstraints(min_length=1, max_length=80)] = Field(
        description="The vSphere cluster in it."
    )
    datastore: Annotated[str, StringConstraints(min_length=1, max_length=80)] = Field(
        description="The datastore VM disks go on."
    )
    network: Annotated[str, StringConstraints(min_length=1, max_length=80)] = Field(
        "VM Network", description="The port group VMs attach to."
    )
    credentials_secret: Name = Field(
        description="The secret (declared under security.secrets) with the vCenter credentials."
    )
    ha_enabled: bool = Field(True, description="vSphere HA restarts VMs of a failed host.")
    drs_enabled: bool = Field(True, description="DRS balances VMs and keeps them apart.")
    vm_encryption: bool = Field(True, description="Encrypt the VMs (a vSphere storage policy).")
    vms: list[VSphereVmGroup] = Field(default_factory=list, description="Groups of identical VMs.")


class Storage(Model):
    """Ceph, OpenStack and vSphere."""

    ceph: list[Ceph] = Field(default_factory=list, description="Ceph clusters.")
    openstack: list[OpenStack] = Field(default_factory=list, description="OpenStack clouds.")
    vsphere: list[VSphere] = Field(default_factory=list, description="vSphere clusters.")
