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

Declared calls (a backend's ``depends_on``, a frontend's ``backends``) between services of
which at least one has no zone are not governed by the zone graph; each such callee gets a
network ``link-<callee>`` joined by it and exactly its declared callers of that kind, so a
service and what it declares always share an overlay, and nothing else joins it. A database
run in the stack joins only ``db-<database>``, shared with exactly the services that list it
under ``databases``.
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


def link_network(callee: str) -> str:
    """The compose key of the network a callee shares with its declared callers."""
    return f"link-{callee}"


def links_of(bp: Blueprint, service: str) -> list[str]:
    """The link networks ``service`` joins: its own (if called) and its callees'.

    Only calls where one side has no zone get a link; between two zones the firewall's zone
    graph decides.
    """
    by_name = bp.workloads_by_name
    me = by_name.get(service)
    if me is None:
        return []
    out: set[str] = set()
    calls = list(getattr(me, "depends_on", [])) + list(getattr(me, "backends", []))
    for callee in calls:
        other = by_name.get(callee)
        if other is not None and other.cluster == me.cluster and None in (me.zone, other.zone):
            out.add(link_network(callee))
    for caller in by_name.values():
        called = list(getattr(caller, "depends_on", [])) + list(getattr(caller, "backends", []))
        if service in called and caller.cluster == me.cluster and None in (me.zone, caller.zone):
            out.add(link_network(service))
    return sorted(out)


def database_network(database: str) -> str:
    """The compose key of the network a database shares with the services that declare it."""
    return f"db-{database}"


def databases_of(bp: Blueprint, service: str) -> list[str]:
    """The database networks ``service`` joins: one per declared database run in its stack."""
    me = bp.workloads_by_name.get(service)
    out = []
    for name in getattr(me, "databases", []):
        db = bp.databases_by_name.get(name)
        if db is not None and me is not None and db.cluster == me.cluster:
            out.append(database_network(name))
    return out


def networks_of(bp: Blueprint, *, zone: str | None, service: str) -> list[str]:
    """The networks a service in ``zone`` joins: its zone edges, declared links and declared
    databases, or its own private network when it joins nothing else."""
    joined: list[str] = []
    if zone is not None:
        joined = [e.network for e in edges(bp.security.firewall) if e.touches(zone)]
    joined += links_of(bp, service)
    joined += databases_of(bp, service)
    return joined or [isolated_network(service)]


def reachable_zones(bp: Blueprint, zone: str) -> list[str]:
    """The zones a service in ``zone`` shares a network with (itself included if allowed)."""
    out: set[str] = set()
    for e in edges(bp.security.firewall):
        if e.touches(zone):
            out.add(e.b if e.a == zone else e.a)
    return sorted(out)
