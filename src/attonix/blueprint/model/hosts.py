"""The hosts section: Ubuntu machines placed in zones and racks."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from attonix.blueprint.model.common import HostRole, Model, Name


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
