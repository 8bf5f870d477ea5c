"""The Swarm network model: a service shares an overlay with each service and database it
declares, and with nothing else.

Overlay networks have no direction and no ports: any two containers on one network can open
any connection to each other, and a network shared by three services connects all three. The
model therefore gives every declared connection a network of its own:

* a declared call — a backend's ``depends_on``, the ``backends`` of a frontend whose replicas
  call them (``calls_from: server``; browsers come in through the published ports), a
  backend's ``databases`` run in the same stack — from ``caller`` to ``callee`` is one
  encrypted overlay, ``<caller>_<callee>`` (an underscore, which no blueprint name holds,
  keeps pairs apart), or ``pair_<hash>`` where the engine's name ``<stack>_<network>`` would
  not be a DNS label (Swarm requires one), joined by exactly those two;
* a call crosses firewall zones only where the firewall allows it
  (:meth:`~attonix.blueprint.model.Firewall.allows`): ``validate`` reports a declared call the
  firewall forbids at its line, and such a call would get no network here;
* a service that joins no network gets ``isolated-<service>`` (``iso-<hash>`` when too long)
  and reaches nothing.

Two services that call the same service, or use the same database, therefore cannot reach
each other through it. What the networks cannot express (a port list, the direction inside a
pair) is enforced by the hosts' nftables rules rendered from the same firewall section.
``internet`` is not a zone: published ports serve it.
"""

from __future__ import annotations

from attonix.blueprint.model import Blueprint, Frontend, Service
from attonix.blueprint.naming import DOCKER_SERVICE_MAX, digest

INTERNET = "internet"


def _room(bp: Blueprint, cluster: str) -> int:
    """How long a network key may be for ``<blueprint>-<cluster>_<key>`` to be a DNS label."""
    return DOCKER_SERVICE_MAX - len(f"{bp.metadata.name}-{cluster}_")


def isolated_network(bp: Blueprint, cluster: str, service: str) -> str:
    """The compose key of the private network of a service that may reach nothing."""
    key = f"isolated-{service}"
    return key if len(key) <= _room(bp, cluster) else f"iso-{digest(key)}"


def is_isolated(network: str) -> bool:
    """Whether a network of the stack is a private one (pair networks hold an underscore)."""
    return "_" not in network


def pair_network(bp: Blueprint, cluster: str, caller: str, callee: str) -> str:
    """The compose key of the network a caller shares with one service or database it calls,
    short enough that ``<blueprint>-<cluster>_<key>`` is a DNS label."""
    key = f"{caller}_{callee}"
    return key if len(key) <= _room(bp, cluster) else f"pair_{digest(key)}"


def calls(bp: Blueprint, w: Service | Frontend) -> list[str]:
    """Everything ``w`` declares it connects to in its own stack and the firewall allows:
    services (``depends_on``, the ``backends`` of a frontend that calls from the server) and
    databases run in the stack (``databases``)."""
    fw = bp.security.firewall
    out: list[str] = []
    for name in w.connects_to():
        other = bp.workloads_by_name.get(name)
        if other is not None and other.cluster == w.cluster and fw.allows(w.zone, other.zone):
            out.append(name)
    for name in getattr(w, "databases", []):
        db = bp.databases_by_name.get(name)
        if db is not None and db.cluster == w.cluster:
            out.append(name)
    return out


def networks_of(bp: Blueprint, name: str) -> list[str]:
    """The networks a service or database of the stack joins: one per declared connection it
    is an end of, or its own private network when it has none."""
    joined: set[str] = set()
    me = bp.workloads_by_name.get(name)
    cluster = me.cluster if me is not None else bp.databases_by_name[name].cluster or ""
    if me is not None:
        joined.update(pair_network(bp, cluster, name, callee) for callee in calls(bp, me))
    for caller in bp.workloads_by_name.values():
        if caller.cluster == cluster and name in calls(bp, caller):
            joined.add(pair_network(bp, cluster, caller.name, name))
    return sorted(joined) or [isolated_network(bp, cluster, name)]
