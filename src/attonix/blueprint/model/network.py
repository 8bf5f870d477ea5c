"""The network section: the services every host uses (DNS, NTP, package mirrors)."""

import ipaddress

from pydantic import Field

from attonix.blueprint.model.common import Cidr, Model, Name, Url

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class PackageMirror(Model):
    """An apt repository mirror the hosts use; the firewall admits HTTP(S) to its addresses.

    The mirror named ``ubuntu`` becomes the hosts' primary archive; one named ``kubernetes``
    replaces ``https://pkgs.k8s.io``.
    """

    name: Name = Field(
        description="The mirror's name; 'ubuntu' and 'kubernetes' have the meaning above.",
        examples=["ubuntu"],
    )
    url: Url = Field(
        description="The repository's base URL (http or https).",
        examples=["https://mirror.attonixcorp.example/ubuntu"],
    )
    cidrs: list[Cidr] = Field(
        min_length=1,
        description="The addresses the URL resolves to (CIDR ranges, at least one); the hosts' "
        "firewalls admit HTTP(S) to them.",
        examples=[["10.0.9.20/32"]],
    )


class Network(Model):
    """Services every host uses; the hosts' firewalls admit exactly these as egress."""

    dns_servers: list[IpAddress] = Field(
        default_factory=list,
        description="DNS resolvers (IP addresses) every host uses; the firewall admits DNS to "
        "these only.",
        examples=[["10.0.0.53", "10.0.1.53"]],
    )
    time_servers: list[IpAddress] = Field(
        default_factory=list,
        description="NTP servers (IP addresses) chrony uses (and nothing else).",
        examples=[["10.0.0.123"]],
    )
    package_mirrors: list[PackageMirror] = Field(
        default_factory=list,
        description="Apt mirrors the hosts install packages from; without them the hosts need "
        "egress to the public archives.",
    )
