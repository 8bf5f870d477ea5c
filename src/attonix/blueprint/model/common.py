"""What every section shares: the frozen base model and the constrained scalar types."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

API_VERSION = "attonix.io/v1"

# A DNS-1123 label: usable as a Kubernetes name, a Swarm service name, a hostname and a Chef name.
NAME_RE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
Name = Annotated[str, StringConstraints(pattern=NAME_RE, max_length=63)]
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


class Model(BaseModel):
    """Base of every blueprint model: immutable and strict about unknown keys."""

    # defer_build: a model's validator is built on first use, once for the whole tree, not
    # once per class at import. The model modules do not use `from __future__ import
    # annotations`: pydantic would compile every annotation string again (~20% of start-up).
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        validate_default=True,
        coerce_numbers_to_str=True,
        defer_build=True,
    )
