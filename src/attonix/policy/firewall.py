"""Firewall intent per host, as data: the zones a host is in and the ordered flows its input
chain admits.

One computation serves the nftables ruleset (``render/nftables``), the rulesets cloud-init and
Chef install, the Heat security groups, and the policy rule that proves operators can still
reach every host for management: what ``check`` says and what the hosts load never disagree.

Zone membership: a host is in a firewall zone when its address lies inside one of the zone's
``cidrs``; a load-balancer host is also in every zone that holds its load balancer's
``virtual_ip``, because traffic to the virtual IP arrives at whichever host holds it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from attonix.blueprint.model import Blueprint, Cluster, FirewallZone, Host, LoadBalancer

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
PortSpan = tuple[int, int]
Protocol = Literal["tcp", "udp", "vrrp", "any"]

SSH_PORT = 22


def parse_network(cidr: str) -> IpNetwork | None:
    """``cidr`` parsed (host bits allowed), or None when it is not a CIDR.

    Malformed CIDRs are the renderers' to report with a position; analysis skips them.
    """
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None


def zone_networks(zone: FirewallZone) -> list[IpNetwork]:
    """The zone's well-formed CIDRs, parsed, in blueprint order."""
    return [n for n in (parse_network(c) for c in zone.cidrs) if n is not None]


def zones_containing(bp: Blueprint, address: IpAddress) -> list[FirewallZone]:
    """Zones with a CIDR that contains ``address`` (blueprint order)."""
    return [
        z
        for z in bp.security.firewall.zones
        if any(address.version == n.version and address in n for n in zone_networks(z))
    ]


def load_balancers_of(bp: Blueprint, host: Host) -> list[LoadBalancer]:
    """The haproxy load balancers this host is a member of (needs the load-balancer role)."""
    if "load-balancer" not in host.roles:
        return []
    return [lb for lb in bp.ha.load_balancers if lb.kind == "haproxy" and host.name in lb.hosts]


def host_zones(bp: Blueprint, host: Host) -> list[FirewallZone]:
    """Zones the host is in: by its address, and by its load balancers' virtual IPs."""
    found = {z.name: z for z in zones_containing(bp, host.address)}
    for lb in load_balancers_of(bp, host):
        if lb.virtual_ip is not None:
            found.update((z.name, z) for z in zones_containing(bp, lb.virtual_ip))
    return [z for z in bp.security.firewall.zones if z.name in found]


def clusters_of(bp: Blueprint, host: Host) -> list[Cluster]:
    """Clusters the host is a control-plane node or worker of."""
    return [c for c in bp.orchestration.clusters if host.name in (*c.control_plane, *c.workers)]


def cluster_members(bp: Blueprint, cluster: Cluster) -> list[Host]:
    """Every known host of a cluster, control plane first, without duplicates."""
    names = dict.fromkeys((*cluster.control_plane, *cluster.workers))
    return [bp.hosts_by_name[n] for n in names if n in bp.hosts_by_name]


def host_networks(hosts: Sequence[Host]) -> list[IpNetwork]:
    """The hosts' addresses as single-address networks, without duplicates, in order."""
    return [ipaddress.ip_network(a) for a in dict.fromkeys(h.address for h in hosts)]


@dataclass(frozen=True)
class Flow:
    """One rule of a host's input or output chain: the other side (``peers``: the sources of
    input, the destinations of output), what (protocol, ports), verdict.

    ``peers`` None means any address. ``set_prefix``/``set_name`` name the address set the
    nftables renderer declares for the peers; ``ports`` empty means every port.
    """

    comment: str
    peers: tuple[IpNetwork, ...] | None
    set_prefix: str
    set_name: str
    protocol: Protocol
    ports: tuple[str, ...] = ()
    verdict: Literal["accept", "drop"] = "accept"
    #: Why the flow exists: ``rule`` (a blueprint firewall rule) or a baseline the host needs.
    origin: Literal[
        "rule", "management", "bastion", "cluster", "vrrp", "egress", "dns", "ntp", "mirror"
    ] = "rule"
    #: The blueprint firewall rule's name (origin ``rule``).
    rule: str = ""


