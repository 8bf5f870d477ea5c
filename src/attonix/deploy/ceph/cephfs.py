"""CephFS for the ``ceph`` target: filesystems, subvolume groups and subvolumes.

A filesystem pool of the blueprint becomes a CephFS of the same name (``ceph fs new``, the
declared pool for data, ``<pool>-metadata`` for metadata); it needs a metadata server, which
the cluster runs (Attonix places no daemons here). Each service with volumes on it gets a
subvolume group ``<service>`` and per volume a namespace-isolated subvolume
``<service>-<volume>`` whose quota is the volume's size, through the manager's ``volumes``
module (``ceph fs subvolume ...``). A group's quota is the pool's ``subvolume_groups[].quota``
of its service (none when it declares none). Names below are ``<fs>``, ``<fs>/<group>`` and
``<fs>/<group>/<subvolume>``.
"""

from __future__ import annotations

from collections.abc import Set
from typing import Any

from attonix.deploy.base import Change, DeployError
from attonix.deploy.ceph.admin import CephAdmin


def observe(adm: CephAdmin, names: Set[tuple[str, ...]]) -> dict[tuple[str, str], Any]:
    """Views of the wanted or registered filesystems, groups and subvolumes that exist: one
    command for the filesystems, one per filesystem for groups, per group for its quota and its
    subvolumes, and one per subvolume for its quota and namespace."""
    if not any(k in ("filesystem", "group", "subvolume") for k, _ in names):
        return {}
    out: dict[tuple[str, str], Any] = {}
    for fs in adm.mon("fs ls") or []:
        out[("filesystem", fs["name"])] = {
            "metadata_pool": fs["metadata_pool"],
            "data_pools": list(fs["data_pools"]),
        }
    filesystems = {n for k, n in out if k == "filesystem"}
    group_names = {n for k, n in names if k == "group"}
    for fs in sorted(filesystems & {n.split("/")[0] for n in group_names}):
        for g in adm.mon("fs subvolumegroup ls", vol_name=fs) or []:
            name = f"{fs}/{g['name']}"
            if name in group_names:
                info = adm.mon("fs subvolumegroup info", vol_name=fs, group_name=g["name"])
                out[("group", name)] = {"quota": _bytes(info.get("bytes_quota"))}
    wanted_subs = {n for k, n in names if k == "subvolume"}
    for group in sorted({n.rsplit("/", 1)[0] for n in wanted_subs}):
        if ("group", group) not in out:
            continue
        fs, grp = group.split("/")
        listed = adm.mon("fs subvolume ls", vol_name=fs, group_name=grp) or []
        present = {s["name"] for s in listed}
        for sub in sorted(present):
            name = f"{group}/{sub}"
            if name not in wanted_subs:
                continue
            info = adm.mon("fs subvolume info", vol_name=fs, sub_name=sub, group_name=grp)
            out[("subvolume", name)] = {
                "size": _bytes(info.get("bytes_quota")),
                "namespace": info.get("pool_namespace", ""),
            }
    return out


def _bytes(quota: Any) -> int:
    """A quota as the volumes module prints it: bytes, or ``"infinite"`` (0 here: none)."""
    return quota if isinstance(quota, int) else 0


def filesystem(adm: CephAdmin, c: Change) -> None:
    """Create or remove one CephFS; its pools are never swapped in place."""
    if c.action == "delete":
        if c.observed != {"registered": True}:
            adm.mon("fs fail", fs_name=c.name)
            adm.mon("fs rm", fs_name=c.name, yes_i_really_mean_it=True)
    elif c.action == "create":
        (data,) = c.desired["data_pools"]
        adm.mon("fs new", fs_name=c.name, metadata=c.desired["metadata_pool"], data=data)
    else:
        raise DeployError(
            f"CephFS {c.name} uses other pools than the blueprint says; Attonix does not move "
            "a filesystem between pools",
            hint="Restore its pools by hand, or move the data to a new filesystem pool.",
        )


def group(adm: CephAdmin, c: Change) -> None:
    """Create, resize or remove one subvolume group (removed once its subvolumes are)."""
    fs, name = c.name.split("/")
    if c.action == "delete":
        if c.observed != {"registered": True}:
            adm.mon("fs subvolumegroup rm", vol_name=fs, group_name=name)
        return
    quota = c.desired["quota"]
    if c.action == "create":
        sized = {"size": quota} if quota else {}
        adm.mon("fs subvolumegroup create", vol_name=fs, group_name=name, **sized)
    else:
        # A quota holds no data: lowered or lifted like a subvolume's ("inf" is none).
        size = str(quota) if quota else "inf"
        adm.mon("fs subvolumegroup resize", vol_name=fs, group_name=name, new_size=size)


def subvolume(adm: CephAdmin, c: Change) -> None:
    """Create, resize or remove one subvolume."""
    fs, grp, name = c.name.split("/")
    if c.action == "delete":
        if c.observed != {"registered": True}:
            adm.mon("fs subvolume rm", vol_name=fs, sub_name=name, group_name=grp)
        return
    size = c.desired["size"]
    if c.action == "create":
        adm.mon(
            "fs subvolume create",
            vol_name=fs,
            sub_name=name,
            size=size,
            group_name=grp,
            namespace_isolated=True,
        )
    elif (c.observed or {}).get("namespace") != c.desired["namespace"]:
        raise DeployError(
            f"subvolume {c.name} is not in its own RADOS namespace "
            f"{c.desired['namespace']}; a service key would not reach its data",
            hint="Attonix does not move data between namespaces: copy it into a new subvolume.",
        )
    else:
        adm.mon(
            "fs subvolume resize", vol_name=fs, sub_name=name, new_size=str(size), group_name=grp
        )
