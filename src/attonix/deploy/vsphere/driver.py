"""Converges a vCenter towards the ``vsphere`` target's spec, through pyvmomi.

``plan`` reads the live cluster, folders, VMs and DRS rules and compares them with the spec:
cluster HA/DRS settings, one folder per path, one VM per spec entry (size, folder, network,
encryption, guest data), where the VMs of each anti-affinity group run (one per host), and
one DRS rule per group. ``apply`` clones each missing VM from its template onto the host the
plan chose, marks it with the ownership attribute, then resizes it, attaches it to the
blueprint's network, sets its ``guestinfo`` (the cloud-init data it boots with), encrypts it
when asked, and powers it on; it then moves VMs that share a host with another of their group,
sets the DRS rules and verifies, from vCenter's own inventory, that no mandatory rule is
broken. VMs that carry the blueprint's ownership attribute but left the spec are deleted; a
VM with a wanted name but no ownership mark is never adopted or touched.

VM encryption needs a key provider in vCenter: when the blueprint asks for encryption and
vCenter has none, the plan says so and nothing is changed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from attonix.blueprint.model import Blueprint, VSphere
from attonix.deploy.base import (
    Change,
    DeployError,
    Plan,
    Progress,
    Result,
    ServiceStatus,
    compare,
    no_progress,
)
from attonix.deploy.connections import Connection, ConnectionError_
from attonix.deploy.secrets import SecretSource
from attonix.deploy.state import TargetLock, state_dir
from attonix.deploy.vsphere import _inventory as inv
from attonix.deploy.vsphere import placement
from attonix.deploy.vsphere.desired import Desired, WantedGroup, WantedVm, with_guest_data
from attonix.render.base import Artifact
from attonix.render.vsphere import Rendered, rendered

_ORDER = {"cluster": 0, "folder": 1, "vm": 2, "placement": 3, "rule": 4}


@dataclass(frozen=True, slots=True)
class VmPayload:
    """What apply needs for a ``vm`` change: the wanted VM and, for a clone, its host."""

    vm: WantedVm
    host: str | None


class VSphereDriver:
    """Plan, apply, status and destroy for one ``storage.vsphere`` entry of a blueprint."""

    target: ClassVar[str] = "vsphere"

    def __init__(
        self,
        blueprint: Blueprint,
        *,
        cluster: str,
        secrets: SecretSource,
        connection: Connection | None = None,
    ) -> None:
        entries = {v.name: v for v in blueprint.storage.vsphere}
        self.vc: VSphere = entries[self.pick(blueprint, cluster)]
        self.cluster = self.vc.name
        self._bp = blueprint
        self._secrets = secrets
        self.connection = connection
        vsphere = connection.vsphere if connection is not None else None
        # Without a connection, vCenter is the blueprint's host name, checked against the
        # system's trust store.
        self._endpoint = (
            inv.Endpoint.parse(vsphere.url, ca=vsphere.ca, verify=vsphere.verify_tls)
            if vsphere is not None
            else inv.Endpoint.parse(self.vc.vcenter)
        )

    @classmethod
    def pick(cls, blueprint: Blueprint, name: str | None) -> str:
        """The ``storage.vsphere`` entry to work on: ``name``, or the only one there is."""
        names = [v.name for v in blueprint.storage.vsphere]
        if name is not None and name not in names:
            raise DeployError(
                f"the blueprint has no vSphere entry named {name!r}",
                hint=f"storage.vsphere entries: {', '.join(names) or 'none'}.",
            )
        if name is not None:
            return name
        if len(names) == 1:
            return names[0]
        if not names:
            raise DeployError(
                "the blueprint declares no vSphere entry",
                hint="Add one under storage.vsphere, or pick another --target.",
            )
        raise DeployError(
            f"the blueprint has {len(names)} vSphere entries: {', '.join(names)}",
            hint="Choose one with --cluster.",
        )

    @property
    def endpoint(self) -> str:
        """The vCenter this driver touches, in words (for plans, logs, the console)."""
        where = str(self._endpoint)
        vsphere = self.connection.vsphere if self.connection is not None else None
        if vsphere is None:
            return f"{where} (credentials secret {self.vc.credentials_secret})"
        return f"{where} as {vsphere.username}"

    def lock(self) -> TargetLock:
        """The lock keeping two applies (or an apply and a destroy) of this vCenter apart."""
        return TargetLock(state_dir(), target=self.target, cluster=self.cluster)

    def check_connection(self) -> None:
        """Log in and out: unreachable vCenter, untrusted certificate or refused credentials
        fail here, naming the vSphere entry."""
        with self._session():
            pass

    # ------------------------------------------------------------------ helpers

    def desired(self) -> list[Artifact]:
        """The spec artifact of this vCenter."""
        return [self._rendered().file]

    def _rendered(self) -> Rendered:
        return rendered(self._bp)[self.vc.name]

    def _desired(self) -> Desired:
        """The renderer's desired state of this vCenter, with each VM's guest data."""
        return with_guest_data(self._bp, self._rendered().state)

    def _login(self) -> tuple[str, str]:
        """User and password: the connection's (password from its environment variable),
        else the blueprint's credentials secret."""
        endpoint = self.connection.vsphere if self.connection is not None else None
        if endpoint is None:
            creds = self._secrets.get(self.vc.credentials_secret)
            return creds.get("username", ""), creds.get("password", "")
        if endpoint.password_file is not None:
            return endpoint.username, endpoint.password_file.read_text(encoding="utf-8").strip()
        password = os.environ.get(endpoint.password_env or "")
        if not password:
            raise ConnectionError_(
                f"cluster {self.cluster!r}: the environment variable {endpoint.password_env} "
                "holding the vCenter password is not set",
                hint="Export it before running Attonix, or fix password_env in the "
                "connections file.",
            )
        return endpoint.username, password

    @contextmanager
    def _session(self) -> Iterator[tuple[Any, Any]]:
        user, password = self._login()
        si = inv.connect(
            self._endpoint,
            user=user,
            password=password,
            cluster=self.cluster,
        )
        try:
            content = si.RetrieveContent()
            yield content, inv.datacenter(content, self.vc.datacenter)
        finally:
            inv.disconnect(si)

    def _cluster(self, content: Any, dc: Any) -> Any:
        vim, _, _ = inv.vmodl()
        return inv.by_name(
            content, dc.hostFolder, vim.ClusterComputeResource, self.vc.cluster, what="cluster"
        )

    def _vms(self, content: Any, dc: Any) -> dict[str, Any]:
        vim, _, _ = inv.vmodl()
        return {
            vm.name: vm
            for vm in inv.children(content, dc.vmFolder, vim.VirtualMachine)
            if not vm.config.template
        }

    def _network(self, dc: Any, name: str) -> Any:
        found = inv.networks(dc).get(name)
        if found is None:
            raise DeployError(
                f"vCenter has no network {name!r} in datacenter {self.vc.datacenter}",
                hint=f"Fix storage.vsphere[{self.vc.name}].network, or create the port group.",
            )
        return found

    def _refuse_encryption(self, content: Any, want: Desired) -> None:
        if want.encryption and want.vms and not inv.encryption_available(content):
            raise DeployError(
                f"vSphere entry {self.vc.name!r} asks for VM encryption (vm_encryption: "
                f"true), but vCenter at {self._endpoint.host} has no key provider to encrypt "
                "VMs with; nothing was changed",
                hint="Configure a key provider (KMS) in vCenter and make it the default, or set "
                "vm_encryption: false for this entry (policy reports it as a finding).",
            )

    # ------------------------------------------------------------------ plan

    def plan(self) -> Plan[VmPayload | None]:
        """Compare the desired state with the live vCenter; change nothing."""
        want = self._desired()
        changes: list[Change[VmPayload | None]] = []
        with self._session() as (content, dc):
            self._refuse_encryption(content, want)
            self._network(dc, want.network)
            cluster = self._cluster(content, dc)
            key = inv.owner_key(content, want.owner_attribute, create=False)
            live = self._vms(content, dc)
            changes.append(
                compare(
                    "cluster",
                    self.vc.cluster,
                    desired=want.cluster_settings,
                    observed=inv.cluster_view(cluster),
                )
            )
            for path in want.folders:
                present = inv.find_folder(dc, path) is not None
                changes.append(
                    compare(
                        "folder",
                        path,
                        desired={"path": path},
                        observed={"path": path} if present else None,
                    )
                )
            hosts = {
                name: (obj.runtime.host.name if obj.runtime.host is not None else None)
                for name, obj in live.items()
            }
            placed: dict[str, str] = {}
            for group in want.groups:
                changes += self._placement(group, hosts=hosts, cluster=cluster, placed=placed)
            wanted = {vm.name: vm for vm in want.vms}
            for name, vm in wanted.items():
                obj = live.get(name)
                if obj is not None and inv.owner_of(obj, key) != want.owner:
                    raise DeployError(
                        f"a VM named {name!r} exists in {self.vc.datacenter} but is not owned by "
                        f"blueprint {want.owner!r}",
                        hint="Rename or remove that VM, or rename the VM group in the blueprint.",
                    )
                observed = inv.vm_view(dc, obj) if obj is not None else None
                payload = VmPayload(vm=vm, host=placed.get(name))
                changes.append(
                    compare("vm", name, desired=vm.view(), observed=observed, payload=payload)
                )
            for name in sorted(live):
                if name not in wanted and inv.owner_of(live[name], key) == want.owner:
                    changes.append(
                        compare("vm", name, desired=None, observed=inv.vm_view(dc, live[name]))
                    )
            existing = inv.rules(cluster)
            for group in want.groups:
                if group.rule is None:
                    continue
                rule = {
                    "type": "anti-affinity",
                    "enabled": group.rule.enabled,
                    "mandatory": group.rule.mandatory,
                    "vms": sorted(group.vms),
                }
                have = existing.get(group.rule.name)
                seen = None
                if have is not None:
                    seen = {
                        "type": "anti-affinity",
                        "enabled": bool(have.enabled),
                        "mandatory": bool(have.mandatory),
                        "vms": sorted(v.name for v in have.vm or []),
                    }
                changes.append(compare("rule", group.rule.name, desired=rule, observed=seen))
        changes.sort(key=lambda c: (_ORDER[c.kind], c.action != "delete", c.name))
        return Plan(target=self.target, cluster=self.cluster, changes=tuple(changes))

    def _placement(
        self,
        group: WantedGroup,
        *,
        hosts: dict[str, str | None],
        cluster: Any,
        placed: dict[str, str],
    ) -> list[Change[VmPayload | None]]:
        """The ``placement`` change of a group whose VMs may not share a host: where each VM
        runs now, and where it will run (new VMs included). Fills ``placed`` for the clones."""
        if not group.spread:
            return []
        assigned = placement.assign(
            group.vms,
            observed={vm: hosts.get(vm) for vm in group.vms},
            hosts=inv.usable_hosts(cluster),
            group=group.name,
            cluster=self.vc.cluster,
        )
        placed.update(assigned)
        observed = {vm: hosts[vm] for vm in group.vms if hosts.get(vm)}
        return [compare("placement", group.name, desired=assigned, observed=observed or None)]

    # ------------------------------------------------------------------ apply

    def apply(
        self,
        plan: Plan[VmPayload | None],
        progress: Progress = no_progress,
        *,
        timeout: float = 300,
    ) -> Result:
        """Carry out ``plan``: cluster settings, folders, VMs, placement, DRS rules; then
        verify that every mandatory anti-affinity rule holds in vCenter's inventory."""
        want = self._desired()
        result = Result(target=self.target, cluster=self.cluster)
        pending = plan.pending
        with self._session() as (content, dc):
            self._refuse_encryption(content, want)
            cluster = self._cluster(content, dc)
            key = inv.owner_key(content, want.owner_attribute, create=True)
            assert key is not None
            for i, change in enumerate(pending):
                try:
                    self._apply_one(
                        change, content=content, dc=dc, cluster=cluster, want=want, timeout=timeout
                    )
                except DeployError as exc:
                    result.error = f"{change.action} {change.key}: {exc.message}"
                    result.not_done = [c.key for c in pending[i:]]
                    return result
                progress(f"{change.action} {change.key}")
                result.done.append(change.key)
            progress("verify anti-affinity")
            broken = self._broken_rules(want, live=self._vms(content, dc))
            if broken:
                result.error = "verify: " + "; ".join(broken.values())
                result.not_done.append("verify anti-affinity")
        return result

    def _apply_one(
        self,
        change: Change[VmPayload | None],
        *,
        content: Any,
        dc: Any,
        cluster: Any,
        want: Desired,
        timeout: float,
    ) -> None:
        vim, _, _ = inv.vmodl()
        if change.kind == "cluster":
            cfg = vim.cluster.ConfigSpecEx(
                dasConfig=vim.cluster.DasConfigInfo(
                    enabled=change.desired["ha"]["enabled"],
                    hostMonitoring=change.desired["ha"]["host_monitoring"],
                    admissionControlEnabled=change.desired["ha"]["admission_control"],
                ),
                drsConfig=vim.cluster.DrsConfigInfo(
                    enabled=change.desired["drs"]["enabled"],
                    defaultVmBehavior=change.desired["drs"]["behavior"],
                ),
            )
            inv.wait(
                cluster.ReconfigureComputeResource_Task(cfg, True),
                what=f"configure cluster {cluster.name}",
                timeout=timeout,
            )
        elif change.kind == "folder":
            inv.ensure_folder(dc, change.name)
        elif change.kind == "vm":
            live = self._vms(content, dc)
            if change.action == "delete":
                _delete_vm(live[change.name], timeout=timeout)
                return
            payload = change.payload
            if payload is None:
                raise DeployError(f"the plan's change of VM {change.name} names no wanted VM")
            if change.action == "create":
                self._clone(
                    payload, content=content, dc=dc, cluster=cluster, want=want, timeout=timeout
                )
            else:
                self._converge_vm(
                    live[change.name], payload.vm, content=content, dc=dc, timeout=timeout
                )
        elif change.kind == "placement":
            live = self._vms(content, dc)
            hosts = {h.name: h for h in cluster.host}
            for vm, host in sorted(change.desired.items()):
                obj = live.get(vm)
                if obj is None or obj.runtime.host is None or obj.runtime.host.name == host:
                    continue
                move = vim.vm.RelocateSpec(pool=cluster.resourcePool, host=hosts[host])
                inv.wait(obj.RelocateVM_Task(move), what=f"move {vm} to {host}", timeout=timeout)
        elif change.kind == "rule":
            self._set_rule(change, content=content, dc=dc, cluster=cluster, timeout=timeout)

    def _clone(
        self,
        payload: VmPayload,
        *,
        content: Any,
        dc: Any,
        cluster: Any,
        want: Desired,
        timeout: float,
    ) -> None:
        vim, _, _ = inv.vmodl()
        vm = payload.vm
        template = next(
            (
                t
                for t in inv.children(content, dc.vmFolder, vim.VirtualMachine)
                if t.name == vm.template and t.config.template
            ),
            None,
        )
        if template is None:
            raise DeployError(
                f"template {vm.template!r} not found in datacenter {self.vc.datacenter}",
                hint="Create the template in vCenter (or fix the group's template name).",
            )
        datastore = inv.by_name(
            content, dc.datastoreFolder, vim.Datastore, vm.datastore, what="datastore"
        )
        hosts = {h.name: h for h in cluster.host}
        host = hosts[payload.host] if payload.host else min(cluster.host, key=lambda h: h.name)
        folder = inv.ensure_folder(dc, vm.folder)
        clone = vim.vm.CloneSpec(
            location=vim.vm.RelocateSpec(pool=cluster.resourcePool, datastore=datastore, host=host),
            config=vim.vm.ConfigSpec(numCPUs=vm.cpus, memoryMB=vm.memory_mib),
            powerOn=False,
            template=False,
        )
        new = inv.wait(
            template.CloneVM_Task(folder=folder, name=vm.name, spec=clone),
            what=f"clone {vm.template} to {vm.name}",
            timeout=timeout,
        )
        # Ownership first: whatever fails next, destroy can still find this VM.
        new.setCustomValue(key=want.owner_attribute, value=want.owner)
        if new.runtime.host is None or new.runtime.host.name != host.name:
            # Not every vCenter honours the clone's placement (vcsim keeps the template's
            # host): move it explicitly, so anti-affinity holds before DRS runs.
            move = vim.vm.RelocateSpec(pool=cluster.resourcePool, host=host)
            inv.wait(
                new.RelocateVM_Task(move), what=f"move {vm.name} to {host.name}", timeout=timeout
            )
        # The clone spec is a request some vCenters (and vcsim) take only in part: bring the
        # clone to the wanted size, network and guest data while it is still powered off.
        self._converge_vm(new, vm, content=content, dc=dc, timeout=timeout)
        inv.wait(new.PowerOnVM_Task(), what=f"power on {vm.name}", timeout=timeout)

    def _converge_vm(
        self, obj: Any, vm: WantedVm, *, content: Any, dc: Any, timeout: float
    ) -> None:
        """Bring an existing VM to ``vm``: folder, size, disk, network, guest data and
        encryption, powering it off only for what needs it (size, encryption)."""
        vim, _, _ = inv.vmodl()
        seen = inv.vm_view(dc, obj)
        want = vm.view()
        if seen["folder"] != vm.folder:
            folder = inv.ensure_folder(dc, vm.folder)
            inv.wait(folder.MoveIntoFolder_Task([obj]), what=f"move {obj.name}", timeout=timeout)
        if seen["encrypted"] and not vm.encrypted:
            raise DeployError(
                f"VM {vm.name} is encrypted and the blueprint no longer asks for encryption; "
                "Attonix does not decrypt VMs",
                hint="Set vm_encryption: true again, or decrypt the VM in vCenter yourself.",
            )
        cold = (seen["cpus"], seen["memory_mib"]) != (vm.cpus, vm.memory_mib) or (
            vm.encrypted and not seen["encrypted"]
        )
        cfg = vim.vm.ConfigSpec()
        if seen["networks"] != want["networks"]:
            cfg.deviceChange = inv.nic_changes(obj, self._network(dc, vm.network))
        if seen["guestinfo"] != want["guestinfo"]:
            cfg.extraConfig = [
                vim.option.OptionValue(key=k, value=v) for k, v in sorted(vm.guestinfo().items())
            ]
        was_on = obj.runtime.powerState == vim.VirtualMachinePowerState.poweredOn
        if cold:
            # CPU and memory hot-add are off on hardened templates, and only a powered-off VM
            # can be encrypted: change these powered off.
            cfg.numCPUs, cfg.memoryMB = vm.cpus, vm.memory_mib
            if vm.encrypted and not seen["encrypted"]:
                cfg.crypto = _encrypt_spec(content, obj)
            if was_on:
                inv.wait(obj.PowerOffVM_Task(), what=f"power off {obj.name}", timeout=timeout)
        if cfg.deviceChange or cfg.extraConfig or cold:
            inv.wait(obj.ReconfigVM_Task(cfg), what=f"reconfigure {obj.name}", timeout=timeout)
        if cold and was_on:
            inv.wait(obj.PowerOnVM_Task(), what=f"power on {obj.name}", timeout=timeout)
        _grow_disk(obj, vm.disk_gib, timeout=timeout)

    def _set_rule(
        self,
        change: Change[VmPayload | None],
        *,
        content: Any,
        dc: Any,
        cluster: Any,
        timeout: float,
    ) -> None:
        vim, _, _ = inv.vmodl()
        live = self._vms(content, dc)
        info = vim.cluster.AntiAffinityRuleSpec(
            name=change.name,
            enabled=change.desired["enabled"],
            mandatory=change.desired["mandatory"],
            vm=[live[n] for n in change.desired["vms"] if n in live],
        )
        existing = inv.rules(cluster).get(change.name)
        op = "add"
        if existing is not None:
            info.key, op = existing.key, "edit"
        cfg = vim.cluster.ConfigSpecEx(rulesSpec=[vim.cluster.RuleSpec(operation=op, info=info)])
        inv.wait(
            cluster.ReconfigureComputeResource_Task(cfg, True),
            what=f"{op} DRS rule {change.name}",
            timeout=timeout,
        )

    def _broken_rules(self, want: Desired, *, live: dict[str, Any]) -> dict[str, str]:
        """Group name -> what breaks its mandatory anti-affinity rule, from the live hosts."""
        out: dict[str, str] = {}
        for group in want.groups:
            if not group.spread or group.rule is None:
                continue
            hosts = {
                vm: live[vm].runtime.host.name
                for vm in group.vms
                if vm in live and live[vm].runtime.host is not None
            }
            shared = placement.shared_hosts(hosts)
            if shared:
                out[group.name] = placement.describe_shared(group.rule.name, shared)
        return out

    # ------------------------------------------------------------------ status / destroy

    def status(self) -> list[ServiceStatus]:
        """Per VM group: desired VMs, VMs powered on, VMs powered on with a green status, and
        a broken mandatory anti-affinity rule as the reason the group is not converged."""
        vim, _, _ = inv.vmodl()
        want = self._desired()
        out: list[ServiceStatus] = []
        with self._session() as (content, dc):
            live = self._vms(content, dc)
            broken = self._broken_rules(want, live=live)
            by_name = {vm.name: vm for vm in want.vms}
            for group in want.groups:
                objs = [live[n] for n in group.vms if n in live]
                on = [
                    o
                    for o in objs
                    if o.runtime.powerState == vim.VirtualMachinePowerState.poweredOn
                ]
                healthy = [o for o in on if o.overallStatus in ("green", "gray")]
                missing = len(group.vms) - len(objs)
                drift = any(inv.vm_view(dc, o) != by_name[o.name].view() for o in objs)
                out.append(
                    ServiceStatus(
                        name=group.name,
                        desired=len(group.vms),
                        running=len(on),
                        healthy=len(healthy),
                        message=f"{missing} VM(s) missing" if missing else "",
                        failure="unschedulable" if group.name in broken else None,
                        reason=broken.get(group.name, ""),
                        drift=drift,
                    )
                )
        return out

    def _owned(self, content: Any, dc: Any, want: Desired) -> dict[str, Any]:
        key = inv.owner_key(content, want.owner_attribute, create=False)
        return {
            n: o for n, o in self._vms(content, dc).items() if inv.owner_of(o, key) == want.owner
        }

    def removals(self) -> list[str]:
        """What :meth:`destroy` would remove now (reads only)."""
        want = self._desired()
        with self._session() as (content, dc):
            owned = self._owned(content, dc, want)
            rules = _owned_rules(self._cluster(content, dc), owned)
            return [f"rule/{r.name}" for r in rules] + [f"vm/{n}" for n in sorted(owned)]

    def destroy(self, progress: Progress = no_progress) -> Result:
        """Delete every VM marked as owned by the blueprint, and the DRS rules naming them."""
        want = self._desired()
        result = Result(target=self.target, cluster=self.cluster)
        vim, _, _ = inv.vmodl()
        with self._session() as (content, dc):
            cluster = self._cluster(content, dc)
            owned = self._owned(content, dc, want)
            for rule in _owned_rules(cluster, owned):
                cfg = vim.cluster.ConfigSpecEx(
                    rulesSpec=[vim.cluster.RuleSpec(operation="remove", removeKey=rule.key)]
                )
                inv.wait(
                    cluster.ReconfigureComputeResource_Task(cfg, True),
                    what=f"remove DRS rule {rule.name}",
                )
                result.done.append(f"rule/{rule.name}")
                progress(f"delete rule/{rule.name}")
            for name in sorted(owned):
                try:
                    _delete_vm(owned[name], timeout=300)
                except DeployError as exc:
                    result.error = str(exc)
                    result.not_done.append(f"vm/{name}")
                    continue
                result.done.append(f"vm/{name}")
                progress(f"delete vm/{name}")
        return result


