"""The vSphere driver against VMware's vCenter simulator (vcsim, built by the setup step).

One simulator per module on a free loopback port; the test walks the whole life cycle: plan,
apply, a second apply that plans nothing, drift made by hand, status, destroy that leaves VMs
Attonix does not own.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from attonix.blueprint.loader import load_file
from attonix.blueprint.model import Blueprint

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
VCSIM = ROOT / "tools" / "vcsim" / "vcsim"
TEMPLATE = "ubuntu-24.04-template"

pyvmomi = pytest.importorskip("pyVmomi")
from pyVim.connect import Disconnect, SmartConnect  # noqa: E402
from pyVmomi import vim, vmodl  # noqa: E402

from attonix.deploy.vsphere import VSphereDriver  # noqa: E402


class _Secrets:
    def get(self, name: str) -> dict[str, str]:
        assert name == "vsphere-credentials"
        return {"username": "user", "password": "pass"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def vcsim() -> Iterator[int]:
    if not VCSIM.exists():
        pytest.fail(f"{VCSIM} is missing: run scripts/setup.d/24-cicd-cloud-tools.sh")
    port = _free_port()
    proc = subprocess.Popen(
        [str(VCSIM), "-l", f"127.0.0.1:{port}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        else:
            pytest.fail("vcsim did not start listening")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()


@pytest.fixture(scope="module")
def si(vcsim: int) -> Iterator[Any]:
    conn = SmartConnect(
        protocol="http",
        host="127.0.0.1",
        port=vcsim,
        user="user",
        pwd="pass",
        disableSslCertValidation=True,
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


@pytest.fixture(scope="module")
def template(si: Any) -> str:
    """Turn one of the simulator's stock VMs into the template the blueprint clones."""
    vm = _vms(si)["DC0_H0_VM0"]
    _wait(vm.PowerOffVM_Task())
    _wait(vm.Rename_Task(TEMPLATE))
    vm.MarkAsTemplate()
    return TEMPLATE


@pytest.fixture(scope="module")
def blueprint(example_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Blueprint:
    data = yaml.safe_load(example_path.read_text(encoding="utf-8"))
    data["storage"]["vsphere"] = [
        {
            "name": "vsphere-sim",
            "vcenter": "vcenter.attonixcorp.internal",
            "datacenter": "DC0",
            "cluster": "DC0_C0",
            "datastore": "LocalDS_0",
            "credentials_secret": "vsphere-credentials",
            "vms": [
                {
                    "name": "erp",
                    "template": TEMPLATE,
                    "count": 3,
                    "cpus": 2,
                    "memory_gib": 1,
                    "disk_gib": 2,
                    "folder": "attonix/legacy",
                },
            ],
        }
    ]
    path = tmp_path_factory.mktemp("bp") / "datacenter.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_file(path).blueprint


def test_full_cycle(vcsim: int, si: Any, template: str, blueprint: Blueprint) -> None:
    started = time.monotonic()
    driver = VSphereDriver(blueprint, _Secrets(), endpoint=f"http://127.0.0.1:{vcsim}")
    before = set(_vms(si))

    plan = driver.plan()
    assert sorted(c.name for c in plan.of("create", "vm")) == ["erp-01", "erp-02", "erp-03"]
    assert [c.name for c in plan.of("create", "folder")] == ["attonix/legacy"]
    assert [c.name for c in plan.of("create", "rule")] == ["attonix-erp-anti-affinity"]
    assert "+memory_mib: 1024" in plan.of("create", "vm")[0].diff

    result = driver.apply(plan)
    assert result.ok, result.error
    vms = _vms(si)
    clones = [vms[n] for n in ("erp-01", "erp-02", "erp-03")]
    # Anti-affinity: three clones on three different ESXi hosts of the cluster.
    assert len({vm.runtime.host.name for vm in clones}) == 3
    for vm in clones:
        assert vm.config.hardware.numCPU == 2
        assert vm.config.hardware.memoryMB == 1024
        assert vm.parent.name == "legacy" and vm.parent.parent.name == "attonix"
        assert vm.runtime.powerState == "poweredOn"
        owner = {f.key: f.name for f in si.RetrieveContent().customFieldsManager.field}
        assert {owner[v.key]: v.value for v in vm.customValue} == {
            "attonix.io/blueprint": "attonixcorp"
        }
    cluster = clones[0].runtime.host.parent
    rules = {r.name: r for r in cluster.configurationEx.rule}
    rule = rules["attonix-erp-anti-affinity"]
    assert isinstance(rule, vim.cluster.AntiAffinityRuleSpec) and rule.mandatory
    assert sorted(v.name for v in rule.vm) == ["erp-01", "erp-02", "erp-03"]
    # The cluster's HA/DRS change was planned and applied, but vcsim's
    # ReconfigureComputeResource_Task stores only rules, groups and per-VM overrides, never
    # the cluster-wide dasConfig/drsConfig: that change stays pending against the simulator
    # (and only that one). Against vCenter it converges like the rest.
    assert [c.key for c in plan.of("update", "cluster")] == ["cluster/DC0_C0"]
    assert "+  enabled: true" in plan.of("update", "cluster")[0].diff
    assert "cluster/DC0_C0" in result.done
    sim_only = {"cluster/DC0_C0"}

    # Converged: a second plan has nothing else to do.
    again = driver.plan()
    assert {c.key for c in again.pending} == sim_only, [c.to_dict() for c in again.pending]
    assert {c.key for c in again.changes if c.kind == "vm"} == {
        "vm/erp-01",
        "vm/erp-02",
        "vm/erp-03",
    }

    # Drift: memory changed by hand shows up as an update of exactly that VM.
    _wait(clones[1].ReconfigVM_Task(vim.vm.ConfigSpec(memoryMB=2048)))
    drift = driver.plan()
    drifted = [c for c in drift.pending if c.key not in sim_only]
    assert [(c.kind, c.name, c.action) for c in drifted] == [("vm", "erp-02", "update")]
    assert "-memory_mib: 2048" in drifted[0].diff
    assert "+memory_mib: 1024" in drifted[0].diff
    assert driver.apply(drift).ok
    assert _vms(si)["erp-02"].config.hardware.memoryMB == 1024
    assert {c.key for c in driver.plan().pending} == sim_only

    (status,) = driver.status()
    assert (status.name, status.desired, status.running) == ("erp", 3, 3)

    # Destroy removes what Attonix owns and nothing else.
    destroyed = driver.destroy()
    assert destroyed.ok, destroyed.error
    assert set(_vms(si)) == before
    assert "attonix-erp-anti-affinity" not in {r.name for r in cluster.configurationEx.rule or []}
    assert time.monotonic() - started < 60


def test_refuses_to_adopt_a_vm_it_does_not_own(
    vcsim: int, si: Any, template: str, blueprint: Blueprint
) -> None:
    from attonix.deploy.base import DeployError

    stranger = _vms(si)["DC0_H1_VM0"]
    _wait(stranger.Rename_Task("erp-01"))
    try:
        driver = VSphereDriver(blueprint, _Secrets(), endpoint=f"http://127.0.0.1:{vcsim}")
        with pytest.raises(DeployError, match="not owned by blueprint 'attonixcorp'"):
            driver.plan()
        assert driver.destroy().done == []
        assert "erp-01" in _vms(si)
    finally:
        _wait(stranger.Rename_Task("DC0_H1_VM0"))
