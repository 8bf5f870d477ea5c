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

from dataclasses import dataclass
from typing import Any

from attonix.blueprint.model import Blueprint, VSphere, VSphereVmGroup
from attonix.render.base import Artifact
from attonix.render.labels import BLUEPRINT, ENVIRONMENT, MANAGED_BY, MANAGER

SPEC_KIND = "VSphereSpec"
#: The custom attribute (vCenter "custom field") that marks a VM as owned by a blueprint.
OWNER_ATTRIBUTE = BLUEPRINT
#: The VM storage policy vSphere ships for VM encryption (needs a key provider in vCenter).
ENCRYPTION_POLICY = "VM Encryption Policy"

__all__ = [
    "ENCRYPTION_POLICY",
    "OWNER_ATTRIBUTE",
    "SPEC_KIND",
    "Group",
    "Rendered",
    "Rule",
    "Vcenter",
    "Vm",
    "render",
    "rendered",
    "spec",
    "state",
    "vm_names",
]


def vm_names(group: VSphereVmGroup) -> list[str]:
    """The VM names of a group: ``<group>-01`` … (zero-padded to at least two digits)."""
    width = max(2, len(str(group.count)))
    return [f"{group.name}-{i:0{width}d}" for i in range(1, group.count + 1)]


def _folder(group: VSphereVmGroup, bp: Blueprint) -> str:
    # Without a folder the group still gets one of its own, below the blueprint's name.
    return group.folder.strip("/") or f"attonix/{bp.metadata.name}"


@dataclass(frozen=True, slots=True)
class Rule:
    """The DRS anti-affinity rule of a VM group."""

    name: str
    enabled: bool
    mandatory: bool


@dataclass(frozen=True, slots=True)
class Group:
    """A VM group: its folder, its VMs and its rule (none for a group of one)."""

    name: str
    folder: str
    vms: tuple[str, ...]
    rule: Rule | None

    @property
    def spread(self) -> bool:
        """True when no two of its VMs may share a host."""
        return self.rule is not None and self.rule.mandatory and self.rule.enabled


@dataclass(frozen=True, slots=True)
class Vm:
    """One VM: template, size, place, and the blueprint host whose cloud-init data it boots
    with (``cloud_init``; None: meta-data naming it only)."""

    name: str
    group: str
    folder: str
    template: str
    cpus: int
    memory_mib: int
    disk_gib: int
    datastore: str
    network: str
    encrypted: bool
    cloud_init: str | None


@dataclass(frozen=True, slots=True)
class Vcenter:
    """The desired state of one vCenter, as the driver converges it (the spec file's facts)."""

    name: str
    vcenter: str
    datacenter: str
    credentials_secret: str
    owner_attribute: str
    owner: str
    cluster: str
    ha: bool
    drs: bool
    encryption: bool
    datastore: str
    network: str
    folders: tuple[str, ...]
    groups: tuple[Group, ...]
    vms: tuple[Vm, ...]

    @property
    def cluster_settings(self) -> dict[str, Any]:
        """The cluster's HA and DRS settings, as the spec file and the plan show them."""
        return {
            "ha": {
                "enabled": self.ha,
                "host_monitoring": "enabled" if self.ha else "disabled",
                "admission_control": self.ha,
            },
            "drs": {"enabled": self.drs, "behavior": "fullyAutomated" if self.drs else "manual"},
        }

    def group(self, name: str) -> Group:
        """The group called ``name``."""
        return next(g for g in self.groups if g.name == name)


@dataclass(frozen=True, slots=True)
class Rendered:
    """The spec file of one vCenter, with its desired state."""

    file: Artifact
    state: Vcenter


