"""The vSphere driver against VMware's vCenter simulator (vcsim, built by the setup step).

One simulator per module on a free loopback port, accepting one user and password only. What
the driver did is observed through the vSphere API (pyvmomi), never through the driver:
clones on the blueprint's network, the VMs of a mandatory anti-affinity group on distinct
hosts, the cloud-init data in ``guestinfo``; then a second apply plans nothing, drift made by
hand shows in plan and status and is repaired, and destroy leaves VMs Attonix does not own.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from attonix.blueprint.loader import load_file
from attonix.blueprint.model import Blueprint
from attonix.deploy import DeployError, LockHeld, Plan, StalePlan, converge, get_driver
from attonix.deploy.connections import ConnectionError_, ConnectionsFile, parse
from attonix.render.registry import render
from attonix.server import pipeline

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
VCSIM = ROOT / "tools" / "vcsim" / "vcsim"
TEMPLATE = "ubuntu-24.04-template"
USER, PASSWORD = "attonix", "s3cret-vc"
PASSWORD_ENV = "ATTONIX_TEST_VC_PASSWORD"
#: vcsim's stock VMs sit on this distributed port group; the blueprint wants "VM Network".
SIM_PORTGROUP = "DC0_DVPG0"

pyvmomi = pytest.importorskip("pyVmomi")
from pyVim.connect import Disconnect, SmartConnect  # noqa: E402
from pyVmomi import vim, vmodl  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A CA and vCenter's certificate for 127.0.0.1, from the project's internal CA code."""
    from attonix.server.security.pki import create_ca, issue_certificate

    ca = create_ca(common_name="vCenter test CA", key_algorithm="ecdsa-p256", validity_days=2)
    cert = issue_certificate(ca, common_name="vcenter", dns_names=["127.0.0.1"], validity_days=1)
    tmp = tmp_path_factory.mktemp("vcsim-tls")
    paths = tmp / "ca.pem", tmp / "cert.pem", tmp / "key.pem"
    for path, data in zip(paths, (ca.cert_pem, cert.cert_pem, cert.key_pem), strict=True):
        path.write_bytes(data)
    return paths


@pytest.fixture(scope="module")
def vcsim(
    tmp_path_factory: pytest.TempPathFactory, tls_files: tuple[Path, Path, Path]
) -> Iterator[int]:
    if not VCSIM.exists():
        pytest.fail(f"{VCSIM} is missing: run scripts/setup.d/24-cicd-cloud-tools.sh")
    port = _free_port()
    _, cert, key = tls_files
    log = tmp_path_factory.mktemp("vcsim") / "vcsim.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(VCSIM), "-l", f"127.0.0.1:{port}", "-username", USER, "-password", PASSWORD,
             "-tls-cert", str(cert), "-tls-key", str(key)],
            stdout=out, stderr=out,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        else:
            pytest.fail(f"vcsim did not start listening: {log.read_text()}")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def si(vcsim: int, tls_files: tuple[Path, Path, Path]) -> Iterator[Any]:
    conn = SmartConnect(
        host="127.0.0.1",
        port=vcsim,
        user=USER,
        pwd=PASSWORD,
        sslContext=ssl.create_default_context(cafile=str(tls_files[0])),
    )
    yield conn
    Disconnect(conn)


def _vms(si: Any) -> dict[str, Any]:
    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    out: dict[str, Any] = {}
    try:
        for vm in view.view:
            try:
                out[vm.name] = vm
            except vmodl.fault.ManagedObjectNotFound:
                continue  # deleted while the view was being read
        return out
    finally:
        view.Destroy()


def _wait(task: Any) -> None:
    while task.info.state not in ("success", "error"):
        time.sleep(0.05)
    assert task.info.state == "success", task.info.error


def _networks(vm: Any) -> list[str]:
    """The network of each card, read from its backing (port groups by their key)."""
    dc = vm.parent
    while not isinstance(dc, vim.Datacenter):
        dc = dc.parent
    groups = {
        n.key: n.name for n in dc.network if isinstance(n, vim.dvs.DistributedVirtualPortgroup)
    }
    out = []
    for dev in vm.config.hardware.device:
        if isinstance(dev, vim.vm.device.VirtualEthernetCard):
            b = dev.backing
            out.append(b.deviceName if hasattr(b, "deviceName") else groups[b.port.portgroupKey])
    return out


