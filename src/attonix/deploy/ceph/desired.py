"""What the Ceph-on-hosts driver converges towards, derived from the blueprint (pure).

For one ``storage.ceph`` cluster in mode ``hosts``:

- a replicated CRUSH rule ``attonix-<level>`` per failure domain its pools use;
- each pool with its size, min_size, rule, application (``rbd``, ``rgw``, ``cephfs``) and
  quota;
- an RBD image ``<service>-<volume>`` for each backend service volume on a block pool;
- per service using block pools a cephx key ``client.<blueprint>-<env>-<service>`` whose caps
  are ``profile rbd`` on exactly those pools (nothing on any other pool);
- per service owning buckets a gateway (RGW) user ``<blueprint>-<env>-<service>``, allowed as
  many buckets as it owns, and each bucket with its quota.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from attonix.blueprint.model import Blueprint, Ceph

APPLICATION = {"block": "rbd", "object": "rgw", "filesystem": "cephfs"}
_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def to_bytes(quantity: str | None) -> int:
    """``"10Gi"`` → bytes; ``None`` → 0 (no limit)."""
    if quantity is None:
        return 0
    m = re.fullmatch(r"([0-9]+)(Ki|Mi|Gi|Ti)", quantity)
    if m is None:
        raise ValueError(f"not a quantity: {quantity!r}")
    return int(m.group(1)) * _UNITS[m.group(2)]


def _rgw_round(size: int) -> int:
    """The gateway keeps quotas in 4 KiB units, rounded up."""
    return -(-size // 4096) * 4096


@dataclass(frozen=True, slots=True)
class Want:
    """One object the cluster should hold: kind, name and comparable view."""

    kind: str
    name: str
    view: dict[str, Any]


def prefix(bp: Blueprint) -> str:
    """``<blueprint>-<environment>``: the namespace of keys and gateway users."""
    return f"{bp.metadata.name}-{bp.metadata.environment}"


def key_name(bp: Blueprint, service: str) -> str:
    """The cephx entity of one service."""
    return f"client.{prefix(bp)}-{service}"


def rgw_user(bp: Blueprint, service: str) -> str:
    """The gateway user of one service."""
    return f"{prefix(bp)}-{service}"


def wanted(bp: Blueprint, ceph: Ceph) -> list[Want]:
    """Every object of ``ceph``, in creation order (rules, pools, images, keys, users, buckets)."""
    out: list[Want] = []
    domains = sorted({p.failure_domain or ceph.failure_domain for p in ceph.pools})
    for level in domains:
        out.append(Want("rule", f"attonix-{level}", {"failure_domain": level, "root": "default"}))
    pools = {p.name: p for p in ceph.pools}
    for p in ceph.pools:
        out.append(
            Want(
                "pool",
                p.name,
                {
                    "size": p.replicas,
                    "min_size": p.min_size,
                    "rule": f"attonix-{p.failure_domain or ceph.failure_domain}",
                    "application": APPLICATION[p.type],
                    "quota_max_bytes": to_bytes(p.quota),
                },
            )
        )
    block_users: dict[str, set[str]] = {}
    for svc in bp.services.backend:
        for vol in svc.volumes:
            if vol.pool in pools and pools[vol.pool].type == "block":
                out.append(
                    Want("image", f"{vol.pool}/{svc.name}-{vol.name}", {"size": to_bytes(vol.size)})
                )
                block_users.setdefault(svc.name, set()).add(vol.pool)
    for svc_name, used in sorted(block_users.items()):
        osd = ", ".join(f"profile rbd pool={p}" for p in sorted(used))
        out.append(Want("key", key_name(bp, svc_name), {"mon": "profile rbd", "osd": osd}))
    owners: dict[str, int] = {}
    buckets: list[Want] = []
    for p in ceph.pools:
        for b in p.buckets:
            owners[b.service] = owners.get(b.service, 0) + 1
            buckets.append(
                Want(
                    "bucket",
                    b.name,
                    {
                        "owner": rgw_user(bp, b.service),
                        "quota_enabled": b.quota is not None or b.max_objects is not None,
                        "quota_max_size": _rgw_round(to_bytes(b.quota)) if b.quota else -1,
                        "quota_max_objects": b.max_objects or -1,
                    },
                )
            )
    for svc_name, count in sorted(owners.items()):
        out.append(Want("user", rgw_user(bp, svc_name), {"max_buckets": count}))
    return out + buckets
