"""Gateway placement targets for the ``ceph`` target: the buckets of an object pool store their
data in that pool.

Each object pool with buckets gets a placement target named after it, in the gateway's
zonegroup and zone (``radosgw-admin zonegroup|zone placement add``), whose data, index and
extra pools are the declared pool; its buckets are created with the location constraint
``<zonegroup api name>:<pool>``. In a single-site gateway (no realm) the running gateways read
placement targets when they start: a new target takes effect once they are restarted, and
until then bucket creation stops with that instruction. Attonix places no daemons and does not
restart them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence, Set
from typing import Any

from attonix.deploy.base import Change, DeployError
from attonix.deploy.ceph.admin import CephAdmin

REGISTERED = {"registered": True}
RESTART_HINT = (
    "New placement targets take effect when the gateways restart (e.g. ceph orch restart "
    "rgw.<service>, or systemctl restart ceph-radosgw@*); then apply again."
)


def view(pool: str) -> dict[str, str]:
    """The placement target of ``pool``: everything of its buckets in that pool."""
    return {"data_pool": pool, "index_pool": pool, "data_extra_pool": pool}


def observe(adm: CephAdmin, names: Set[tuple[str, ...]]) -> dict[tuple[str, str], Any]:
    """The wanted or registered placement targets present in both zonegroup and zone."""
    if not any(k == "placement" for k, _ in names):
        return {}
    targets = {t["name"] for t in adm.rgw_json("zonegroup", "get").get("placement_targets", [])}
    out: dict[tuple[str, str], Any] = {}
    for entry in adm.rgw_json("zone", "get").get("placement_pools", []):
        key, val = entry["key"], entry["val"]
        if ("placement", key) not in names or key not in targets:
            continue
        standard = val.get("storage_classes", {}).get("STANDARD", {})
        out[("placement", key)] = {
            "data_pool": standard.get("data_pool", ""),
            "index_pool": val.get("index_pool", ""),
            "data_extra_pool": val.get("data_extra_pool", ""),
        }
    return out


def step(adm: CephAdmin, c: Change) -> None:
    """Add, repoint or remove one placement target in the zonegroup and the zone."""
    target = f"--placement-id={c.name}"
    if c.action == "delete":
        if c.observed != {"registered": True}:
            adm.rgw("zone", "placement", "rm", target, check=False)
            adm.rgw("zonegroup", "placement", "rm", target, check=False)
        return
    d = c.desired
    pools = [
        f"--data-pool={d['data_pool']}",
        f"--index-pool={d['index_pool']}",
        f"--data-extra-pool={d['data_extra_pool']}",
    ]
    if c.action == "create":
        zonegroup(adm)
        adm.rgw("zonegroup", "placement", "add", target)
        adm.rgw("zone", "placement", "add", target, *pools)
    else:
        adm.rgw("zone", "placement", "modify", target, *pools)


def step_all(adm: CephAdmin, changes: Sequence[Change]) -> None:
    """Add or remove several placement targets at once: the zonegroup and the zone are each
    read, changed and written back once (``radosgw-admin zonegroup|zone set``), instead of two
    ``radosgw-admin`` runs per target."""
    creates = {c.name: c.desired for c in changes if c.action == "create"}
    deletes = {c.name for c in changes if c.action == "delete" and c.observed != REGISTERED}
    if not creates and not deletes:
        return
    zonegroup(adm)
    group: dict[str, Any] = adm.rgw_json("zonegroup", "get")
    targets = [t for t in group.get("placement_targets", []) if t["name"] not in deletes]
    known = {t["name"] for t in targets}
    targets += [
        {"name": n, "tags": [], "storage_classes": ["STANDARD"]}
        for n in sorted(creates)
        if n not in known
    ]
    group["placement_targets"] = targets
    zone: dict[str, Any] = adm.rgw_json("zone", "get")
    pools = [
        e
        for e in zone.get("placement_pools", [])
        if e["key"] not in deletes and e["key"] not in creates
    ]
    pools += [
        {
            "key": n,
            "val": {
                "index_pool": d["index_pool"],
                "storage_classes": {"STANDARD": {"data_pool": d["data_pool"]}},
                "data_extra_pool": d["data_extra_pool"],
                "index_type": 0,
            },
        }
        for n, d in sorted(creates.items())
    ]
    zone["placement_pools"] = pools
    # Targets first when adding (the zone names them), last when removing.
    if creates:
        adm.rgw("zonegroup", "set", stdin=json.dumps(group))
    adm.rgw("zone", "set", f"--rgw-zone={zone['name']}", stdin=json.dumps(zone))
    if not creates:
        adm.rgw("zonegroup", "set", stdin=json.dumps(group))


def zonegroup(adm: CephAdmin) -> dict[str, Any]:
    """The gateway's zonegroup, refused when it belongs to a multisite realm."""
    found = adm.zonegroup()
    if found.get("realm_id"):
        raise DeployError(
            "the gateway's zonegroup belongs to a multisite realm; Attonix manages placement "
            "targets of single-site gateways only",
            hint="Add the placement target in the realm and commit the period yourself.",
        )
    return found


def location(adm: CephAdmin, pool: str) -> str:
    """The S3 location constraint that places a new bucket on ``pool``'s target."""
    found = zonegroup(adm)
    return f"{found.get('api_name') or found.get('name', 'default')}:{pool}"