def zone_flows(bp: Blueprint, zone_names: set[str]) -> list[Flow]:
    """The blueprint's firewall rules whose destination is one of ``zone_names``: denies first."""
    zones = {z.name: z for z in bp.security.firewall.zones}
    rules = [r for r in bp.security.firewall.rules if r.destination in zone_names]
    out = []
    for rule in sorted(rules, key=lambda r: r.action != "deny"):
        source = zones.get(rule.source)
        peers = (
            None if rule.source == "internet" else tuple(zone_networks(source) if source else ())
        )
        out.append(
            Flow(
                comment=f"{rule.action} {rule.name}: {rule.source} -> {rule.destination}",
                peers=peers,
                set_prefix="zone",
                set_name=rule.source,
                protocol=rule.protocol,
                ports=tuple(str(p) for p in rule.ports),
                verdict="drop" if rule.action == "deny" else "accept",
                rule=rule.name,
            )
        )
    return out


def management_zone(bp: Blueprint) -> FirewallZone | None:
    """The declared ``security.firewall.management_zone``, or None (undeclared or unknown)."""
    name = bp.security.firewall.management_zone
    return next((z for z in bp.security.firewall.zones if z.name == name), None)


def management_flow(bp: Blueprint) -> Flow | None:
    """SSH from the management zone, which every host admits after the blueprint's denies."""
    zone = management_zone(bp)
    if zone is None:
        return None
    return Flow(
        f"ssh from management zone {zone.name}",
        tuple(zone_networks(zone)),
        "zone",
        zone.name,
        "tcp",
        (str(SSH_PORT),),
        origin="management",
    )


def baseline_flows(bp: Blueprint, host: Host) -> list[Flow]:
    """Flows the host needs whatever the rules say: SSH from the management zone and from
    bastions, its peers' traffic."""
    mgmt = management_flow(bp)
    out: list[Flow] = [mgmt] if mgmt is not None else []
    bastions = [h for h in bp.hosts if "bastion" in h.roles and h.name != host.name]
    if bastions:
        out.append(
            Flow(
                "ssh from bastion hosts",
                tuple(host_networks(bastions)),
                "role",
                "bastion",
                "tcp",
                (str(SSH_PORT),),
                origin="bastion",
            )
        )
    for cluster in clusters_of(bp, host):
        # etcd, kubelet, the overlay network and Swarm's gossip all run between these peers.
        peers = [h for h in cluster_members(bp, cluster) if h.name != host.name]
        out.append(
            Flow(
                f"{cluster.kind} cluster {cluster.name} peers",
                tuple(host_networks(peers)),
                "cluster",
                cluster.name,
                "any",
                origin="cluster",
            )
        )
    for lb in load_balancers_of(bp, host):
        peers = [bp.hosts_by_name[n] for n in lb.hosts if n in bp.hosts_by_name and n != host.name]
        out.append(
            Flow(
                f"vrrp between {lb.name} members",
                tuple(host_networks(peers)),
                "lb",
                lb.name,
                "vrrp",
                origin="vrrp",
            )
        )
    return out


def host_input_flows(bp: Blueprint, host: Host) -> list[Flow]:
    """The host's input chain after the fixed preamble, in order."""
    zones = {z.name for z in host_zones(bp, host)}
    return [*zone_flows(bp, zones), *baseline_flows(bp, host)]


def _addresses(values: Sequence[IpAddress]) -> tuple[IpNetwork, ...]:
    return tuple(ipaddress.ip_network(a) for a in dict.fromkeys(values))


def _cidrs(values: Sequence[str]) -> tuple[IpNetwork, ...]:
    return tuple(n for n in (parse_network(c) for c in values) if n is not None)


def zone_output_flows(bp: Blueprint, zones: Sequence[FirewallZone]) -> list[Flow]:
    """What any machine in ``zones`` may send, in order: the blueprint's rules whose source is
    one of them (denies first), their declared egress, DNS, NTP and the package mirrors."""
    names = {z.name for z in zones}
    by_name = {z.name: z for z in bp.security.firewall.zones}
    rules = [r for r in bp.security.firewall.rules if r.source in names]
    out: list[Flow] = []
    for rule in sorted(rules, key=lambda r: r.action != "deny"):
        dest = by_name.get(rule.destination)
        out.append(
            Flow(
                comment=f"{rule.action} {rule.name}: {rule.source} -> {rule.destination}",
                peers=tuple(zone_networks(dest)) if dest else (),
                set_prefix="zone",
                set_name=rule.destination,
                protocol=rule.protocol,
                ports=tuple(str(p) for p in rule.ports),
                verdict="drop" if rule.action == "deny" else "accept",
                rule=rule.name,
            )
        )
    for zone in zones:
        for egress in zone.egress:
            out.append(
                Flow(
                    f"egress {egress.name} from zone {zone.name}",
                    _cidrs(egress.cidrs),
                    f"egress_{zone.name.replace('-', '_')}_",
                    egress.name,
                    egress.protocol,
                    tuple(str(p) for p in egress.ports),
                    origin="egress",
                    rule=f"zone {zone.name} egress {egress.name}",
                )
            )
    net = bp.network
    if net.dns_servers:
        dns = _addresses(net.dns_servers)
        out.append(Flow("dns", dns, "svc", "dns", "udp", ("53",), origin="dns"))
        out.append(Flow("dns over tcp", dns, "svc", "dns", "tcp", ("53",), origin="dns"))
    if net.time_servers:
        ntp = _addresses(net.time_servers)
        out.append(Flow("ntp", ntp, "svc", "ntp", "udp", ("123",), origin="ntp"))
    for mirror in net.package_mirrors:
        out.append(
            Flow(
                f"package mirror {mirror.name}",
                _cidrs(mirror.cidrs),
                "mirror",
                mirror.name,
                "tcp",
                ("80", "443"),
                origin="mirror",
            )
        )
    return out


