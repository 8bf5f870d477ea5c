"""The vsphere target's spec: what the driver converges towards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attonix.blueprint.loader import load_file
from attonix.blueprint.model import Blueprint
from attonix.render.registry import render
from attonix.render.vsphere import rendered


@pytest.fixture
def example(example_path: Path) -> Blueprint:
    return load_file(example_path).blueprint


def test_spec_content(example: Blueprint) -> None:
    (art,) = render(example, "vsphere")
    assert art.path == "vsphere/vsphere-main/spec.json" and art.format == "json"
    spec = json.loads(art.text())
    assert spec["cluster"] == {
        "name": "Compute-Cluster",
        "ha": {"enabled": True, "host_monitoring": "enabled", "admission_control": True},
        "drs": {"enabled": True, "behavior": "fullyAutomated"},
    }
    assert spec["folders"] == ["attonix/legacy"]
    assert spec["groups"] == [
        {
            "name": "legacy-erp",
            "folder": "attonix/legacy",
            "vms": ["legacy-erp-01", "legacy-erp-02"],
            "rule": {
                "name": "attonix-legacy-erp-anti-affinity",
                "type": "anti-affinity",
                "enabled": True,
                "mandatory": True,
            },
        }
    ]
    assert spec["vms"][1] == {
        "name": "legacy-erp-02",
        "group": "legacy-erp",
        "folder": "attonix/legacy",
        "template": "ubuntu-24.04-template",
        "cpus": 8,
        "memory_mib": 32768,
        "disk_gib": 200,
        "datastore": "vsan-datastore",
        "network": "VM Network",
        "encrypted": True,
        "cloud_init": None,
    }
    assert spec["encryption"] == {"enabled": True, "storage_policy": "VM Encryption Policy"}
    assert spec["owner"]["attribute"] == "attonix.io/blueprint"
    assert spec["owner"]["value"] == "attonixcorp"


def test_a_vm_named_like_a_host_boots_with_that_hosts_cloud_init(example: Blueprint) -> None:
    host = example.hosts[0].model_copy(update={"name": "legacy-erp-02"})
    bp = example.model_copy(update={"hosts": [*example.hosts, host]})
    (art,) = render(bp, "vsphere")
    vms = {vm["name"]: vm["cloud_init"] for vm in json.loads(art.text())["vms"]}
    assert vms == {"legacy-erp-01": None, "legacy-erp-02": "legacy-erp-02"}


def test_credentials_by_name_only(example: Blueprint) -> None:
    (art,) = render(example, "vsphere")
    spec = json.loads(art.text())
    assert spec["credentials_secret"] == "vsphere-credentials"
    assert "password" not in art.text() and "username" not in art.text()


def test_single_vm_group_has_no_rule(example: Blueprint) -> None:
    vc = example.storage.vsphere[0]
    one = vc.model_copy(update={"vms": [vc.vms[0].model_copy(update={"count": 1, "folder": ""})]})
    bp = example.model_copy(
        update={"storage": example.storage.model_copy(update={"vsphere": [one]})}
    )
    spec = json.loads(render(bp, "vsphere")[0].text())
    assert spec["groups"][0]["rule"] is None
    assert spec["groups"][0]["vms"] == ["legacy-erp-01"]
    assert spec["folders"] == ["attonix/attonixcorp"]


def test_deterministic(example: Blueprint) -> None:
    assert render(example, "vsphere")[0].text() == render(example, "vsphere")[0].text()


def test_desired_state_holds_what_the_spec_file_says(example: Blueprint) -> None:
    out = rendered(example)
    assert [r.file for r in out.values()] == render(example, "vsphere")
    for name, r in out.items():
        spec, want = r.file.content, r.state
        assert name == want.name == spec["name"]
        assert (want.datacenter, want.cluster, want.network, want.owner) == (
            spec["datacenter"],
            spec["cluster"]["name"],
            spec["network"],
            spec["owner"]["value"],
        )
        assert want.cluster_settings == {
            "ha": spec["cluster"]["ha"],
            "drs": spec["cluster"]["drs"],
        }
        assert list(want.folders) == spec["folders"]
        assert [(g.name, list(g.vms), g.spread) for g in want.groups] == [
            (g["name"], g["vms"], bool(g["rule"] and g["rule"]["mandatory"]))
            for g in spec["groups"]
        ]
        assert [(v.name, v.cpus, v.memory_mib, v.cloud_init) for v in want.vms] == [
            (v["name"], v["cpus"], v["memory_mib"], v["cloud_init"]) for v in spec["vms"]
        ]
        assert any(g.spread for g in want.groups)
