"""The ha section: the failure domain replicas spread over, and load balancers."""

import ipaddress
from typing import Literal

from pydantic import Field

from attonix.blueprint.model.common import DomainLevel, Model, Name, Port


class LoadBalancerFrontend(Model):
    """A listener on a load balancer and the service behind it."""

    name: Name = Field(description="The listener's name (a DNS label).", examples=["web"])
    port: Port = Field(description="The port it listens on (1 to 65535).", examples=[443])
    protocol: Literal["tcp", "http", "https"] = Field(
        "https", description="tcp (passed through), http or https (terminated with TLS)."
    )
    backend: Name = Field(
        description="A backend service, a frontend, or 'kubernetes-api:<cluster>'.",
        examples=["console", "kubernetes-api:k8s-prod"],
    )


class LoadBalancer(Model):
    """A load balancer pair (haproxy + keepalived) sharing a virtual IP."""

    name: Name = Field(description="The load balancer's name (a DNS label).")
    kind: Literal["haproxy", "metallb"] = Field(
        "haproxy",
        description="'haproxy' (HAProxy and keepalived on the listed hosts) or 'metallb' "
        "(addresses announced from inside a Kubernetes cluster).",
    )
    hosts: list[Name] = Field(
        default_factory=list,
        description="Hosts (names under hosts) that run HAProxy; at least two for HA.",
        examples=[["lb-1", "lb-2"]],
    )
    virtual_ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = Field(
        None,
        description="The address keepalived moves between the hosts; needed with two or more "
        "hosts.",
        examples=["10.10.0.10"],
    )
    frontends: list[LoadBalancerFrontend] = Field(
        default_factory=list, description="The listeners and the services behind them."
    )


class Ha(Model):
    """High availability: the failure domain replicas spread over, and load balancers."""

    failure_domain: DomainLevel = Field(
        "zone",
        description="What replicas spread over by default: 'host', 'rack' or 'zone'. Services "
        "and databases may override it with 'spread'.",
    )
    load_balancers: list[LoadBalancer] = Field(
        default_factory=list, description="Load balancers in front of services and clusters."
    )
