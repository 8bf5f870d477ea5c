"""What the Ceph-on-hosts driver converges towards, derived from the blueprint (pure).

For one ``storage.ceph`` cluster in mode ``hosts``:

- a replicated CRUSH rule ``attonix-<level>`` per failure domain its pools use;
- each pool with its size, min_size, rule, application (``rbd``, ``rgw``, ``cephfs``) and
  quota;
- an RBD image ``<service>-<volume>`` for each backend service volume on a block pool;
- per filesystem pool a CephFS ``<pool>`` (the pool holds its data, ``<pool>-metadata`` with
  the same replication its metadata), per service with volumes on it a subvolume group
  ``<service>`` (with the quota of the pool's ``subvolume_groups`` entry for it, if any), and
  per volume a subvolume ``<service>-<volume>`` of the volume's size in its
  own RADOS namespace;
- per service using block or filesystem pools a cephx key ``client.<blueprint>-<env>-<service>``
  whose caps are ``profile rbd`` on exactly its block pools, and on each filesystem its group's
  path and its subvolumes' namespaces (nothing on any other pool, path or namespace);
- per object pool with buckets a gateway placement target ``<pool>`` storing their data, index
  and multipart parts in that pool (see :mod:`.placement`);
- per service owning buckets a gateway (RGW) user ``<blueprint>-<env>-<service>``, allowed as
  many buckets as it owns, and each bucket on its pool's placement target with its quota.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from attonix.blueprint.model import Blueprint, Ceph
from attonix.deploy.ceph import placement

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


def metadata_pool(fs: str) -> str:
    """The metadata pool of the CephFS made from filesystem pool ``fs``."""
    return f"{fs}-metadata"


def namespace(subvolume: str) -> str:
    """The RADOS namespace Ceph 16 gives a namespace-isolated subvolume."""
    return f"fsvolumens_{subvolume}"


def _caps(block: set[str], files: dict[str, set[str]], service: str) -> dict[str, str]:
    """A service's cephx caps: its block pools, its group path and subvolume namespaces."""
    mon = ["profile rbd"] if block else []
    osd = [f"profile rbd pool={p}" for p in sorted(block)]
    mds = []
    for fs, subvolumes in sorted(files.items()):
        mon.append(f"allow r fsname={fs}")
        mds.append(f"allow rw fsname={fs} path=/volumes/{service}")
        osd.extend(f"allow rw pool={fs} namespace={namespace(s)}" for s in sorted(subvolumes))
    caps = {"mon": ", ".join(mon), "osd": ", ".join(osd)}
    if mds:
        caps["mds"] = ", ".join(mds)
    return caps


def wanted(bp: Blueprint, ceph: Ceph) -> list[Want]:
    """Every object of ``ceph``, in creation order (rules, pools, filesystems, images, groups,
    subvolumes, keys, users, buckets)."""
    out: list[Want] = []
    domains = sorted({p.failure_domain or ceph.failure_domain for p in ceph.pools})
    for level in domains:
        out.append(Want("rule", f"attonix-{level}", {"failure_domain": level, "root": "default"}))
    pools = {p.name: p for p in ceph.pools}
    for p in ceph.pools:
        view = {
            "size": p.replicas,
            "min_size": p.min_size,
            "rule": f"attonix-{p.failure_domain or ceph.failure_domain}",
            "application": APPLICATION[p.type],
            "quota_max_bytes": to_bytes(p.quota),
        }
        out.append(Want("pool", p.name, view))
        if p.type == "filesystem":
            out.append(Want("pool", metadata_pool(p.name), {**view, "quota_max_bytes": 0}))
    out.extend(Want("placement", p.name, placement.view(p.name)) for p in ceph.pools if p.buckets)
    for p in ceph.pools:
        if p.type == "filesystem":
            view = {"metadata_pool": metadata_pool(p.name), "data_pools": [p.name]}
            out.append(Want("filesystem", p.name, view))
    block: dict[str, set[str]] = {}
    files: dict[str, dict[str, set[str]]] = {}
    subvolumes: list[Want] = []
    for svc in bp.services.backend:
        for vol in svc.volumes:
            pool = pools.get(vol.pool or "")
            if pool is None:
                continue
            if pool.type == "block":
                out.append(
                    Want("image", f"{vol.pool}/{svc.name}-{vol.name}", {"size": to_bytes(vol.size)})
                )
                block.setdefault(svc.name, set()).add(pool.name)
            elif pool.type == "filesystem":
                sub = f"{svc.name}-{vol.name}"
                files.setdefault(svc.name, {}).setdefault(pool.name, set()).add(sub)
                subvolumes.append(
                    Want(
                        "subvolume",
                        f"{pool.name}/{svc.name}/{sub}",
                        {"size": to_bytes(vol.size), "namespace": namespace(sub)},
                    )
                )
    quotas = {
        (p.name, g.service): to_bytes(g.quota) for p in ceph.pools for g in p.subvolume_groups
    }
    for svc_name, by_fs in sorted(files.items()):
        out.extend(
            Want("group", f"{fs}/{svc_name}", {"quota": quotas.get((fs, svc_name), 0)})
            for fs in sorted(by_fs)
        )
    out.extend(subvolumes)
    for svc_name in sorted(set(block) | set(files)):
        caps = _caps(block.get(svc_name, set()), files.get(svc_name, {}), svc_name)
        out.append(Want("key", key_name(bp, svc_name), caps))
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
                        "placement": p.name,
                        "quota_enabled": b.quota is not None or b.max_objects is not None,
                        "quota_max_size": _rgw_round(to_bytes(b.quota)) if b.quota else -1,
                        "quota_max_objects": b.max_objects or -1,
                    },
                )
            )
    for svc_name, count in sorted(owners.items()):
        out.append(Want("user", rgw_user(bp, svc_name), {"max_buckets": count}))
    return out + buckets
