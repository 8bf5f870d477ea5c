"""The ``vsphere`` target: ``vsphere/<name>/spec.json``, the desired state of one vCenter.

The spec is what the vSphere driver converges: cluster HA and DRS settings, the VM folders,
one VM group per blueprint group with a DRS anti-affinity rule (so clones of a group run on
different ESXi hosts and one host failure takes at most one of them), and every VM with its
template, size, folder, network and encryption flag. A VM whose name is a host of the
blueprint's ``hosts`` boots with that host's cloud-init user data (``cloud_init`` names the
host; the driver hands the ``cloud-init`` target's user-data and meta-data to the guest
through ``guestinfo``); the other VMs get meta-data naming them only. Ownership is recorded on
each VM as a custom attribute carrying the blueprint's name, so that destroy removes only what
Attonix created. Credentials are named, never included: the driver reads them from the secret
source (or the cluster's connection).
"""

from __future__ import annotations

from typing import Any

from attonix.blueprint.model import Blueprint, VSphere, VSphereVmGroup
from attonix.render.base import Artifact
from attonix.render.labels import BLUEPRINT, ENVIRONMENT, MANAGED_BY, MANAGER

SPEC_KIND = "VSphereSpec"
#: The custom attribute (vCenter "custom field") that marks a VM as owned by a blueprint.
OWNER_ATTRIBUTE = BLUEPRINT
#: The VM storage policy vSphere ships for VM encryption (needs a key provider in vCenter).
ENCRYPTION_POLICY = "VM Encryption Policy"

__all__ = ["ENCRYPTION_POLICY", "OWNER_ATTRIBUTE", "SPEC_KIND", "render", "spec", "vm_names"]


def vm_names(group: VSphereVmGroup) -> list[str]:
    """The VM names of a group: ``<group>-01`` … (zero-padded to at least two digits)."""
    width = max(2, len(str(group.count)))
    return [f"{group.name}-{i:0{width}d}" for i in range(1, group.count + 1)]


def _folder(group: VSphereVmGroup, bp: Blueprint) -> str:
    # Without a folder the group still gets one of its own, below the blueprint's name.
    return group.folder.strip("/") or f"attonix/{bp.metadata.name}"


def spec(bp: Blueprint, vc: VSphere) -> dict[str, Any]:
    """The desired state of one vCenter, as plain JSON data."""
    groups: list[dict[str, Any]] = []
    vms: list[dict[str, Any]] = []
    hosts = {h.name for h in bp.hosts}
    for g in vc.vms:
        names = vm_names(g)
        rule: dict[str, Any] | None = None
        if len(names) > 1:
            rule = {
                "name": f"attonix-{g.name}-anti-affinity",
                "type": "anti-affinity",
                "enabled": True,
                # Mandatory: DRS and HA never place two of them on one host, even under load.
                "mandatory": True,
            }
        groups.append({"name": g.name, "folder": _folder(g, bp), "vms": names, "rule": rule})
        for name in names:
            vms.append(
                {
                    "name": name,
                    "group": g.name,
                    "folder": _folder(g, bp),
                    "template": g.template,
                    "cpus": g.cpus,
                    "memory_mib": g.memory_gib * 1024,
                    "disk_gib": g.disk_gib,
                    "datastore": vc.datastore,
                    "network": vc.network,
                    "encrypted": vc.vm_encryption,
                    "cloud_init": name if name in hosts else None,
                }
            )
    return {
        "apiVersion": bp.api_version,
        "kind": SPEC_KIND,
        "name": vc.name,
        "vcenter": vc.vcenter,
        "datacenter": vc.datacenter,
        "credentials_secret": vc.credentials_secret,
        "owner": {
            "attribute": OWNER_ATTRIBUTE,
            "value": bp.metadata.name,
            "labels": {
                MANAGED_BY: MANAGER,
                BLUEPRINT: bp.metadata.name,
                ENVIRONMENT: bp.metadata.environment,
            },
        },
        "cluster": {
            "name": vc.cluster,
            "ha": {
                "enabled": vc.ha_enabled,
                "host_monitoring": "enabled" if vc.ha_enabled else "disabled",
                "admission_control": vc.ha_enabled,
            },
            "drs": {
                "enabled": vc.drs_enabled,
                "behavior": "fullyAutomated" if vc.drs_enabled else "manual",
            },
        },
        "encryption": {
            "enabled": vc.vm_encryption,
            "storage_policy": ENCRYPTION_POLICY if vc.vm_encryption else None,
        },
        "datastore": vc.datastore,
        "network": vc.network,
        "folders": sorted({_folder(g, bp) for g in vc.vms}),
        "groups": groups,
        "vms": vms,
    }


def render(bp: Blueprint) -> list[Artifact]:
    """One spec per vCenter of ``bp``."""
    return [
        Artifact("vsphere", f"vsphere/{vc.name}/spec.json", spec(bp, vc), format="json")
        for vc in bp.storage.vsphere
    ]
