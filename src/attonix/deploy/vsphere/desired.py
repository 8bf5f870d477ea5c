"""The typed desired state of one vCenter: the ``vsphere`` renderer's state (handed over next
to its spec file, never read back from it), plus the guest data each VM boots with (the
``cloud-init`` target's user-data and meta-data).

Guest data goes to the VM as VMware ``guestinfo`` properties, which cloud-init's VMware data
source reads at first boot: ``guestinfo.userdata`` and ``guestinfo.metadata``, base64-encoded,
each with its ``.encoding`` key. Plans compare digests of them, never their text.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from attonix.blueprint.model import Blueprint
from attonix.render.cloudinit import meta_data, user_data
from attonix.render.vsphere import Group, Vcenter

USERDATA = "guestinfo.userdata"
METADATA = "guestinfo.metadata"
ENCODING = "base64"


@dataclass(frozen=True, slots=True)
class WantedVm:
    """One VM as the blueprint wants it, with the guest data it boots with."""

    name: str
    group: str
    folder: str
    template: str
    datastore: str
    network: str
    cpus: int
    memory_mib: int
    disk_gib: int
    encrypted: bool
    #: The blueprint host whose cloud-init data this VM carries (None: meta-data only).
    host: str | None
    userdata: str | None
    metadata: str

    def guestinfo(self) -> dict[str, str]:
        """The ``guestinfo`` keys to set: base64 of the user-data and meta-data, and their
        encodings; an empty user-data value removes one left from earlier."""
        out = {METADATA: _b64(self.metadata), f"{METADATA}.encoding": ENCODING}
        if self.userdata is not None:
            out |= {USERDATA: _b64(self.userdata), f"{USERDATA}.encoding": ENCODING}
        else:
            out |= {USERDATA: "", f"{USERDATA}.encoding": ""}
        return out

    def view(self) -> dict[str, Any]:
        """The comparable view (same keys as the observed view of a live VM)."""
        info = self.guestinfo()
        return {
            "folder": self.folder,
            "cpus": self.cpus,
            "memory_mib": self.memory_mib,
            "disk_gib": self.disk_gib,
            "networks": [self.network],
            "encrypted": self.encrypted,
            "guestinfo": {
                "userdata": digest(info[USERDATA]),
                "metadata": digest(info[METADATA]),
            },
        }


@dataclass(frozen=True, slots=True)
class Desired:
    """Everything one vCenter entry asks for."""

    name: str
    datacenter: str
    cluster: str
    network: str
    owner_attribute: str
    owner: str
    cluster_settings: dict[str, Any]
    encryption: bool
    folders: tuple[str, ...]
    groups: tuple[Group, ...]
    vms: tuple[WantedVm, ...]

    def group(self, name: str) -> Group:
        """The group called ``name``."""
        return next(g for g in self.groups if g.name == name)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def digest(value: str) -> str | None:
    """``sha256:`` and the first 16 hex digits of ``value`` (None for an empty value)."""
    if not value:
        return None
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:16]


def with_guest_data(bp: Blueprint, want: Vcenter) -> Desired:
    """The renderer's desired state of one vCenter, each VM with the guest data it boots
    with: its host's cloud-init user-data and meta-data, or meta-data naming it."""
    hosts = {h.name: h for h in bp.hosts}
    vms: list[WantedVm] = []
    for vm in want.vms:
        host = hosts.get(vm.cloud_init) if vm.cloud_init else None
        meta = (
            meta_data(bp, host)
            if host is not None
            else {"instance-id": f"{bp.metadata.name}-{vm.name}", "local-hostname": vm.name}
        )
        vms.append(
            WantedVm(
                name=vm.name,
                group=vm.group,
                folder=vm.folder,
                template=vm.template,
                datastore=vm.datastore,
                network=vm.network,
                cpus=vm.cpus,
                memory_mib=vm.memory_mib,
                disk_gib=vm.disk_gib,
                encrypted=vm.encrypted,
                host=host.name if host is not None else None,
                userdata=user_data(bp, host) if host is not None else None,
                metadata=json.dumps(meta, sort_keys=True),
            )
        )
    return Desired(
        name=want.name,
        datacenter=want.datacenter,
        cluster=want.cluster,
        network=want.network,
        owner_attribute=want.owner_attribute,
        owner=want.owner,
        cluster_settings=want.cluster_settings,
        encryption=want.encryption,
        folders=want.folders,
        groups=want.groups,
        vms=tuple(vms),
    )
