"""The hosts section: Ubuntu machines placed in zones and racks."""

import ipaddress
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from attonix.blueprint.model.common import HostRole, Model, Name


class OperatingSystem(Model):
    """The host OS; the plan standardises on Ubuntu LTS."""

    distribution: Literal["ubuntu"] = Field(
        "ubuntu", description="The Linux distribution; Ubuntu is the only one supported."
    )
    release: Literal["22.04", "24.04"] = Field(
        "24.04", description="The Ubuntu LTS release: '22.04' (jammy) or '24.04' (noble)."
    )


class Host(Model):
    """One Ubuntu machine, placed in a zone and a rack (its failure domains)."""

    name: Name = Field(
        description="The host name (a DNS label, unique among hosts). Clusters, Ceph, load "
        "balancers and placements refer to the host by it.",
        examples=["k8s-cp-1"],
    )
    address: ipaddress.IPv4Address | ipaddress.IPv6Address = Field(
        description="The host's management address (IPv4 or IPv6); it should lie in one of "
        "the firewall zones' cidrs.",
        examples=["10.10.1.11"],
    )
    zone: Name = Field(
        description="The availability zone (failure domain) the host stands in: a room, a "
        "building or a site. Replicas spread over zones when ha.failure_domain is 'zone'.",
        examples=["zone-a"],
    )
    rack: Name = Field(
        description="The rack (failure domain within a zone) the host is mounted in.",
        examples=["rack-a1"],
    )
    roles: list[HostRole] = Field(
        default_factory=list,
        description="What the host is for: bastion, load-balancer, database, ci, chef-server, "
        "monitoring, storage, compute. Chef roles, host logins and firewall flows select "
        "hosts by role.",
        examples=[["compute"], ["load-balancer"]],
    )
    os: OperatingSystem = Field(
        default_factory=OperatingSystem, description="The operating system (Ubuntu LTS)."
    )
    cpus: int = Field(8, ge=1, le=1024, description="Number of CPU cores (1 to 1024).")
    memory_gib: int = Field(32, ge=1, le=65536, description="Memory in GiB (1 to 65536).")
    disks: list[Annotated[str, StringConstraints(pattern=r"^/dev/[a-z0-9/_-]+$")]] = Field(
        default_factory=list,
        description="Raw devices given to Ceph OSDs (paths under /dev, wiped by Ceph).",
        examples=[["/dev/sdb", "/dev/nvme1n1"]],
    )
    labels: dict[Name, Annotated[str, StringConstraints(max_length=63)]] = Field(
        default_factory=dict,
        description="Extra node labels (name: value, values at most 63 characters) set on the "
        "cluster node beside the zone, rack and host labels Attonix sets itself.",
        examples=[{"gpu": "a100"}],
    )