def _owned_rules(cluster: Any, owned: dict[str, Any]) -> list[Any]:
    """The cluster's DRS rules whose every VM is one the blueprint owns."""
    out = []
    for rule in inv.rules(cluster).values():
        members = {v.name for v in rule.vm or []} if hasattr(rule, "vm") else set()
        if members and members <= set(owned):
            out.append(rule)
    return out


def _encrypt_spec(content: Any, vm: Any) -> Any:
    """A crypto spec encrypting ``vm`` with a new key from vCenter's default key provider."""
    vim, _, _ = inv.vmodl()
    key = content.cryptoManager.GenerateKey(keyProvider=None)
    if not key.success:
        raise DeployError(
            f"vCenter could not generate an encryption key for {vm.name}",
            command=("GenerateKey",),
            stderr=str(key.reason or ""),
        )
    return vim.encryption.CryptoSpecEncrypt(cryptoKeyId=key.keyId)


def _grow_disk(vm: Any, gib: int, *, timeout: float) -> None:
    vim, _, _ = inv.vmodl()
    disks = [d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualDisk)]
    want = gib * 1024 * 1024
    # Disks only grow: shrinking a guest file system from outside would corrupt it.
    if not disks or disks[0].capacityInKB >= want:
        return
    disk = disks[0]
    disk.capacityInKB = want
    edit = vim.vm.device.VirtualDeviceSpec(
        operation=vim.vm.device.VirtualDeviceSpec.Operation.edit, device=disk
    )
    inv.wait(
        vm.ReconfigVM_Task(vim.vm.ConfigSpec(deviceChange=[edit])),
        what=f"grow disk of {vm.name}",
        timeout=timeout,
    )


def _delete_vm(vm: Any, *, timeout: float) -> None:
    vim, _, _ = inv.vmodl()
    name = vm.name  # read before Destroy_Task: afterwards the object is gone
    if vm.runtime.powerState == vim.VirtualMachinePowerState.poweredOn:
        inv.wait(vm.PowerOffVM_Task(), what=f"power off {name}", timeout=timeout)
    inv.wait(vm.Destroy_Task(), what=f"delete {name}", timeout=timeout)