def _guestinfo(vm: Any) -> dict[str, str]:
    return {o.key: o.value for o in vm.config.extraConfig if o.key.startswith("guestinfo.")}


@pytest.fixture(scope="module")
def template(si: Any) -> str:
    """Turn one of the simulator's stock VMs into the template the blueprint clones."""
    vm = _vms(si)["DC0_H0_VM0"]
    assert _networks(vm) == [SIM_PORTGROUP]
    _wait(vm.PowerOffVM_Task())
    _wait(vm.Rename_Task(TEMPLATE))
    vm.MarkAsTemplate()
    return TEMPLATE


def _blueprint(
    example_path: Path, tmp: Path, *, count: int = 3, encryption: bool = False
) -> Blueprint:
    data = yaml.safe_load(example_path.read_text(encoding="utf-8"))
    data["storage"]["vsphere"] = [
        {
            "name": "vsphere-sim",
            "vcenter": "vcenter.attonixcorp.internal",
            "datacenter": "DC0",
            "cluster": "DC0_C0",
            "datastore": "LocalDS_0",
            "network": "VM Network",
            "credentials_secret": "vsphere-credentials",
            "vm_encryption": encryption,
            "vms": [
                {
                    "name": "erp",
                    "template": TEMPLATE,
                    "count": count,
                    "cpus": 2,
                    "memory_gib": 1,
                    "disk_gib": 2,
                    "folder": "attonix/legacy",
                },
            ],
        }
    ]
    # erp-01 is also a blueprint host: it boots with that host's cloud-init user data.
    data["hosts"].append(
        {"name": "erp-01", "address": "10.20.2.201", "zone": "zone-a", "rack": "rack-a1"}
    )
    path = tmp / "datacenter.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_file(path).blueprint


