"""nftables rulesets from the firewall intent (``attonix.policy.firewall``): named address
sets, the input chain in the intent's order, forward and output chains.

cloud-init and Chef install the same text as ``/etc/nftables.conf``, so this module is the one
place a ruleset is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from attonix.blueprint.model import Blueprint, FirewallZone, Host
from attonix.policy import firewall
from attonix.policy.firewall import Flow, IpNetwork
from attonix.render.base import RenderError


def parse_ports(ports: Iterable[int | str], *, where: str) -> list[str]:
    """Ports and ``LOW-HIGH`` ranges as nftables set elements; bad ranges are a RenderError."""
    out: list[str] = []
    for port in ports:
        text = str(port)
        low, _, high = text.partition("-")
        lo, hi = int(low), int(high or low)
        if not (1 <= lo <= hi <= 65535):
            raise RenderError(
                f"{where}: port {text!r} is not a port or a LOW-HIGH range within 1-65535",
                hint="Use a port between 1 and 65535, or a range whose low end comes first.",
            )
        out.append(str(lo) if lo == hi else f"{lo}-{hi}")
    return out


def check_zones(bp: Blueprint) -> None:
    """Every zone CIDR must parse; a malformed one is a RenderError naming its zone."""
    for zone in bp.security.firewall.zones:
        for cidr in zone.cidrs:
            if firewall.parse_network(cidr) is None:
                raise RenderError(
                    f"security.firewall.zones[{zone.name}]: {cidr!r} is not a CIDR",
                    hint="Write it as ADDRESS/PREFIX, for example 10.20.1.0/24.",
                )


def _set_name(prefix: str, name: str, version: int) -> str:
    # Blueprint names never contain '_', so mapping '-' to '_' cannot make two names collide.
    return f"{prefix}_{name.replace('-', '_')}" + ("_v6" if version == 6 else "")


class _Ruleset:
    """Named address sets plus the input rules that use them, in the order they are added."""

    def __init__(self) -> None:
        self.sets: dict[str, tuple[int, list[str]]] = {}
        self.rules: list[str] = []
        self.output: list[str] = []
        self.forward: list[str] = []

    def source_matches(
        self, prefix: str, name: str, nets: Sequence[IpNetwork], *, field: str = "saddr"
    ) -> list[str]:
        """Declare one set per address family of ``nets``; return the ``field`` match for each."""
        matches = []
        for version, keyword in ((4, "ip"), (6, "ip6")):
            elems = [
                str(n.network_address) if n.prefixlen == n.max_prefixlen else str(n)
                for n in nets
                if n.version == version
            ]
            if elems:
                set_name = _set_name(prefix, name, version)
                self.sets[set_name] = (version, elems)
                matches.append(f"{keyword} {field} @{set_name}")
        return matches

    def add(self, matches: Sequence[str], tail: str, comment: str, *, output: bool = False) -> None:
        """Add one ``<match> <tail> comment`` rule per match (``[""]`` adds one without a match)."""
        chain = self.output if output else self.rules
        for match in matches:
            chain.append(f'{match} {tail} comment "{comment}"'.strip())

    def add_published_flow(self, flow: Flow) -> None:
        """The input flow ``flow`` as forward rules for ports a container engine publishes.

        The engines DNAT a published port in prerouting, so the packet is forwarded to the
        container and never meets the input chain; conntrack still knows the port the client
        asked for (``ct original proto-dst``), and the source address is unchanged.
        """
        if flow.protocol == "vrrp":
            return  # nothing DNATs VRRP to a container
        verdict = "accept" if flow.verdict == "accept" else "drop"
        if flow.protocol == "any":
            tail = f"counter {verdict}"
        else:
            tail = (
                f"meta l4proto {flow.protocol} ct original proto-dst {_port_set(flow)}"
                f" counter {verdict}"
            )
        if flow.peers is None:
            matches = ["ct status dnat"]
        else:
            matches = [
                f"ct status dnat {m}"
                for m in self.source_matches(flow.set_prefix, flow.set_name, flow.peers)
            ]
        for match in matches:
            self.forward.append(f'{match} {tail} comment "{flow.comment}"')

    def add_flow(self, flow: Flow, *, output: bool = False) -> None:
        """The flow as one rule per address family of its peers (destinations for output)."""
        if flow.protocol == "any":
            tail = "counter accept" if flow.verdict == "accept" else "counter drop"
        elif flow.protocol == "vrrp":
            # VRRP is IP protocol 112: keepalived's adverts that move the virtual IP.
            tail = f"meta l4proto 112 counter {flow.verdict}"
        else:
            tail = f"{flow.protocol} dport {_port_set(flow)} counter {flow.verdict}"
        if flow.peers is None:
            self.add([""], tail, flow.comment, output=output)
            return
        field = "daddr" if output else "saddr"
        matches = self.source_matches(flow.set_prefix, flow.set_name, flow.peers, field=field)
        if matches:
            self.add(matches, tail, flow.comment, output=output)
        elif flow.origin == "rule":
            (self.output if output else self.rules).append(
                f"# {flow.rule}: zone {flow.set_name} has no cidrs, so it matches nothing"
            )


def _port_set(flow: Flow) -> str:
    """The flow's ports as an nftables anonymous set (``{ 22, 8000-8010 }``); a bad port names
    the rule (or the flow) it came from."""
    where = f"security.firewall.rules[{flow.rule}].ports" if flow.rule else flow.comment
    return f"{{ {', '.join(parse_ports(flow.ports, where=where))} }}"


_ICMP = (
    "meta l4proto icmp icmp type { destination-unreachable, time-exceeded, parameter-problem }"
    " limit rate 100/second burst 200 packets accept",
    "meta l4proto icmp icmp type echo-request limit rate 10/second burst 20 packets accept",
    "meta l4proto ipv6-icmp icmpv6 type { destination-unreachable, packet-too-big,"
    " time-exceeded, parameter-problem } limit rate 100/second burst 200 packets accept",
    "meta l4proto ipv6-icmp icmpv6 type { nd-router-solicit, nd-router-advert,"
    " nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 accept",
    "meta l4proto ipv6-icmp icmpv6 type echo-request limit rate 10/second burst 20 packets accept",
)


_ENGINE_BRIDGES = ("docker0", "docker_gwbridge", "br-*", "podman*", "cni-podman*", "veth*")


def _drop_tail(chain: str) -> list[str]:
    return [
        f'limit rate 6/minute burst 10 packets log prefix "attonix drop {chain}: " level info',
        "counter drop",
    ]


def _text(
    bp: Blueprint,
    rs: _Ruleset,
    *,
    title: str,
    keep_other_tables: bool,
    forward: Literal["closed", "open", "engine"],
) -> str:
    policy = "drop" if bp.security.firewall.default_policy == "deny" else "accept"
    out = ["#!/usr/sbin/nft -f", f"# Managed by attonix from blueprint {bp.metadata.name}: {title}"]
    if keep_other_tables:
        # Container engines and kube-proxy keep their own tables: replace only ours.
        out += ["table inet attonix", "delete table inet attonix"]
    else:
        out.append("flush ruleset")
    out += ["", "table inet attonix {"]
    for name, (version, elems) in sorted(rs.sets.items()):
        out += [
            f"\tset {name} {{",
            f"\t\ttype {'ipv4_addr' if version == 4 else 'ipv6_addr'}",
            "\t\tflags interval",
            "\t\tauto-merge",
            f"\t\telements = {{ {', '.join(elems)} }}",
            "\t}",
            "",
        ]
    out += [
        "\tchain input {",
        f"\t\ttype filter hook input priority filter; policy {policy};",
        "\t\tct state invalid counter drop",
        "\t\tct state established,related accept",
        '\t\tiif "lo" accept',
    ]
    out += [f"\t\t{r}" for r in (*_ICMP, *rs.rules)]
    if policy == "drop":
        out += [f"\t\t{r}" for r in _drop_tail("input")]
    out += ["\t}", "", "\tchain forward {"]
    if forward == "open":
        out += [
            "\t\t# Kubernetes: kube-proxy and the CNI route the pods' traffic through this host.",
            "\t\ttype filter hook forward priority filter; policy accept;",
        ]
    elif forward == "engine":
        out += [
            "\t\t# Docker, Swarm and Podman publish ports by DNAT in prerouting: that traffic is",
            "\t\t# forwarded to the containers, never meets the input chain, and is judged here.",
            f"\t\ttype filter hook forward priority filter; policy {policy};",
            "\t\tct state invalid counter drop",
            "\t\tct state established,related accept",
        ]
        out += [
            f'\t\tiifname "{pattern}" counter accept comment "from container engine bridges"'
            for pattern in _ENGINE_BRIDGES
            if pattern != "veth*"  # a veth may well be the uplink; containers' are bridge ports
        ]
        out += [f"\t\t{r}" for r in rs.forward]
        if policy == "drop":
            out += [f"\t\t{r}" for r in _drop_tail("forward")]
    else:
        out += ["\t\ttype filter hook forward priority filter; policy drop;"]
        out += [f"\t\t{r}" for r in _drop_tail("forward")]
    out += ["\t}", "", "\tchain output {"]
    out += [
        f"\t\ttype filter hook output priority filter; policy {policy};",
        "\t\tct state invalid counter drop",
        "\t\tct state established,related accept",
        '\t\toif "lo" accept',
        # Errors, neighbour discovery and pings out; replies to pings are established.
        "\t\tmeta l4proto icmp accept",
        "\t\tmeta l4proto ipv6-icmp accept",
    ]
    out += [f"\t\t{r}" for r in rs.output]
    if policy == "drop":
        out += [f"\t\t{r}" for r in _drop_tail("output")]
    out += ["\t}", "}"]
    # Spaces, not tabs: the ruleset is also embedded in YAML, where tabs force quoted strings.
    return "\n".join(out).replace("\t", "    ") + "\n"


def host_ruleset(bp: Blueprint, host: Host) -> str:
    """The complete nftables ruleset for ``host``, loadable with ``nft -f``."""
    check_zones(bp)
    rs = _Ruleset()
    for flow in firewall.host_input_flows(bp, host):
        rs.add_flow(flow)
    for flow in firewall.host_output_flows(bp, host):
        rs.add_flow(flow, output=True)
    kinds = {c.kind for c in firewall.clusters_of(bp, host)}
    if kinds - {"kubernetes"}:
        # Docker and Podman name their bridges themselves and pick their subnets at run time.
        for pattern in _ENGINE_BRIDGES:
            rs.add(
                [f'oifname "{pattern}"'],
                "counter accept",
                "container engine bridges",
                output=True,
            )
        # Their published ports are reachable from exactly where the host's own would be.
        for flow in firewall.host_input_flows(bp, host):
            rs.add_published_flow(flow)
    members = ", ".join(z.name for z in firewall.host_zones(bp, host)) or "none"
    return _text(
        bp,
        rs,
        title=f"host {host.name} ({host.address}), zones: {members}",
        keep_other_tables=bool(kinds),
        # A Kubernetes node's forwarding belongs to kube-proxy and the CNI (pod-to-pod and
        # Service traffic is DNAT-ed too), so it stays open there, also next to an engine.
        forward="open" if "kubernetes" in kinds else "engine" if kinds else "closed",
    )


def zone_ruleset(bp: Blueprint, zone: FirewallZone) -> str:
    """A ruleset for any machine in ``zone`` that the blueprint does not list as a host."""
    check_zones(bp)
    rs = _Ruleset()
    for flow in firewall.zone_flows(bp, {zone.name}):
        rs.add_flow(flow)
    for flow in firewall.zone_output_flows(bp, [zone]):
        rs.add_flow(flow, output=True)
    return _text(
        bp,
        rs,
        title=f"any machine in zone {zone.name}",
        keep_other_tables=False,
        forward="closed",
    )
