"""pyvmomi plumbing for the vSphere driver: connecting, finding objects, waiting on tasks and
reading the observed state of VMs, folders, the cluster and its DRS rules.

Kept apart from the driver so that the driver reads as plan/apply over plain data.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from attonix.deploy.base import DeployError, EngineUnavailable
from attonix.deploy.connections import ConnectionError_
from attonix.deploy.vsphere.desired import digest

_INSTALL_HINT = "Install the deploy extra: pip install 'attonix[deploy]' (it pins pyvmomi)."


def vmodl() -> tuple[Any, Any, Any]:
    """``(vim, SmartStubAdapter, Disconnect)``, imported lazily: only live vSphere needs
    pyvmomi."""
    try:
        from pyVim.connect import Disconnect, SmartStubAdapter  # noqa: PLC0415
        from pyVmomi import vim  # noqa: PLC0415
    except ImportError:  # pragma: no cover - depends on the installation
        raise EngineUnavailable("pyvmomi is not installed", hint=_INSTALL_HINT) from None
    return vim, SmartStubAdapter, Disconnect


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the vCenter API answers (always HTTPS), and how its certificate is checked:
    ``ca`` is a CA bundle to trust instead of the system's store; ``verify`` False skips
    the check (a lab vCenter with a self-signed certificate)."""

    host: str
    port: int
    ca: Path | None = None
    verify: bool = True

    @classmethod
    def parse(cls, text: str, *, ca: Path | None = None, verify: bool = True) -> Endpoint:
        """``https://vcenter:443/sdk`` or a bare host name (HTTPS on 443)."""
        parts = urlsplit(text if "://" in text else f"https://{text}")
        if parts.scheme != "https":
            raise DeployError(
                f"vCenter URL {text!r} is not HTTPS",
                hint="vCenter serves its API over HTTPS: use https://host[:port]/sdk.",
            )
        return cls(host=parts.hostname or text, port=parts.port or 443, ca=ca, verify=verify)

    def __str__(self) -> str:
        return f"https://{self.host}:{self.port}"

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context checking vCenter's certificate (or not, when ``verify`` is off)."""
        if not self.verify:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        return ssl.create_default_context(cafile=str(self.ca) if self.ca else None)


def connect(endpoint: Endpoint, *, user: str, password: str, cluster: str) -> Any:
    """A logged-in service instance. Errors name the cluster and the endpoint (never the
    password) and tell refused credentials, an untrusted certificate and an unreachable
    endpoint apart by the exception's type."""
    vim, stub_adapter, _ = vmodl()
    where = str(endpoint)
    if endpoint.ca is not None and not endpoint.ca.is_file():
        raise ConnectionError_(
            f"cluster {cluster!r}: the CA file {endpoint.ca} does not exist",
            hint="Fix ca: of this vSphere connection.",
        )
    stub = None
    try:
        # Stub, then login, rather than SmartConnect: a refused login must still close the
        # connection it opened.
        stub = stub_adapter(
            host=endpoint.host, port=endpoint.port, sslContext=endpoint.ssl_context()
        )
        si = vim.ServiceInstance("ServiceInstance", stub)
        si.RetrieveContent().sessionManager.Login(user, password, None)
        return si
    except vim.fault.InvalidLogin:
        _drop(stub)
        raise ConnectionError_(
            f"cluster {cluster!r}: vCenter at {where} refused the login of user {user!r}",
            hint="Check the user name and password of this vSphere connection (or of its "
            "credentials secret).",
            command=("SmartConnect", where),
        ) from None
    except ssl.SSLCertVerificationError:
        _drop(stub)
        raise ConnectionError_(
            f"cluster {cluster!r}: vCenter at {where} presented a certificate this machine "
            "does not trust",
            hint="Add vCenter's CA to the system's trust store, or fix the URL.",
            command=("SmartConnect", where),
        ) from None
    except OSError as exc:
        _drop(stub)
        raise EngineUnavailable(
            f"cluster {cluster!r}: cannot reach vCenter at {where}: "
            f"{exc.strerror or type(exc).__name__}",
            hint="Check the URL of this vSphere connection and that vCenter answers there.",
            command=("SmartConnect", where),
        ) from None
    except Exception as exc:  # pyvmomi raises many unrelated types for one failure
        _drop(stub)
        raise EngineUnavailable(
            f"cluster {cluster!r}: cannot log in to vCenter at {where}",
            hint="Check the URL and the credentials of this vSphere connection.",
            command=("SmartConnect", where),
            stderr=type(exc).__name__ + ": " + str(getattr(exc, "msg", exc)),
        ) from None


