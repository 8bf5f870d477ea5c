"""Where the VMs of an anti-affinity group run: one VM per ESXi host, decided before apply.

Pure functions over names, so that the plan can show the placement it will make (and the
drift it will correct) and the tests can check the rules without a vCenter.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from attonix.deploy.base import DeployError


class PlacementImpossible(DeployError):
    """A mandatory anti-affinity group has more VMs than the cluster has usable hosts."""


def assign(
    vms: Sequence[str],
    *,
    observed: Mapping[str, str | None],
    hosts: Sequence[str],
    group: str,
    cluster: str,
) -> dict[str, str]:
    """The host of every VM of ``group``, no two on one host.

    A VM keeps the host it runs on when that host is usable and no VM before it (in name
    order) keeps it too; the others go to the usable hosts running the fewest VMs of the
    group (ties: by host name). ``observed`` maps existing VMs to their host; ``hosts`` are the
    cluster's usable hosts (connected, not in maintenance).
    """
    if len(vms) > len(hosts):
        raise PlacementImpossible(
            f"VM group {group!r} has {len(vms)} VMs and a mandatory anti-affinity rule, but "
            f"cluster {cluster!r} has {len(hosts)} usable host(s) ({', '.join(hosts) or 'none'})",
            hint="Lower the group's count, or add hosts to the cluster (or take them out of "
            "maintenance mode); two VMs of the group on one host would break the rule.",
        )
    usable = set(hosts)
    placed: dict[str, str] = {}
    for vm in sorted(vms):
        host = observed.get(vm)
        if host in usable and host not in placed.values():
            placed[vm] = host
    used = Counter(placed.values())
    for vm in sorted(vms):
        if vm in placed:
            continue
        host = min(hosts, key=lambda h: (used[h], h))
        placed[vm] = host
        used[host] += 1
    return {vm: placed[vm] for vm in vms}


def shared_hosts(placement: Mapping[str, str | None]) -> dict[str, list[str]]:
    """Hosts running more than one of the given VMs: host -> its VMs (sorted)."""
    by_host: dict[str, list[str]] = {}
    for vm, host in sorted(placement.items()):
        if host is not None:
            by_host.setdefault(host, []).append(vm)
    return {h: vms for h, vms in by_host.items() if len(vms) > 1}


def describe_shared(rule: str, shared: Mapping[str, Sequence[str]]) -> str:
    """One sentence naming the VMs that break ``rule`` and the host they share."""
    parts = [f"{' and '.join(vms)} run on {host}" for host, vms in sorted(shared.items())]
    return f"mandatory anti-affinity rule {rule} is broken: " + "; ".join(parts)
