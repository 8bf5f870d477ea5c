"""CephFS for the ``ceph`` target: filesystems, subvolume groups and subvolumes.

A filesystem pool of the blueprint becomes a CephFS of the same name (``ceph fs new``, the
declared pool for data, ``<pool>-metadata`` for metadata); it needs a metadata server, which
the cluster runs (Attonix places no daemons here). Each service with volumes on it gets a
subvolume group ``<service>`` and per volume a namespace-isolated subvolume
``<service>-<volume>`` whose quota is the volume's size, through the manager's ``volumes``
module (``ceph fs subvolume ...``). Names below are ``<fs>``, ``<fs>/<group>`` and
``<fs>/<group>/<subvolume>``.
"""

from __future__ import annotations

from collections.abc import Set
from typing import Any

from attonix.deploy.base import Change, DeployError
from attonix.deploy.ceph.admin import CephAdmin


def observe(adm: CephAdmin, names: Set[tuple[str, ...]]) -> dict[tuple[str, str], Any]:
    """Views of the wanted or registered filesystems, groups and subvolumes that exist: one call
    for the filesystems, one per filesystem for groups, per group for subvolumes, and one per
    subvolume for its quota and namespace."""
    if not any(k in ("filesystem", "group", "subvolume") for k, _ in names):
        return {}
    out: dict[tuple[str, str], Any] = {}
    for fs in adm.ceph_json("fs", "ls") or []:
        out[("filesystem", fs["name"])] = {
            "metadata_pool": fs["metadata_pool"],
            "data_pools": list(fs["data_pools"]),
        }
    filesystems = {n for k, n in out if k == "filesystem"}
    group_names = {n for k, n in names if k == "group"}
    for fs in sorted(filesystems & {n.split("/")[0] for n in group_names}):
        for g in adm.ceph_json("fs", "subvolumegroup", "ls", fs) or []:
            out[("group", f"{fs}/{g['name']}")] = {}
    wanted_subs = {n for k, n in names if k == "subvolume"}
    for group in sorted({n.rsplit("/", 1)[0] for n in wanted_subs}):
        if ("group", group) not in out:
            continue
        fs, grp = group.split("/")
        listed = adm.ceph_json("fs", "subvolume", "ls", fs, f"--group_name={grp}") or []
        present = {s["name"] for s in listed}
        for sub in sorted(present):
            name = f"{group}/{sub}"
            if name not in wanted_subs:
                continue
            info = adm.ceph_json("fs", "subvolume", "info", fs, sub, f"--group_name={grp}")
            quota = info.get("bytes_quota", 0)
            out[("subvolume", name)] = {
                "size": quota if isinstance(quota, int) else 0,
                "namespace": info.get("pool_namespace", ""),
            }
    return out


def filesystem(adm: CephAdmin, c: Change) -> None:
    """Create or remove one CephFS; its pools are never swapped in place."""
    if c.action == "delete":
        if c.observed != {"registered": True}:
            adm.ceph("fs", "fail", c.name)
            adm.ceph("fs", "rm", c.name, "--yes-i-really-mean-it")
    elif c.action == "create":
        adm.ceph("fs", "new", c.name, c.desired["metadata_pool"], *c.desired["data_pools"])
    else:
        raise DeployError(
            f"CephFS {c.name} uses other pools than the blueprint says; Attonix does not move "
            "a filesystem between pools",
            hint="Restore its pools by hand, or move the data to a new filesystem pool.",
        )


def group(adm: CephAdmin, c: Change) -> None:
    """Create or remove one subvolume group (removed once its subvolumes are)."""
    fs, name = c.name.split("/")
    if c.action == "delete":
        if c.observed != {"registered": True}:
            adm.ceph("fs", "subvolumegroup", "rm", fs, name)
    elif c.action == "create":
        adm.ceph("fs", "subvolumegroup", "create", fs, name)


def subvolume(adm: CephAdmin, c: Change) -> None:
    """Create, resize or remove one subvolume."""
    fs, grp, name = c.name.split("/")
    if c.action == "delete":
        if c.observed != {"registered": True}:
            adm.ceph("fs", "subvolume", "rm", fs, name, f"--group_name={grp}")
        return
    size = str(c.desired["size"])
    if c.action == "create":
        adm.ceph(
            "fs",
            "subvolume",
            "create",
            fs,
            name,
            f"--size={size}",
            f"--group_name={grp}",
            "--namespace-isolated",
        )
    elif (c.observed or {}).get("namespace") != c.desired["namespace"]:
        raise DeployError(
            f"subvolume {c.name} is not in its own RADOS namespace "
            f"{c.desired['namespace']}; a service key would not reach its data",
            hint="Attonix does not move data between namespaces: copy it into a new subvolume.",
        )
    else:
        adm.ceph("fs", "subvolume", "resize", fs, name, size, f"--group_name={grp}")
