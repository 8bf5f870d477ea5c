"""The ``nftables`` target: one ruleset per host, and one per zone for machines the blueprint
does not list.

Each host's ruleset accepts, besides established traffic, loopback and rate-limited ICMP,
the blueprint's firewall rules whose destination zone contains the host (see
``attonix.policy.firewall`` for zone membership and the flows), with deny rules before allows,
plus the flows the host needs whatever the rules say: SSH from bastion hosts, traffic between
the members of the same cluster, and VRRP between the members of a load balancer. Everything
else meets ``security.firewall.default_policy``, counted and logged at a limited rate.

On Swarm and Podman hosts the forward chain holds the ports the engines publish (DNAT-ed in
prerouting, then forwarded to the containers) to the same flows, judged by the original
destination port; Kubernetes nodes leave forwarding to kube-proxy and the CNI.

``ruleset.py`` writes the text; cloud-init and Chef install the same text, so they import it
(the one renderer others may import; it imports none of them).
"""

from __future__ import annotations

from attonix.blueprint.model import Blueprint
from attonix.render.base import Artifact
from attonix.render.nftables.ruleset import host_ruleset, zone_ruleset

TARGET = "nftables"


def render(bp: Blueprint) -> list[Artifact]:
    """``nftables/<host>.nft`` for every host and ``nftables/zones/<zone>.nft`` for every zone."""
    artifacts = [
        Artifact(TARGET, f"nftables/{h.name}.nft", host_ruleset(bp, h), "text")
        for h in sorted(bp.hosts, key=lambda h: h.name)
    ]
    artifacts += [
        Artifact(TARGET, f"nftables/zones/{z.name}.nft", zone_ruleset(bp, z), "text")
        for z in sorted(bp.security.firewall.zones, key=lambda z: z.name)
    ]
    return artifacts