def host_output_flows(bp: Blueprint, host: Host) -> list[Flow]:
    """What the host may send, in order: its zones' output flows (``zone_output_flows``), SSH
    to every host from the management zone and bastions, and the cluster and load-balancer
    peers (a Kubernetes node also its pod and Service networks)."""
    zones = host_zones(bp, host)
    names = {z.name for z in zones}
    out = zone_output_flows(bp, zones)
    mgmt = management_zone(bp)
    if "bastion" in host.roles or (mgmt is not None and mgmt.name in names):
        others = [h for h in bp.hosts if h.name != host.name]
        if others:
            out.append(
                Flow(
                    "ssh to managed hosts",
                    tuple(host_networks(others)),
                    "managed",
                    "hosts",
                    "tcp",
                    (str(SSH_PORT),),
                    origin="management",
                )
            )
    out += [f for f in baseline_flows(bp, host) if f.origin in ("cluster", "vrrp")]
    for cluster in clusters_of(bp, host):
        if cluster.kind == "kubernetes":
            # Probes and host-network pods reach pods and Services on the node's own bridges.
            nets = _cidrs([cluster.network.pod_cidr, cluster.network.service_cidr])
            out.append(
                Flow(
                    f"kubernetes cluster {cluster.name} pod and service networks",
                    nets,
                    "podnet",
                    cluster.name,
                    "any",
                    origin="cluster",
                )
            )
    return out


def _spans(ports: Sequence[str]) -> list[PortSpan]:
    out = []
    for text in ports:
        low, _, high = text.partition("-")
        out.append((int(low), int(high or low)))
    return out


def _matches_port(flow: Flow, protocol: Protocol, port: int) -> bool:
    if flow.protocol not in ("any", protocol):
        return False
    return not flow.ports or any(lo <= port <= hi for lo, hi in _spans(flow.ports))


def admits(
    bp: Blueprint, flows: Sequence[Flow], source: IpNetwork, *, protocol: Protocol, port: int
) -> bool:
    """Whether every address of ``source`` reaches ``port`` through the chain ``flows``.

    A drop that covers any part of ``source`` counts (an operator there is locked out); an
    accept counts only when it covers all of ``source``. Unmatched traffic meets
    ``security.firewall.default_policy``.
    """
    for flow in flows:
        if not _matches_port(flow, protocol, port):
            continue
        if flow.peers is None:
            return flow.verdict == "accept"
        same = [n for n in flow.peers if n.version == source.version]
        if flow.verdict == "drop" and any(source.overlaps(n) for n in same):
            return False
        if flow.verdict == "accept" and any(source.subnet_of(n) for n in same):  # type: ignore[arg-type]
            return True
    return bp.security.firewall.default_policy == "allow"


def unreachable_for_management(bp: Blueprint, host: Host) -> str | None:
    """Why operators in the management zone could not reach ``host`` over SSH, or None.

    Evaluated on the very flows the host's ruleset is rendered from.
    """
    zone = management_zone(bp)
    if zone is None:
        return "no management zone is declared (security.firewall.management_zone)"
    nets = zone_networks(zone)
    if not nets:
        return f"management zone {zone.name!r} has no cidrs"
    flows = host_input_flows(bp, host)
    blocked = [str(n) for n in nets if not admits(bp, flows, n, protocol="tcp", port=SSH_PORT)]
    if blocked:
        denies = [
            f.rule for f in flows if f.verdict == "drop" and _matches_port(f, "tcp", SSH_PORT)
        ]
        why = f" (deny rule {', '.join(repr(d) for d in denies)})" if denies else ""
        return f"SSH from {', '.join(blocked)} in zone {zone.name!r} is dropped{why}"
    return None
