"""pyvmomi plumbing for the vSphere driver: connecting, finding objects, waiting on tasks and
reading the observed state of VMs, folders, the cluster and its DRS rules.

Kept apart from the driver so that the driver reads as plan/apply over plain data.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from attonix.deploy.base import DeployError, EngineUnavailable

_INSTALL_HINT = "Install the deploy extra: pip install 'attonix[deploy]' (it pins pyvmomi)."


def vmodl() -> tuple[Any, Any, Any]:
    """``(vim, SmartConnect, Disconnect)``, imported lazily: only live vSphere needs pyvmomi."""
    try:
        from pyVim.connect import Disconnect, SmartConnect  # noqa: PLC0415
        from pyVmomi import vim  # noqa: PLC0415
    except ImportError:  # pragma: no cover - depends on the installation
        raise EngineUnavailable("pyvmomi is not installed", hint=_INSTALL_HINT) from None
    return vim, SmartConnect, Disconnect


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where the vCenter API answers: protocol, host and port."""

    protocol: str
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        """``https://vcenter:443`` or a bare host name (HTTPS on 443)."""
        parts = urlsplit(text if "://" in text else f"https://{text}")
        protocol = parts.scheme or "https"
        port = parts.port or (443 if protocol == "https" else 80)
        return cls(protocol=protocol, host=parts.hostname or text, port=port)


def connect(endpoint: Endpoint, *, user: str, password: str, verify_tls: bool) -> Any:
    """A logged-in service instance; errors name the endpoint, never the password."""
    _, smart_connect, _ = vmodl()
    try:
        return smart_connect(
            protocol=endpoint.protocol,
            host=endpoint.host,
            port=endpoint.port,
            user=user,
            pwd=password,
            disableSslCertValidation=not verify_tls,
        )
    except Exception as exc:  # pyvmomi raises many unrelated types for one failure
        raise EngineUnavailable(
            f"cannot log in to vCenter at {endpoint.protocol}://{endpoint.host}:{endpoint.port}",
            hint="Check the address and the credentials secret of this vSphere entry.",
            command=("SmartConnect", endpoint.host),
            stderr=type(exc).__name__ + ": " + str(getattr(exc, "msg", exc)),
        ) from None


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


def vm_view(dc: Any, vm: Any) -> dict[str, Any]:
    """The comparable view of a live VM (same keys as the driver's desired view)."""
    vim, _, _ = vmodl()
    hw = vm.config.hardware
    disks = [d for d in hw.device if isinstance(d, vim.vm.device.VirtualDisk)]
    return {
        "folder": folder_path(dc, vm.parent),
        "cpus": int(hw.numCPU),
        "memory_mib": int(hw.memoryMB),
        "disk_gib": int(disks[0].capacityInKB // (1024 * 1024)) if disks else 0,
    }


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
