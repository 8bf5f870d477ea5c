"""The Swarm network model: which overlay networks a stack has and which services join them.

Overlay networks have no direction and no ports: any two containers on one network can open
any connection to each other. Firewall rules, however, are directed zone-to-zone flows. The
model therefore connects *pairs of zones*, never whole zones to everything they reach:

* an undirected edge ``{a, b}`` exists when an allow rule goes from ``a`` to ``b`` or from
  ``b`` to ``a`` (``{a}`` alone when a rule allows ``a`` to talk to itself);
* each edge becomes one encrypted overlay network, ``zone-a-b`` (or ``zone-a``);
* a service in zone ``z`` joins exactly the networks of the edges that touch ``z``.

Two services can therefore connect only if a rule joins their zones — zones without a rule
between them share no network and cannot reach each other at all, whatever the ports. What
the networks cannot express (the direction of a flow and its port list) is enforced by the
hosts' nftables rules rendered from the same firewall section. Services without a zone, or in
a zone that no rule touches, get a network of their own and reach nothing.

With ``default_policy: allow`` every pair of zones is connected except pairs that a deny rule
names. ``internet`` is not a zone: published ports serve it.
"""

from __future__ import annotations

from dataclasses import dataclass

from attonix.blueprint.model import Blueprint, Firewall

INTERNET = "internet"


@dataclass(frozen=True, slots=True)
class Edge:
    """Two zones (or one zone with itself) allowed to talk in at least one direction."""

    a: str
    b: str

    @property
    def network(self) -> str:
        """The compose key of the overlay network carrying this edge."""
        return f"zone-{self.a}" if self.a == self.b else f"zone-{self.a}-{self.b}"

    def touches(self, zone: str) -> bool:
        """True when ``zone`` is one end of the edge."""
        return zone in (self.a, self.b)


def _edge(x: str, y: str) -> Edge:
    a, b = sorted((x, y))
    return Edge(a, b)


def edges(firewall: Firewall) -> list[Edge]:
    """Every zone pair allowed to talk, in a stable order."""
    zones = [z.name for z in firewall.zones]
    denied = {
        _edge(r.source, r.destination)
        for r in firewall.rules
        if r.action == "deny" and INTERNET not in (r.source, r.destination)
    }
    found: set[Edge] = set()
    if firewall.default_policy == "allow":
        for i, x in enumerate(zones):
            for y in zones[i:]:
                if _edge(x, y) not in denied:
                    found.add(_edge(x, y))
    for rule in firewall.rules:
        if rule.action != "allow" or INTERNET in (rule.source, rule.destination):
            continue
        found.add(_edge(rule.source, rule.destination))
    return sorted(found, key=lambda e: (e.a, e.b))


def isolated_network(service: str) -> str:
    """The compose key of the private network of a service that may reach no zone."""
    return f"isolated-{service}"


def networks_of(bp: Blueprint, *, zone: str | None, service: str) -> list[str]:
    """The networks a service in ``zone`` joins (its own private one if no edge touches it)."""
    if zone is not None:
        joined = [e.network for e in edges(bp.security.firewall) if e.touches(zone)]
        if joined:
            return joined
    return [isolated_network(service)]


def reachable_zones(bp: Blueprint, zone: str) -> list[str]:
    """The zones a service in ``zone`` shares a network with (itself included if allowed)."""
    out: set[str] = set()
    for e in edges(bp.security.firewall):
        if e.touches(zone):
            out.add(e.b if e.a == zone else e.a)
    return sorted(out)
