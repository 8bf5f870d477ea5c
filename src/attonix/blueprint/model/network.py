"""The network section: the services every host uses (DNS, NTP, package mirrors)."""

from __future__ import annotations

import ipaddress

from pydantic import Field

from attonix.blueprint.model.common import Cidr, Model, Name, Url

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class PackageMirror(Model):
    """An apt repository mirror the hosts use; the firewall admits HTTP(S) to its addresses.

    The mirror named ``ubuntu`` becomes the hosts' primary archive; one named ``kubernetes``
    replaces ``https://pkgs.k8s.io``.
    """

    name: Name
    url: Url
    cidrs: list[Cidr] = Field(min_length=1, description="The addresses the URL resolves to.")


class Network(Model):
    """Services every host uses; the hosts' firewalls admit exactly these as egress."""

    dns_servers: list[IpAddress] = Field(default_factory=list, description="DNS resolvers.")
    time_servers: list[IpAddress] = Field(
        default_factory=list, description="NTP servers chrony uses (and nothing else)."
    )
    package_mirrors: list[PackageMirror] = Field(default_factory=list)