def _drop(stub: Any) -> None:
    if stub is not None:
        stub.DropConnections()


def disconnect(si: Any) -> None:
    """Log out (best effort: a lost session is already gone)."""
    _, _, disconnect_fn = vmodl()
    # Logging out of a dead session fails, and nothing can be done about it.
    with contextlib.suppress(Exception):
        disconnect_fn(si)


def wait(task: Any, *, what: str, timeout: float = 300) -> Any:
    """Wait for a vSphere task; raise :class:`DeployError` with its fault if it fails."""
    vim, _, _ = vmodl()
    deadline = time.monotonic() + timeout
    while True:
        state = task.info.state
        if state == vim.TaskInfo.State.success:
            return task.info.result
        if state == vim.TaskInfo.State.error:
            fault = task.info.error
            raise DeployError(
                f"vSphere task failed: {what}",
                command=(what,),
                stderr=getattr(fault, "msg", "") or type(fault).__name__,
            )
        if time.monotonic() > deadline:
            raise DeployError(f"vSphere task timed out after {timeout:.0f}s: {what}")
        time.sleep(0.1)


def children(content: Any, root: Any, kind: Any) -> Iterator[Any]:
    """Every object of ``kind`` below ``root``."""
    view = content.viewManager.CreateContainerView(root, [kind], True)
    try:
        yield from list(view.view)
    finally:
        view.Destroy()


def datacenter(content: Any, name: str) -> Any:
    """The datacenter called ``name``."""
    vim, _, _ = vmodl()
    for dc in children(content, content.rootFolder, vim.Datacenter):
        if dc.name == name:
            return dc
    raise DeployError(
        f"vCenter has no datacenter {name!r}", hint="Fix storage.vsphere[].datacenter."
    )


def by_name(content: Any, root: Any, kind: Any, name: str, *, what: str) -> Any:
    """The one object of ``kind`` called ``name`` below ``root``."""
    for obj in children(content, root, kind):
        if obj.name == name:
            return obj
    raise DeployError(f"vCenter has no {what} {name!r}", hint=f"Fix the {what} in the blueprint.")


def folder_path(dc: Any, folder: Any) -> str:
    """``a/b`` for a VM folder below the datacenter's root VM folder."""
    parts: list[str] = []
    while folder is not None and folder != dc.vmFolder:
        parts.append(folder.name)
        folder = getattr(folder, "parent", None)
    return "/".join(reversed(parts))


def find_folder(dc: Any, path: str) -> Any | None:
    """The VM folder at ``path`` (``a/b``), or None when any part is missing."""
    vim, _, _ = vmodl()
    folder = dc.vmFolder
    for part in [p for p in path.split("/") if p]:
        nxt = next(
            (c for c in folder.childEntity if isinstance(c, vim.Folder) and c.name == part), None
        )
        if nxt is None:
            return None
        folder = nxt
    return folder


def ensure_folder(dc: Any, path: str) -> Any:
    """The VM folder at ``path``, created part by part where missing."""
    vim, _, _ = vmodl()
    folder = dc.vmFolder
    for part in [p for p in path.split("/") if p]:
        nxt = next(
            (c for c in folder.childEntity if isinstance(c, vim.Folder) and c.name == part), None
        )
        folder = nxt if nxt is not None else folder.CreateFolder(part)
    return folder


def owner_key(content: Any, attribute: str, *, create: bool) -> int | None:
    """The key of the custom attribute marking ownership (created on first apply)."""
    vim, _, _ = vmodl()
    cfm = content.customFieldsManager
    for field in cfm.field or []:
        if field.name == attribute and field.managedObjectType in (vim.VirtualMachine, None):
            return int(field.key)
    if not create:
        return None
    return int(cfm.AddCustomFieldDef(name=attribute, moType=vim.VirtualMachine).key)


def owner_of(vm: Any, key: int | None) -> str | None:
    """The blueprint name a VM is marked with, if any."""
    if key is None:
        return None
    for value in vm.customValue or []:
        if value.key == key:
            return str(value.value)
    return None


def extra_config(vm: Any) -> dict[str, str]:
    """A VM's advanced settings (``guestinfo.*`` among them); the last value of a key wins."""
    return {o.key: str(o.value) for o in vm.config.extraConfig or []}


def networks(dc: Any) -> dict[str, Any]:
    """The datacenter's networks (standard and distributed port groups) by name."""
    return {n.name: n for n in dc.network}