@pytest.fixture(scope="module")
def blueprint(example_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Blueprint:
    return _blueprint(example_path, tmp_path_factory.mktemp("bp"))


def _connections(port: int, ca: Path | None) -> ConnectionsFile:
    endpoint = {"url": f"https://127.0.0.1:{port}/sdk", "username": USER}
    endpoint |= {"password_env": PASSWORD_ENV} | ({"ca": str(ca)} if ca else {})
    text = yaml.safe_dump({"clusters": {"vsphere-sim": {"vsphere": endpoint}}})
    return parse(text, source="connections.yaml")


class _NoSecrets:
    def get(self, name: str) -> dict[str, str]:
        raise AssertionError(f"the connection carries the credentials; {name} was asked for")


@pytest.fixture
def driver(
    vcsim: int,
    tls_files: tuple[Path, Path, Path],
    blueprint: Blueprint,
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    monkeypatch.setenv("ATTONIX_STATE_DIR", os.environ.get("TMPDIR", "/tmp") + "/attonix-vc")
    return get_driver(
        "vsphere", blueprint, secrets=_NoSecrets(), connections=_connections(vcsim, tls_files[0])
    )


def test_full_cycle(si: Any, template: str, blueprint: Blueprint, driver: Any) -> None:
    started = time.monotonic()
    before = set(_vms(si))
    assert driver.endpoint.endswith(f"as {USER}")

    plan = driver.plan()
    assert sorted(c.name for c in plan.of("create", "vm")) == ["erp-01", "erp-02", "erp-03"]
    assert [c.name for c in plan.of("create", "folder")] == ["attonix/legacy"]
    assert [c.name for c in plan.of("create", "rule")] == ["attonix-erp-anti-affinity"]
    (placed,) = plan.of("create", "placement")
    assert len(set(placed.desired.values())) == 3, placed.diff
    create = plan.of("create", "vm")[0].diff
    assert "+memory_mib: 1024" in create and "+- VM Network" in create

    outcome = converge(driver)
    assert outcome.ok, outcome.error
    assert outcome.result.done[-1] == "verify"

    vms = _vms(si)
    clones = [vms[n] for n in ("erp-01", "erp-02", "erp-03")]
    # Anti-affinity: three clones on three different ESXi hosts of the cluster, as planned.
    assert {vm.name: vm.runtime.host.name for vm in clones} == placed.desired
    for vm in clones:
        assert vm.config.hardware.numCPU == 2
        assert vm.config.hardware.memoryMB == 1024
        assert vm.parent.name == "legacy" and vm.parent.parent.name == "attonix"
        assert vm.runtime.powerState == "poweredOn"
        # The template sat on the simulator's port group; the clone is on the blueprint's.
        assert _networks(vm) == ["VM Network"]
        owner = {f.key: f.name for f in si.RetrieveContent().customFieldsManager.field}
        assert {owner[v.key]: v.value for v in vm.customValue} == {
            "attonix.io/blueprint": "attonixcorp"
        }
    # Guest customisation: erp-01 carries the cloud-init target's user data, byte for byte.
    rendered = {a.path: a.text() for a in render(blueprint, "cloud-init")}
    info = _guestinfo(clones[0])
    assert info["guestinfo.userdata.encoding"] == "base64"
    assert (
        base64.b64decode(info["guestinfo.userdata"]).decode()
        == rendered["cloud-init/erp-01/user-data"]
    )
    meta = json.loads(base64.b64decode(info["guestinfo.metadata"]))
    assert meta == {"instance-id": "attonixcorp-erp-01", "local-hostname": "erp-01"}
    # A VM that is not a blueprint host gets its name and no user data.
    info2 = _guestinfo(clones[1])
    assert json.loads(base64.b64decode(info2["guestinfo.metadata"]))["local-hostname"] == "erp-02"
    assert not info2.get("guestinfo.userdata")
    cluster = clones[0].runtime.host.parent
    rule = {r.name: r for r in cluster.configurationEx.rule}["attonix-erp-anti-affinity"]
    assert isinstance(rule, vim.cluster.AntiAffinityRuleSpec) and rule.mandatory
    assert sorted(v.name for v in rule.vm) == ["erp-01", "erp-02", "erp-03"]
    assert cluster.configurationEx.dasConfig.enabled is True
    assert cluster.configurationEx.drsConfig.defaultVmBehavior == "fullyAutomated"

    # Converged: a second apply plans nothing and changes nothing.
    again = converge(driver)
    assert again.plan.is_empty, [c.to_dict() for c in again.plan.pending]
    assert again.ok and again.result.done == ["verify"]
    assert all(s.converged for s in driver.status())

    # Drift by hand: erp-02 moved onto erp-01's host and onto another network.
    erp1, erp2 = clones[0], clones[1]
    _wait(erp2.RelocateVM_Task(vim.vm.RelocateSpec(host=erp1.runtime.host)))
    _move_nic(erp2, SIM_PORTGROUP)
    (status,) = driver.status()
    assert status.failure == "unschedulable" and status.drift
    assert f"erp-01 and erp-02 run on {erp1.runtime.host.name}" in status.reason
    drift = driver.plan()
    assert [c.key for c in drift.pending] == ["vm/erp-02", "placement/erp"]
    assert f"-- {SIM_PORTGROUP}" in drift.pending[0].diff
    assert "+- VM Network" in drift.pending[0].diff
    assert f"-erp-02: {erp1.runtime.host.name}" in drift.pending[1].diff
    # Apply verifies the rule in vCenter's inventory: a plan that leaves two VMs of the
    # mandatory group on one host (its placement change left out) fails, naming them.
    partial = Plan(drift.target, drift.cluster, tuple(drift.of("update", "vm")))
    broken = driver.apply(partial)
    assert not broken.ok
    assert broken.done == ["update vm/erp-02"]
    assert broken.not_done == ["wait for the engine to converge"]
    assert broken.error == (
        "wait for the engine to converge: service erp: no node can run it: mandatory "
        "anti-affinity rule attonix-erp-anti-affinity is broken: erp-01 and erp-02 run on "
        f"{erp1.runtime.host.name}"
    )
    assert _networks(erp2) == ["VM Network"]
    repaired = converge(driver)
    assert repaired.ok, repaired.error
    assert len({vm.runtime.host.name for vm in clones}) == 3
    assert _networks(erp2) == ["VM Network"]
    assert driver.plan().is_empty

    # Memory changed by hand shows up as an update of exactly that VM.
    _wait(clones[2].ReconfigVM_Task(vim.vm.ConfigSpec(memoryMB=2048)))
    mem = driver.plan()
    assert [(c.kind, c.name, c.action) for c in mem.pending] == [("vm", "erp-03", "update")]
    assert "-memory_mib: 2048" in mem.pending[0].diff
    assert converge(driver).ok
    assert clones[2].config.hardware.memoryMB == 1024

    # Destroy removes what Attonix owns and nothing else.
    assert driver.removals() == [
        "rule/attonix-erp-anti-affinity",
        "vm/erp-01",
        "vm/erp-02",
        "vm/erp-03",
    ]
    destroyed = driver.destroy()
    assert destroyed.ok, destroyed.error
    assert set(_vms(si)) == before
    assert "attonix-erp-anti-affinity" not in {r.name for r in cluster.configurationEx.rule or []}
    assert time.monotonic() - started < 60


def _move_nic(vm: Any, portgroup: str) -> None:
    dc = vm.parent
    while not isinstance(dc, vim.Datacenter):
        dc = dc.parent
    pg = next(n for n in dc.network if n.name == portgroup)
    nic = next(
        d for d in vm.config.hardware.device if isinstance(d, vim.vm.device.VirtualEthernetCard)
    )
    nic.backing = vim.vm.device.VirtualEthernetCard.DistributedVirtualPortBackingInfo(
        port=vim.dvs.PortConnection(
            portgroupKey=pg.key, switchUuid=pg.config.distributedVirtualSwitch.uuid
        )
    )
    edit = vim.vm.device.VirtualDeviceSpec(operation="edit", device=nic)
    _wait(vm.ReconfigVM_Task(vim.vm.ConfigSpec(deviceChange=[edit])))


@pytest.mark.parametrize(
    ("change", "message", "hint"),
    [
        # A mandatory anti-affinity group of four VMs cannot hold on three hosts.
        (
            {"count": 4},
            r"^VM group 'erp' has 4 VMs and a mandatory anti-affinity rule, but cluster "
            r"'DC0_C0' has 3 usable host\(s\)",
            "maintenance mode",
        ),
        # vcsim has no key provider: encryption cannot be honoured.
        (
            {"encryption": True},
            r"asks for VM encryption \(vm_encryption: true\), but vCenter .* no key provider",
            "vm_encryption: false",
        ),
    ],
    ids=["more-vms-than-hosts", "encryption-without-key-provider"],
)
def test_what_cannot_hold_is_refused_before_anything_changes(
    vcsim: int,
    tls_files: tuple[Path, Path, Path],
    si: Any,
    template: str,
    example_path: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    change: dict[str, Any],
    message: str,
    hint: str,
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    monkeypatch.setenv("ATTONIX_STATE_DIR", str(tmp_path / "state"))
    bp = _blueprint(example_path, tmp_path, **change)
    driver = get_driver(
        "vsphere", bp, secrets=_NoSecrets(), connections=_connections(vcsim, tls_files[0])
    )
    before = set(_vms(si))
    with pytest.raises(DeployError, match=message) as err:
        converge(driver)
    assert hint in err.value.hint
    assert set(_vms(si)) == before


def test_wrong_password_is_refused_naming_the_cluster(
    vcsim: int,
    tls_files: tuple[Path, Path, Path],
    blueprint: Blueprint,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    driver = get_driver(
        "vsphere", blueprint, secrets=_NoSecrets(), connections=_connections(vcsim, tls_files[0])
    )
    with pytest.raises(ConnectionError_) as err:
        driver.check_connection()
    assert err.value.message == (
        f"cluster 'vsphere-sim': vCenter at https://127.0.0.1:{vcsim} refused the login of "
        f"user '{USER}'"
    )
    assert "not-the-password" not in str(err.value)


def test_untrusted_certificate_is_refused_naming_the_cluster(
    vcsim: int, blueprint: Blueprint, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    # No ca: the system's trust store does not know the test CA.
    driver = get_driver(
        "vsphere", blueprint, secrets=_NoSecrets(), connections=_connections(vcsim, None)
    )
    with pytest.raises(ConnectionError_) as err:
        driver.plan()
    assert err.value.message == (
        f"cluster 'vsphere-sim': vCenter at https://127.0.0.1:{vcsim} presented a certificate "
        "this machine does not trust"
    )


def test_refuses_to_adopt_a_vm_it_does_not_own(si: Any, template: str, driver: Any) -> None:
    stranger = _vms(si)["DC0_H1_VM0"]
    _wait(stranger.Rename_Task("erp-01"))
    try:
        with pytest.raises(DeployError, match="not owned by blueprint 'attonixcorp'"):
            driver.plan()
        assert driver.destroy().done == []
        assert "erp-01" in _vms(si)
    finally:
        _wait(stranger.Rename_Task("DC0_H1_VM0"))


def test_cli_plans_applies_and_destroys_vsphere(
    vcsim: int,
    tls_files: tuple[Path, Path, Path],
    si: Any,
    template: str,
    blueprint: Blueprint,
    tmp_path: Path,
) -> None:
    """``attonix plan/apply/status/destroy -t vsphere`` with a connections file."""
    bp_file = tmp_path / "datacenter.yaml"
    bp_file.write_text(yaml.safe_dump(blueprint.model_dump(mode="json", by_alias=True)))
    conns = tmp_path / "connections.yaml"
    conns.write_text(
        yaml.safe_dump(
            {
                "clusters": {
                    "vsphere-sim": {
                        "vsphere": {
                            "url": f"https://127.0.0.1:{vcsim}/sdk",
                            "username": USER,
                            "password_env": PASSWORD_ENV,
                            "ca": str(tls_files[0]),
                        }
                    }
                }
            }
        )
    )
    env = {
        **os.environ,
        PASSWORD_ENV: PASSWORD,
        "ATTONIX_STATE_DIR": str(tmp_path / "state"),
        "COLUMNS": "400",
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "attonix", args[0], str(bp_file), "-t", "vsphere",
             "--connections", str(conns), *args[1:]],
            env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    planned = cli("plan", "--detailed-exitcode")
    assert planned.returncode == 1, planned.stdout + planned.stderr
    assert f"https://127.0.0.1:{vcsim} as {USER}" in " ".join(planned.stdout.split())
    applied = cli("apply", "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert len({_vms(si)[f"erp-0{i}"].runtime.host.name for i in (1, 2, 3)}) == 3
    assert cli("plan", "--detailed-exitcode").returncode == 0
    destroyed = cli("destroy", "--yes")
    assert destroyed.returncode == 0, destroyed.stdout + destroyed.stderr
    assert "erp-01" not in _vms(si)


def test_server_jobs_take_the_same_converge_path(
    vcsim: int,
    tls_files: tuple[Path, Path, Path],
    si: Any,
    template: str,
    blueprint: Blueprint,
    driver: Any,
) -> None:
    """The server's deployment job plans and converges vSphere through the pipeline the CLI
    shares: an approved plan the live vCenter no longer matches applies nothing, and a
    converge while another holds the cluster's lock is refused."""
    loaded = pipeline.load(
        yaml.safe_dump(blueprint.model_dump(mode="json", by_alias=True)), filename="dc.yaml"
    )
    conn = _connections(vcsim, tls_files[0]).clusters["vsphere-sim"]
    where = {"secrets": _NoSecrets(), "cluster": "vsphere-sim", "connection": conn}
    content = si.RetrieveContent()
    dc = next(d for d in content.rootFolder.childEntity if d.name == "DC0")
    top = next((f for f in dc.vmFolder.childEntity if f.name == "attonix"), None)
    if top is not None:  # left empty by an earlier test's destroy
        _wait(top.Destroy_Task())
    plan, endpoint = pipeline.plan(loaded, "vsphere", **where)
    assert endpoint == f"https://127.0.0.1:{vcsim} as {USER}"
    assert "create folder/attonix/legacy" in [f"{c.action} {c.key}" for c in plan.pending]
    before = set(_vms(si))
    # Someone makes the folder by hand after the approval: the approved plan is stale.
    dc.vmFolder.CreateFolder("attonix").CreateFolder("legacy")
    with pytest.raises(StalePlan, match="changed since this plan was approved"):
        pipeline.converge(
            loaded, "vsphere", approved=plan.to_dict(), progress=lambda _: None, **where
        )
    assert set(_vms(si)) == before
    plan, _ = pipeline.plan(loaded, "vsphere", **where)
    # The lock is the driver's per-cluster lock, the one the CLI takes too.
    with driver.lock().held(), ThreadPoolExecutor(1) as pool:
        held = pool.submit(
            pipeline.converge,
            loaded,
            "vsphere",
            approved=plan.to_dict(),
            progress=lambda _: None,
            **where,
        )
        with pytest.raises(LockHeld, match="another Attonix operation on vsphere cluster"):
            held.result()
    lines: list[str] = []
    outcome = pipeline.converge(
        loaded, "vsphere", approved=plan.to_dict(), progress=lines.append, **where
    )
    assert outcome.ok, outcome.error
    assert lines[-2:] == [
        "wait for the engine to converge",
        "verify that every service is converged",
    ]
    assert all(s.converged for s in outcome.statuses)
    assert driver.destroy().ok
    assert set(_vms(si)) == before
