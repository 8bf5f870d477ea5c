"""Converges a vCenter towards the ``vsphere`` target's spec, through pyvmomi.

``plan`` reads the live cluster, folders, VMs and DRS rules and compares them with the spec:
cluster HA/DRS settings, one folder per path, one VM per spec entry (cpus, memory, disk,
folder), one anti-affinity rule per group. ``apply`` clones each missing VM from its template
onto a host no other VM of its group uses, marks it with the ownership attribute, and only
then resizes and powers it on, so that an interrupted apply still leaves it destroyable.
VMs that carry the blueprint's ownership attribute but left the spec are deleted; a VM with a
wanted name but no ownership mark is never adopted or touched.

VM encryption is stated in the spec but not applied here: it needs a key provider configured
in vCenter, which this driver does not manage.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

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
from attonix.deploy.secrets import SecretSource
from attonix.deploy.vsphere import _inventory as inv
from attonix.render.base import Artifact
from attonix.render.vsphere import render as render_vsphere

_ORDER = {"cluster": 0, "folder": 1, "vm": 2, "rule": 3}


class VSphereDriver:
    """Plan, apply, status and destroy for one vCenter of a blueprint."""

    target = "vsphere"

    def __init__(
        self,
        blueprint: Blueprint,
        secrets: SecretSource,
        *,
        name: str | None = None,
        endpoint: str | None = None,
        verify_tls: bool = True,
    ) -> None:
        entries = {v.name: v for v in blueprint.storage.vsphere}
        if not entries:
            raise DeployError("the blueprint has no storage.vsphere entry")
        if name is None and len(entries) > 1:
            raise DeployError(
                "the blueprint has several vSphere entries",
                hint=f"Choose one of: {', '.join(sorted(entries))}.",
            )
        self.vc: VSphere = entries[name] if name is not None else next(iter(entries.values()))
        self.cluster = self.vc.name
        self._bp = blueprint
        self._secrets = secrets
        # An explicit endpoint (a simulator, a tunnel) overrides the vCenter host name.
        self._endpoint = inv.Endpoint.parse(endpoint or self.vc.vcenter)
        self._verify_tls = verify_tls

    # ------------------------------------------------------------------ helpers

    def desired(self) -> list[Artifact]:
        """The spec artifact of this vCenter."""
        return [
            a for a in render_vsphere(self._bp) if a.path == f"vsphere/{self.vc.name}/spec.json"
        ]

    def _spec(self, desired: Sequence[Artifact] | None) -> dict[str, Any]:
        arts = list(self.desired() if desired is None else desired)
        if len(arts) != 1 or not isinstance(arts[0].content, dict):
            raise DeployError(f"expected one vSphere spec for {self.vc.name}, got {len(arts)}")
        spec: dict[str, Any] = arts[0].content
        return spec

    @contextmanager
    def _session(self) -> Iterator[tuple[Any, Any, Any]]:
        creds = self._secrets.get(self.vc.credentials_secret)
        si = inv.connect(
            self._endpoint,
            user=creds.get("username", ""),
            password=creds.get("password", ""),
            verify_tls=self._verify_tls,
        )
        try:
            content = si.RetrieveContent()
            yield si, content, inv.datacenter(content, self.vc.datacenter)
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

    # ------------------------------------------------------------------ plan

    def plan(self, desired: Sequence[Artifact] | None = None) -> Plan:
        """Compare the spec with the live vCenter; change nothing."""
        spec = self._spec(desired)
        owner = spec["owner"]["value"]
        changes: list[Change] = []
        with self._session() as (_, content, dc):
            cluster = self._cluster(content, dc)
            key = inv.owner_key(content, spec["owner"]["attribute"], create=False)
            live = self._vms(content, dc)
            want_cluster = {"ha": spec["cluster"]["ha"], "drs": spec["cluster"]["drs"]}
            changes.append(
                compare(
                    "cluster",
                    self.vc.cluster,
                    desired=want_cluster,
                    observed=inv.cluster_view(cluster),
                )
            )
            for path in spec["folders"]:
                present = inv.find_folder(dc, path) is not None
                changes.append(
                    compare(
                        "folder",
                        path,
                        desired={"path": path},
                        observed={"path": path} if present else None,
                    )
                )
            wanted = {vm["name"]: vm for vm in spec["vms"]}
            for name, vm in wanted.items():
                view = {k: vm[k] for k in ("folder", "cpus", "memory_mib", "disk_gib")}
                obj = live.get(name)
                if obj is not None and inv.owner_of(obj, key) != owner:
                    raise DeployError(
                        f"a VM named {name!r} exists in {self.vc.datacenter} but is not owned by "
                        f"blueprint {owner!r}",
                        hint="Rename or remove that VM, or rename the VM group in the blueprint.",
                    )
                observed = inv.vm_view(dc, obj) if obj is not None else None
                changes.append(compare("vm", name, desired=view, observed=observed, payload=vm))
            for name in sorted(live):
                if name not in wanted and inv.owner_of(live[name], key) == owner:
                    changes.append(
                        compare("vm", name, desired=None, observed=inv.vm_view(dc, live[name]))
                    )
            existing = inv.rules(cluster)
            for group in spec["groups"]:
                rule = group["rule"]
                if rule is None:
                    continue
                want = {
                    "type": rule["type"],
                    "enabled": rule["enabled"],
                    "mandatory": rule["mandatory"],
                    "vms": sorted(group["vms"]),
                }
                have = existing.get(rule["name"])
                seen = None
                if have is not None:
                    seen = {
                        "type": "anti-affinity",
                        "enabled": bool(have.enabled),
                        "mandatory": bool(have.mandatory),
                        "vms": sorted(v.name for v in have.vm or []),
                    }
                changes.append(compare("rule", rule["name"], desired=want, observed=seen))
        changes.sort(key=lambda c: (_ORDER[c.kind], c.action != "delete", c.name))
        return Plan(target=self.target, cluster=self.cluster, changes=tuple(changes))

    # ------------------------------------------------------------------ apply

    def apply(
        self, plan: Plan, progress: Progress = no_progress, *, timeout: float = 300
    ) -> Result:
        """Carry out ``plan``: cluster settings, folders, VMs, then the DRS rules."""
        spec = self._spec(None)
        result = Result(target=self.target, cluster=self.cluster)
        pending = plan.pending
        with self._session() as (_, content, dc):
            cluster = self._cluster(content, dc)
            key = inv.owner_key(content, spec["owner"]["attribute"], create=True)
            assert key is not None
            for i, change in enumerate(pending):
                try:
                    self._apply_one(
                        change,
                        content=content,
                        dc=dc,
                        cluster=cluster,
                        key=key,
                        spec=spec,
                        timeout=timeout,
                    )
                except DeployError as exc:
                    result.error = str(exc)
                    result.not_done = [c.key for c in pending[i:]]
                    return result
                progress(f"{change.action} {change.key}")
                result.done.append(change.key)
        return result

    def _apply_one(
        self,
        change: Change,
        *,
        content: Any,
        dc: Any,
        cluster: Any,
        key: int,
        spec: dict[str, Any],
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
            if change.action == "create":
                self._create_vm(
                    change.payload,
                    content=content,
                    dc=dc,
                    cluster=cluster,
                    key=key,
                    live=live,
                    spec=spec,
                    timeout=timeout,
                )
            elif change.action == "update":
                self._update_vm(live[change.name], change.payload, dc=dc, timeout=timeout)
            else:
                _delete_vm(live[change.name], timeout=timeout)
        elif change.kind == "rule":
            self._set_rule(change, content=content, dc=dc, cluster=cluster, timeout=timeout)

    def _create_vm(
        self,
        vm: dict[str, Any],
        *,
        content: Any,
        dc: Any,
        cluster: Any,
        key: int,
        live: dict[str, Any],
        spec: dict[str, Any],
        timeout: float,
    ) -> None:
        vim, _, _ = inv.vmodl()
        template = next(
            (
                t
                for t in inv.children(content, dc.vmFolder, vim.VirtualMachine)
                if t.name == vm["template"] and t.config.template
            ),
            None,
        )
        if template is None:
            raise DeployError(
                f"template {vm['template']!r} not found in datacenter {self.vc.datacenter}",
                hint="Create the template in vCenter (or fix the group's template name).",
            )
        datastore = inv.by_name(
            content, dc.datastoreFolder, vim.Datastore, vm["datastore"], what="datastore"
        )
        group = next(g for g in spec["groups"] if g["name"] == vm["group"])
        host = _spread_host(cluster, [live[n] for n in group["vms"] if n in live])
        folder = inv.ensure_folder(dc, vm["folder"])
        clone = vim.vm.CloneSpec(
            location=vim.vm.RelocateSpec(pool=cluster.resourcePool, datastore=datastore, host=host),
            config=vim.vm.ConfigSpec(numCPUs=vm["cpus"], memoryMB=vm["memory_mib"]),
            powerOn=False,
            template=False,
        )
        new = inv.wait(
            template.CloneVM_Task(folder=folder, name=vm["name"], spec=clone),
            what=f"clone {vm['template']} to {vm['name']}",
            timeout=timeout,
        )
        # Ownership first: whatever fails next, destroy can still find this VM.
        new.setCustomValue(key=spec["owner"]["attribute"], value=spec["owner"]["value"])
        if new.runtime.host is None or new.runtime.host.name != host.name:
            # Not every vCenter honours the clone's placement (vcsim keeps the template's
            # host): move it explicitly, so anti-affinity holds before DRS runs.
            move = vim.vm.RelocateSpec(pool=cluster.resourcePool, host=host)
            inv.wait(
                new.RelocateVM_Task(move), what=f"move {vm['name']} to {host.name}", timeout=timeout
            )
        # The clone spec's size is a request some vCenters (and vcsim) ignore: resize it
        # explicitly while it is still powered off.
        self._update_vm(new, vm, dc=dc, timeout=timeout)
        inv.wait(new.PowerOnVM_Task(), what=f"power on {vm['name']}", timeout=timeout)

    def _update_vm(self, obj: Any, vm: dict[str, Any], *, dc: Any, timeout: float) -> None:
        vim, _, _ = inv.vmodl()
        was_on = obj.runtime.powerState == vim.VirtualMachinePowerState.poweredOn
        if inv.folder_path(dc, obj.parent) != vm["folder"]:
            folder = inv.ensure_folder(dc, vm["folder"])
            inv.wait(folder.MoveIntoFolder_Task([obj]), what=f"move {obj.name}", timeout=timeout)
        hw = obj.config.hardware
        if (hw.numCPU, hw.memoryMB) != (vm["cpus"], vm["memory_mib"]):
            # CPU and memory hot-add are off on hardened templates: resize powered off.
            if was_on:
                inv.wait(obj.PowerOffVM_Task(), what=f"power off {obj.name}", timeout=timeout)
            cfg = vim.vm.ConfigSpec(numCPUs=vm["cpus"], memoryMB=vm["memory_mib"])
            inv.wait(obj.ReconfigVM_Task(cfg), what=f"resize {obj.name}", timeout=timeout)
            if was_on:
                inv.wait(obj.PowerOnVM_Task(), what=f"power on {obj.name}", timeout=timeout)
        _grow_disk(obj, vm["disk_gib"], timeout=timeout)

    def _set_rule(
        self, change: Change, *, content: Any, dc: Any, cluster: Any, timeout: float
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

    # ------------------------------------------------------------------ status / destroy

    def status(self) -> list[ServiceStatus]:
        """Per VM group: desired VMs, VMs powered on, VMs powered on with a green status."""
        vim, _, _ = inv.vmodl()
        spec = self._spec(None)
        out: list[ServiceStatus] = []
        with self._session() as (_, content, dc):
            live = self._vms(content, dc)
            for group in spec["groups"]:
                objs = [live[n] for n in group["vms"] if n in live]
                on = [
                    o
                    for o in objs
                    if o.runtime.powerState == vim.VirtualMachinePowerState.poweredOn
                ]
                healthy = [o for o in on if o.overallStatus in ("green", "gray")]
                out.append(
                    ServiceStatus(
                        name=group["name"],
                        desired=len(group["vms"]),
                        running=len(on),
                        healthy=len(healthy),
                        message=""
                        if len(objs) == len(group["vms"])
                        else f"{len(group['vms']) - len(objs)} VM(s) missing",
                    )
                )
        return out

    def destroy(self, progress: Progress = no_progress) -> Result:
        """Delete every VM marked as owned by the blueprint, and the DRS rules naming them."""
        spec = self._spec(None)
        owner = spec["owner"]["value"]
        result = Result(target=self.target, cluster=self.cluster)
        vim, _, _ = inv.vmodl()
        with self._session() as (_, content, dc):
            key = inv.owner_key(content, spec["owner"]["attribute"], create=False)
            cluster = self._cluster(content, dc)
            owned = {
                n: o for n, o in self._vms(content, dc).items() if inv.owner_of(o, key) == owner
            }
            for rule in inv.rules(cluster).values():
                members = {v.name for v in rule.vm or []} if hasattr(rule, "vm") else set()
                if members and members <= set(owned):
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


def _spread_host(cluster: Any, siblings: list[Any]) -> Any:
    """The cluster host running the fewest VMs of the group (ties: by name), so that clones
    land on different hosts before DRS ever has to move one."""
    used: dict[str, int] = {}
    for vm in siblings:
        if vm.runtime.host is not None:
            used[vm.runtime.host.name] = used.get(vm.runtime.host.name, 0) + 1
    return min(cluster.host, key=lambda h: (used.get(h.name, 0), h.name))


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
