"""Converges a vCenter towards the ``vsphere`` target's spec, through pyvmomi.

The driver stands on the engine drivers' base (:class:`~attonix.deploy._engine.EngineDriver`),
like Swarm, Podman and Kubernetes: the base owns the cluster's lock around apply and destroy,
runs the driver's labelled steps and records the first failure, and waits until the engine
reports the new spec converged; :func:`attonix.deploy.converging.converge` is the one path
that plans, compares with the approved plan, applies and verifies.

``plan`` reads the live cluster, folders, VMs and DRS rules and compares them with the spec:
cluster HA/DRS settings, one folder per path, one VM per spec entry (size, folder, network,
encryption, guest data), where the VMs of each anti-affinity group run (one per host), and
one DRS rule per group. ``apply`` clones each missing VM from its template onto the host the
plan chose, marks it with the ownership attribute, then resizes it, attaches it to the
blueprint's network, sets its ``guestinfo`` (the cloud-init data it boots with), encrypts it
when asked, and powers it on; it then moves VMs that share a host with another of their group
and sets the DRS rules; its last step waits until every group is converged as vCenter's own
inventory reports it: its VMs powered on and healthy, running the blueprint's spec, and no
mandatory anti-affinity rule broken (two VMs of a group on one host fail the apply,
``unschedulable``, naming them). VMs that carry the blueprint's ownership attribute but left
the spec are deleted; a VM with a wanted name but no ownership mark is never adopted or
touched.

VM encryption needs a key provider in vCenter: when the blueprint asks for encryption and
vCenter has none, the plan says so and nothing is changed.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from attonix.blueprint.model import Blueprint, VSphere
from attonix.deploy._engine import EngineDriver
from attonix.deploy.base import (
    Change,
    DeployError,
    Plan,
    Progress,
    Result,
    ServiceStatus,
    Step,
    compare,
    no_progress,
)
from attonix.deploy.connections import Connection, ConnectionError_
from attonix.deploy.secrets import SecretSource
from attonix.deploy.vsphere import _inventory as inv
from attonix.deploy.vsphere import placement
from attonix.deploy.vsphere.desired import Desired, WantedVm, with_guest_data
from attonix.render.base import Artifact
from attonix.render.vsphere import Group, Rendered, rendered

_ORDER = {"cluster": 0, "folder": 1, "vm": 2, "placement": 3, "rule": 4}


@dataclass(frozen=True, slots=True)
class VmPayload:
    """What apply needs for a ``vm`` change: the wanted VM and, for a clone, its host."""

    vm: WantedVm
    host: str | None


@dataclass(frozen=True, slots=True)
class PlacementPayload:
    """What apply needs for a ``placement`` change: the host each VM of the group runs on."""

    hosts: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class RulePayload:
    """What apply needs for a ``rule`` change: the DRS anti-affinity rule and its VMs."""

    name: str
    enabled: bool
    mandatory: bool
    vms: tuple[str, ...]


#: The payload of a vSphere change, per kind: a VM, a group's placement, a DRS rule; cluster
#: settings, folders and deletions carry nothing.
VSpherePayload = VmPayload | PlacementPayload | RulePayload | None


class VSphereDriver(EngineDriver):
    """Plan, apply, status and destroy for one ``storage.vsphere`` entry of a blueprint."""

    target = "vsphere"

    def __init__(
        self,
        blueprint: Blueprint,
        *,
        cluster: str,
        secrets: SecretSource,
        state: Path | None = None,
        connection: Connection | None = None,
    ) -> None:
        entries = {v.name: v for v in blueprint.storage.vsphere}
        self.vc: VSphere = entries[self.pick(blueprint, cluster)]
        super().__init__(
            blueprint, cluster=self.vc.name, secrets=secrets, state=state, connection=connection
        )
        vsphere = connection.vsphere if connection is not None else None
        # Without a connection, vCenter is the blueprint's host name, checked against the
        # system's trust store.
        self._endpoint = (
            inv.Endpoint.parse(vsphere.url, ca=vsphere.ca, verify=vsphere.verify_tls)
            if vsphere is not None
            else inv.Endpoint.parse(self.vc.vcenter)
        )
        #: The session in use (content, datacenter) while one is open, shared by nested users.
        self._open: tuple[Any, Any] | None = None

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
        return rendered(self.bp)[self.vc.name]

    def _desired(self) -> Desired:
        """The renderer's desired state of this vCenter, with each VM's guest data."""
        return with_guest_data(self.bp, self._rendered().state)

    def _login(self) -> tuple[str, str]:
        """User and password: the connection's (password from its file or environment
        variable), else the blueprint's credentials secret."""
        endpoint = self.connection.vsphere if self.connection is not None else None
        if endpoint is None:
            creds = self._given_secrets.get(self.vc.credentials_secret)
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
        """``(content, datacenter)`` of a logged-in session: the one already open (an apply
        or a destroy keeps one for all its steps and its wait), else a new one for the
        duration of the block."""
        if self._open is not None:
            yield self._open
            return
        user, password = self._login()
        si = inv.connect(self._endpoint, user=user, password=password, cluster=self.cluster)
        try:
            content = si.RetrieveContent()
            self._open = content, inv.datacenter(content, self.vc.datacenter)
            yield self._open
        finally:
            self._open = None
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

    def plan(self) -> Plan[VSpherePayload]:
        """Compare the desired state with the live vCenter; change nothing."""
        want = self._desired()
        changes: list[Change[VSpherePayload]] = []
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
                wanted_rule = RulePayload(
                    name=group.rule.name,
                    enabled=group.rule.enabled,
                    mandatory=group.rule.mandatory,
                    vms=tuple(sorted(group.vms)),
                )
                have = existing.get(group.rule.name)
                seen = None
                if have is not None:
                    seen = _rule_view(
                        enabled=bool(have.enabled),
                        mandatory=bool(have.mandatory),
                        vms=sorted(v.name for v in have.vm or []),
                    )
                changes.append(
                    compare(
                        "rule",
                        group.rule.name,
                        desired=_rule_view(
                            enabled=wanted_rule.enabled,
                            mandatory=wanted_rule.mandatory,
                            vms=list(wanted_rule.vms),
                        ),
                        observed=seen,
                        payload=wanted_rule,
                    )
                )
        changes.sort(key=lambda c: (_ORDER[c.kind], c.action != "delete", c.name))
        return Plan(target=self.target, cluster=self.cluster, changes=tuple(changes))

    def _placement(
        self,
        group: Group,
        *,
        hosts: dict[str, str | None],
        cluster: Any,
        placed: dict[str, str],
    ) -> list[Change[VSpherePayload]]:
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
        return [
            compare(
                "placement",
                group.name,
                desired=assigned,
                observed=observed or None,
                payload=PlacementPayload(assigned),
            )
        ]

    # ------------------------------------------------------------------ apply

    def apply(
        self, plan: Plan, progress: Progress = no_progress, *, timeout: float = 300
    ) -> Result:
        """Carry out ``plan`` as every engine driver does (under the cluster's lock, step by
        step, then wait), in one vCenter session for all the steps and the wait."""
        with self._session():
            return super().apply(plan, progress, timeout=timeout)

    def _apply_steps(self, plan: Plan[VSpherePayload], *, timeout: float) -> list[Step]:
        """Cluster settings, folders, VMs, placement, DRS rules; then wait until every group
        is converged, which fails when vCenter's inventory breaks a mandatory rule."""
        want = self._desired()
        with self._session() as (content, _):
            self._refuse_encryption(content, want)
            # Marked before the first clone, so that destroy can find whatever follows.
            inv.owner_key(content, want.owner_attribute, create=True)
        steps: list[Step] = [
            (
                f"{change.action} {change.key}",
                partial(self._apply_one, change, want=want, timeout=timeout),
            )
            for change in plan.pending
        ]
        touched = {"vm", "placement", "rule"}
        if want.groups and any(c.kind in touched for c in plan.pending):
            names = [g.name for g in want.groups]
            steps.append(
                ("wait for the engine to converge", partial(self.wait, names, timeout=timeout))
            )
        return steps

    def _apply_one(self, change: Change[VSpherePayload], *, want: Desired, timeout: float) -> None:
        vim, _, _ = inv.vmodl()
        with self._session() as (content, dc):
            cluster = self._cluster(content, dc)
            payload = change.payload
            if change.kind == "cluster":
                settings = change.desired
                cfg = vim.cluster.ConfigSpecEx(
                    dasConfig=vim.cluster.DasConfigInfo(
                        enabled=settings["ha"]["enabled"],
                        hostMonitoring=settings["ha"]["host_monitoring"],
                        admissionControlEnabled=settings["ha"]["admission_control"],
                    ),
                    drsConfig=vim.cluster.DrsConfigInfo(
                        enabled=settings["drs"]["enabled"],
                        defaultVmBehavior=settings["drs"]["behavior"],
                    ),
                )
                inv.wait(
                    cluster.ReconfigureComputeResource_Task(cfg, True),
                    what=f"configure cluster {cluster.name}",
                    timeout=timeout,
                )
            elif change.kind == "folder":
                inv.ensure_folder(dc, change.name)
            elif change.kind == "vm" and change.action == "delete":
                _delete_vm(self._vms(content, dc)[change.name], timeout=timeout)
            elif isinstance(payload, VmPayload) and change.action == "create":
                self._clone(
                    payload, content=content, dc=dc, cluster=cluster, want=want, timeout=timeout
                )
            elif isinstance(payload, VmPayload):
                live = self._vms(content, dc)[change.name]
                self._converge_vm(live, payload.vm, content=content, dc=dc, timeout=timeout)
            elif isinstance(payload, PlacementPayload):
                self._place(payload, content=content, dc=dc, cluster=cluster, timeout=timeout)
            elif isinstance(payload, RulePayload):
                self._set_rule(payload, content=content, dc=dc, cluster=cluster, timeout=timeout)
            else:
                raise DeployError(f"the plan's change {change.key} says nothing to apply")

    def _place(
        self, payload: PlacementPayload, *, content: Any, dc: Any, cluster: Any, timeout: float
    ) -> None:
        """Move each VM of a group that does not run on its planned host there."""
        vim, _, _ = inv.vmodl()
        live = self._vms(content, dc)
        hosts = {h.name: h for h in cluster.host}
        for vm, host in sorted(payload.hosts.items()):
            obj = live.get(vm)
            if obj is None or obj.runtime.host is None or obj.runtime.host.name == host:
                continue
            move = vim.vm.RelocateSpec(pool=cluster.resourcePool, host=hosts[host])
            inv.wait(obj.RelocateVM_Task(move), what=f"move {vm} to {host}", timeout=timeout)

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
        self, rule: RulePayload, *, content: Any, dc: Any, cluster: Any, timeout: float
    ) -> None:
        vim, _, _ = inv.vmodl()
        live = self._vms(content, dc)
        info = vim.cluster.AntiAffinityRuleSpec(
            name=rule.name,
            enabled=rule.enabled,
            mandatory=rule.mandatory,
            vm=[live[n] for n in rule.vms if n in live],
        )
        existing = inv.rules(cluster).get(rule.name)
        op = "add"
        if existing is not None:
            info.key, op = existing.key, "edit"
        cfg = vim.cluster.ConfigSpecEx(rulesSpec=[vim.cluster.RuleSpec(operation=op, info=info)])
        inv.wait(
            cluster.ReconfigureComputeResource_Task(cfg, True),
            what=f"{op} DRS rule {rule.name}",
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
        return self._statuses(None)

    def _rollout(self, names: Collection[str], since: Any) -> list[ServiceStatus]:
        return self._statuses(set(names))

    def _statuses(self, names: set[str] | None) -> list[ServiceStatus]:
        vim, _, _ = inv.vmodl()
        want = self._desired()
        out: list[ServiceStatus] = []
        with self._session() as (content, dc):
            live = self._vms(content, dc)
            broken = self._broken_rules(want, live=live)
            by_name = {vm.name: vm for vm in want.vms}
            for group in want.groups:
                if names is not None and group.name not in names:
                    continue
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

    def destroy(self, progress: Progress = no_progress) -> Result:
        """Remove what the blueprint owns as every engine driver does (under the cluster's
        lock, step by step), in one vCenter session."""
        with self._session():
            return super().destroy(progress)

    def _removal_steps(self) -> list[Step]:
        """The DRS rules naming only VMs the blueprint owns, then those VMs (reads only)."""
        want = self._desired()
        with self._session() as (content, dc):
            owned = self._owned(content, dc, want)
            rules = _owned_rules(self._cluster(content, dc), owned)
        steps: list[Step] = [(f"rule/{r.name}", partial(self._remove_rule, r.name)) for r in rules]
        steps += [(f"vm/{n}", partial(self._remove_vm, n, want)) for n in sorted(owned)]
        return steps

    def _remove_rule(self, name: str) -> None:
        vim, _, _ = inv.vmodl()
        with self._session() as (content, dc):
            cluster = self._cluster(content, dc)
            rule = inv.rules(cluster).get(name)
            if rule is None:
                return
            cfg = vim.cluster.ConfigSpecEx(
                rulesSpec=[vim.cluster.RuleSpec(operation="remove", removeKey=rule.key)]
            )
            inv.wait(
                cluster.ReconfigureComputeResource_Task(cfg, True),
                what=f"remove DRS rule {name}",
            )

    def _remove_vm(self, name: str, want: Desired) -> None:
        with self._session() as (content, dc):
            # Looked up again: only a VM that still carries the blueprint's mark is deleted.
            vm = self._owned(content, dc, want).get(name)
            if vm is not None:
                _delete_vm(vm, timeout=300)


def _rule_view(*, enabled: bool, mandatory: bool, vms: list[str]) -> dict[str, Any]:
    """The comparable view of a DRS anti-affinity rule (desired and observed alike)."""
    return {"type": "anti-affinity", "enabled": enabled, "mandatory": mandatory, "vms": vms}


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