def nic_networks(dc: Any, vm: Any) -> list[str]:
    """The network of each of a VM's network cards, in device order."""
    vim, _, _ = vmodl()
    by_key = {
        n.key: n.name for n in dc.network if isinstance(n, vim.dvs.DistributedVirtualPortgroup)
    }
    out: list[str] = []
    for dev in vm.config.hardware.device:
        if not isinstance(dev, vim.vm.device.VirtualEthernetCard):
            continue
        backing = dev.backing
        if isinstance(backing, vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo):
            out.append(by_key.get(backing.port.portgroupKey, backing.port.portgroupKey))
        elif isinstance(backing, vim.vm.device.VirtualEthernetCard.NetworkBackingInfo):
            out.append(backing.deviceName or (backing.network.name if backing.network else ""))
        else:
            out.append(type(backing).__name__)
    return out


def nic_changes(vm: Any, network: Any) -> list[Any]:
    """Device changes that leave ``vm`` with one network card, attached to ``network``: the
    first card is re-attached (keeping its MAC address), any other card is removed, and a
    card is added when the VM has none."""
    vim, _, _ = vmodl()
    card = vim.vm.device.VirtualEthernetCard
    if isinstance(network, vim.dvs.DistributedVirtualPortgroup):
        backing: Any = card.DistributedVirtualPortBackingInfo(
            port=vim.dvs.PortConnection(
                portgroupKey=network.key,
                switchUuid=network.config.distributedVirtualSwitch.uuid,
            )
        )
    else:
        backing = card.NetworkBackingInfo(deviceName=network.name, network=network)
    op = vim.vm.device.VirtualDeviceSpec.Operation
    nics = [d for d in vm.config.hardware.device if isinstance(d, card)]
    if not nics:
        new = vim.vm.device.VirtualVmxnet3(
            key=-1,
            backing=backing,
            connectable=vim.vm.device.VirtualDevice.ConnectInfo(
                startConnected=True, allowGuestControl=True, connected=True
            ),
        )
        return [vim.vm.device.VirtualDeviceSpec(operation=op.add, device=new)]
    first = nics[0]
    first.backing = backing
    changes = [vim.vm.device.VirtualDeviceSpec(operation=op.edit, device=first)]
    changes += [vim.vm.device.VirtualDeviceSpec(operation=op.remove, device=d) for d in nics[1:]]
    return changes


def vm_view(dc: Any, vm: Any) -> dict[str, Any]:
    """The comparable view of a live VM (same keys as ``WantedVm.view``)."""
    vim, _, _ = vmodl()
    hw = vm.config.hardware
    disks = [d for d in hw.device if isinstance(d, vim.vm.device.VirtualDisk)]
    extra = extra_config(vm)
    return {
        "folder": folder_path(dc, vm.parent),
        "cpus": int(hw.numCPU),
        "memory_mib": int(hw.memoryMB),
        "disk_gib": int(disks[0].capacityInKB // (1024 * 1024)) if disks else 0,
        "networks": nic_networks(dc, vm),
        "encrypted": vm.config.keyId is not None,
        "guestinfo": {
            "userdata": digest(extra.get("guestinfo.userdata", "")),
            "metadata": digest(extra.get("guestinfo.metadata", "")),
        },
    }


def usable_hosts(cluster: Any) -> list[str]:
    """Names of the cluster's hosts that can run VMs (connected, not in maintenance mode)."""
    return sorted(
        h.name
        for h in cluster.host
        if h.runtime.connectionState == "connected" and not h.runtime.inMaintenanceMode
    )


def encryption_available(content: Any) -> bool:
    """Whether vCenter can encrypt VMs: it has a crypto manager with a key provider."""
    manager = content.cryptoManager
    return manager is not None and bool(manager.enabled)


def cluster_view(cluster: Any) -> dict[str, Any]:
    """HA and DRS settings of a cluster, as the spec states them."""
    cfg = cluster.configurationEx
    das, drs = cfg.dasConfig, cfg.drsConfig
    return {
        "ha": {
            "enabled": bool(das.enabled),
            "host_monitoring": das.hostMonitoring or "disabled",
            "admission_control": bool(das.admissionControlEnabled),
        },
        "drs": {
            "enabled": bool(drs.enabled),
            "behavior": str(drs.defaultVmBehavior or "manual"),
        },
    }


def rules(cluster: Any) -> dict[str, Any]:
    """The cluster's DRS rules by name."""
    return {r.name: r for r in cluster.configurationEx.rule or []}
