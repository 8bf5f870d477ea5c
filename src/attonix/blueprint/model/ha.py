"""The ha section: the failure domain replicas spread over, and load balancers."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field

from attonix.blueprint.model.common import DomainLevel, Model, Name, Port


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