def state(bp: Blueprint, vc: VSphere) -> Vcenter:
    """The desired state of one vCenter."""
    groups: list[Group] = []
    vms: list[Vm] = []
    hosts = {h.name for h in bp.hosts}
    for g in vc.vms:
        names = vm_names(g)
        # Mandatory: DRS and HA never place two of them on one host, even under load.
        rule = Rule(f"attonix-{g.name}-anti-affinity", True, True) if len(names) > 1 else None
        groups.append(Group(g.name, _folder(g, bp), tuple(names), rule))
        vms.extend(
            Vm(
                name=name,
                group=g.name,
                folder=_folder(g, bp),
                template=g.template,
                cpus=g.cpus,
                memory_mib=g.memory_gib * 1024,
                disk_gib=g.disk_gib,
                datastore=vc.datastore,
                network=vc.network,
                encrypted=vc.vm_encryption,
                cloud_init=name if name in hosts else None,
            )
            for name in names
        )
    return Vcenter(
        name=vc.name,
        vcenter=vc.vcenter,
        datacenter=vc.datacenter,
        credentials_secret=vc.credentials_secret,
        owner_attribute=OWNER_ATTRIBUTE,
        owner=bp.metadata.name,
        cluster=vc.cluster,
        ha=vc.ha_enabled,
        drs=vc.drs_enabled,
        encryption=vc.vm_encryption,
        datastore=vc.datastore,
        network=vc.network,
        folders=tuple(sorted({_folder(g, bp) for g in vc.vms})),
        groups=tuple(groups),
        vms=tuple(vms),
    )


def _spec(bp: Blueprint, want: Vcenter) -> dict[str, Any]:
    """The spec file of a vCenter's desired state, as plain JSON data."""
    groups = [
        {
            "name": g.name,
            "folder": g.folder,
            "vms": list(g.vms),
            "rule": None
            if g.rule is None
            else {
                "name": g.rule.name,
                "type": "anti-affinity",
                "enabled": g.rule.enabled,
                "mandatory": g.rule.mandatory,
            },
        }
        for g in want.groups
    ]
    vms = [
        {
            "name": vm.name,
            "group": vm.group,
            "folder": vm.folder,
            "template": vm.template,
            "cpus": vm.cpus,
            "memory_mib": vm.memory_mib,
            "disk_gib": vm.disk_gib,
            "datastore": vm.datastore,
            "network": vm.network,
            "encrypted": vm.encrypted,
            "cloud_init": vm.cloud_init,
        }
        for vm in want.vms
    ]
    return {
        "apiVersion": bp.api_version,
        "kind": SPEC_KIND,
        "name": want.name,
        "vcenter": want.vcenter,
        "datacenter": want.datacenter,
        "credentials_secret": want.credentials_secret,
        "owner": {
            "attribute": want.owner_attribute,
            "value": want.owner,
            "labels": {
                MANAGED_BY: MANAGER,
                BLUEPRINT: bp.metadata.name,
                ENVIRONMENT: bp.metadata.environment,
            },
        },
        "cluster": {"name": want.cluster, **want.cluster_settings},
        "encryption": {
            "enabled": want.encryption,
            "storage_policy": ENCRYPTION_POLICY if want.encryption else None,
        },
        "datastore": want.datastore,
        "network": want.network,
        "folders": list(want.folders),
        "groups": groups,
        "vms": vms,
    }


def spec(bp: Blueprint, vc: VSphere) -> dict[str, Any]:
    """The desired state of one vCenter, as plain JSON data."""
    return _spec(bp, state(bp, vc))


def rendered(bp: Blueprint) -> dict[str, Rendered]:
    """Per vCenter entry (by name): its spec file and its desired state."""
    out: dict[str, Rendered] = {}
    for vc in bp.storage.vsphere:
        want = state(bp, vc)
        path = f"vsphere/{vc.name}/spec.json"
        out[vc.name] = Rendered(Artifact("vsphere", path, _spec(bp, want), format="json"), want)
    return out


def render(bp: Blueprint) -> list[Artifact]:
    """One spec per vCenter of ``bp``."""
    return [r.file for r in rendered(bp).values()]
