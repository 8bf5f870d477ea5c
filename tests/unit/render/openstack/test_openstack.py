"""The openstack target: HOT structure, HA placement, encrypted boot volumes, security
groups derived from the firewall, no credentials. A live check against a real cloud runs
only when ATTONIX_TEST_OPENSTACK_CLOUD names a clouds.yaml entry."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from attonix.blueprint.loader import load_file
from attonix.blueprint.model import Blueprint
from attonix.render.base import write_artifacts
from attonix.render.registry import render

from .hot import problems


@pytest.fixture
def example(example_path: Path) -> Blueprint:
    return load_file(example_path).blueprint


def _files(bp: Blueprint) -> dict[str, Any]:
    return {a.path: a.content for a in render(bp, "openstack")}


def _on_app_network(example_path: Path, tmp_path: Path) -> Blueprint:
    data = yaml.safe_load(example_path.read_text(encoding="utf-8"))
    cloud = data["storage"]["openstack"][0]
    cloud["networks"] = [{"name": "app-net", "cidr": "10.20.2.0/25", "external": True}]
    cloud["instances"][0]["network"] = "app-net"
    path = tmp_path / "datacenter.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_file(path).blueprint


def test_stack_is_structurally_valid_heat(example: Blueprint) -> None:
    files = _files(example)
    assert sorted(files) == [
        "openstack/openstack-main/env.yaml",
        "openstack/openstack-main/stack.yaml",
    ]
    assert problems(files["openstack/openstack-main/stack.yaml"]) == []


def test_checker_is_not_a_rubber_stamp(example: Blueprint) -> None:
    stack = _files(example)["openstack/openstack-main/stack.yaml"]
    stack["resources"]["batch-worker-01"]["properties"]["flavour"] = "m1.small"
    stack["resources"]["batch-worker-02"]["properties"]["networks"][0]["port"] = {
        "get_resource": "missing-port"
    }
    stack["resources"]["odd"] = {"type": "OS::Nova::Serverr"}
    assert sorted(problems(stack)) == [
        ".resources.batch-worker-02.properties.networks[0].port: get_resource "
        "'missing-port' names nothing in the template",
        "resource batch-worker-01: unknown property 'flavour'",
        "resource odd: type 'OS::Nova::Serverr' is not allowed",
    ]


def test_instances_spread_over_zones_with_anti_affinity(example: Blueprint) -> None:
    res = _files(example)["openstack/openstack-main/stack.yaml"]["resources"]
    servers = {n: r["properties"] for n, r in res.items() if r["type"] == "OS::Nova::Server"}
    assert sorted(servers) == [f"batch-worker-0{i}" for i in range(1, 7)]
    zones = [servers[n]["availability_zone"] for n in sorted(servers)]
    assert zones == ["nova-a", "nova-b", "nova-c"] * 2
    assert res["batch-worker-servers"] == {
        "type": "OS::Nova::ServerGroup",
        "properties": {"name": "attonixcorp-batch-worker", "policies": ["anti-affinity"]},
    }
    for name, props in servers.items():
        assert props["scheduler_hints"] == {"group": {"get_resource": "batch-worker-servers"}}
        (bdm,) = props["block_device_mapping_v2"]
        assert bdm["boot_index"] == 0 and bdm["volume_id"] == {"get_resource": f"{name}-boot"}
        vol = res[f"{name}-boot"]["properties"]
        assert res[f"{name}-boot"]["type"] == "OS::Cinder::Volume"
        assert vol["size"] == 100 and vol["volume_type"] == {"get_param": "volume_type"}
        assert props["user_data"] == {"get_param": "user_data"}


def test_environment_and_parameters(example: Blueprint) -> None:
    files = _files(example)
    stack = files["openstack/openstack-main/stack.yaml"]
    assert stack["parameters"]["volume_type"]["default"] == "encrypted"
    assert stack["parameters"]["user_data"]["hidden"] is True
    assert files["openstack/openstack-main/env.yaml"] == {
        "parameters": {
            "volume_type": "encrypted",
            "batch_worker_image": "ubuntu-24.04",
            "batch_worker_flavor": "m1.large",
        }
    }


def test_no_credentials_in_templates(example: Blueprint) -> None:
    text = "".join(a.text() for a in render(example, "openstack"))
    cloud = example.storage.openstack[0]
    for leaked in (cloud.auth_url, cloud.credentials_secret, "password", "application_credential"):
        assert leaked not in text


def _declared(bp: Blueprint, rule: dict[str, Any], dest_zones: set[str]) -> bool:
    """Whether a security-group rule traces to the management zone or a firewall allow rule."""
    fw = bp.security.firewall
    zones = {z.name: z for z in fw.zones}
    prefix, lo, hi = rule["remote_ip_prefix"], rule["port_range_min"], rule["port_range_max"]
    if fw.management_zone and prefix in zones[fw.management_zone].cidrs and lo == hi == 22:
        return True
    for r in fw.rules:
        if r.action != "allow" or r.destination not in dest_zones:
            continue
        sources = ["0.0.0.0/0", "::/0"] if r.source == "internet" else zones[r.source].cidrs
        if prefix in sources and any(str(p) in (str(lo), f"{lo}-{hi}") for p in r.ports):
            return True
    return False


def test_every_network_admits_management_and_nothing_undeclared(
    example: Blueprint, example_path: Path, tmp_path: Path
) -> None:
    for bp, dest in ((example, set()), (_on_app_network(example_path, tmp_path), {"app"})):
        stack = _files(bp)["openstack/openstack-main/stack.yaml"]
        assert problems(stack) == []
        res = stack["resources"]
        nets = [n for n, r in res.items() if r["type"] == "OS::Neutron::Net"]
        for net in nets:
            rules = res[net.removesuffix("-net") + "-secgroup"]["properties"]["rules"]
            # SSH from the management zone, even on a network in no firewall zone.
            assert {
                "direction": "ingress",
                "ethertype": "IPv4",
                "protocol": "tcp",
                "port_range_min": 22,
                "port_range_max": 22,
                "remote_ip_prefix": "10.10.9.0/24",
            } in rules
            for rule in rules:
                assert rule["direction"] == "ingress"
                assert _declared(bp, rule, dest), rule
        # every port of every instance uses its network's group
        for r in res.values():
            if r["type"] == "OS::Neutron::Port":
                [sg] = r["properties"]["security_groups"]
                net = r["properties"]["network"]["get_resource"]
                assert sg == {"get_resource": net.removesuffix("-net") + "-secgroup"}
    # The example's batch network is in no zone: exactly the management rule.
    res = _files(example)["openstack/openstack-main/stack.yaml"]["resources"]
    assert len(res["batch-net-secgroup"]["properties"]["rules"]) == 1
    # On the app zone's range, exactly the rules whose destination is 'app' are allowed.
    stack = _files(_on_app_network(example_path, tmp_path))["openstack/openstack-main/stack.yaml"]
    rules = stack["resources"]["app-net-secgroup"]["properties"]["rules"]
    got = {(r["remote_ip_prefix"], r["port_range_min"], r["port_range_max"]) for r in rules}
    assert got == {
        ("10.10.0.0/24", 443, 443),
        ("10.10.0.0/24", 6443, 6443),
        ("10.20.2.0/24", 8000, 8000),
        ("10.20.2.0/24", 9000, 9000),
        ("10.10.9.0/24", 22, 22),
        ("10.10.9.0/24", 6443, 6443),
    }


def test_routers_key_pairs_floating_ips_and_data_volumes(
    example: Blueprint, example_path: Path, tmp_path: Path
) -> None:
    stack = _files(example)["openstack/openstack-main/stack.yaml"]
    res = stack["resources"]
    # batch-net uses DNS, NTP and mirrors in the mgmt range: it reaches outside, so it is routed.
    assert res["batch-net-router"]["properties"]["external_gateway_info"] == {
        "network": {"get_param": "external_network"}
    }
    assert res["batch-net-router-interface"]["properties"]["subnet"] == {
        "get_resource": "batch-net-subnet"
    }
    # one key pair per person who may log into the instances, the admin's on the servers
    keypairs = {n: r for n, r in res.items() if r["type"] == "OS::Nova::KeyPair"}
    assert sorted(keypairs) == ["alice-keypair", "bob-keypair"]
    assert (
        keypairs["alice-keypair"]["properties"]["public_key"]
        == example.users.accounts[0].ssh_keys[0]
    )
    server = res["batch-worker-01"]["properties"]
    assert server["key_name"] == {"get_resource": "alice-keypair"}
    # storage role: a data volume per instance, attached
    assert res["batch-worker-01-data"]["properties"]["size"] == 500
    assert res["batch-worker-01-data-attachment"]["properties"] == {
        "instance_uuid": {"get_resource": "batch-worker-01"},
        "volume_id": {"get_resource": "batch-worker-01-data"},
    }
    # not exposed to the internet: no floating IPs
    assert not [r for r in res.values() if r["type"] == "OS::Neutron::FloatingIP"]
    # exposed (the dmz takes public-https): a floating IP per instance, after the router
    d = yaml.safe_load(example_path.read_text(encoding="utf-8"))
    cloud = d["storage"]["openstack"][0]
    cloud["networks"] = [{"name": "edge-net", "cidr": "10.10.0.128/25"}]
    cloud["instances"][0]["network"] = "edge-net"
    path = tmp_path / "edge.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False), encoding="utf-8")
    edge = _files(load_file(path).blueprint)["openstack/openstack-main/stack.yaml"]
    assert problems(edge) == []
    fip = edge["resources"]["batch-worker-01-fip"]
    assert fip["properties"] == {
        "floating_network": {"get_param": "external_network"},
        "port_id": {"get_resource": "batch-worker-01-port"},
    }
    assert fip["depends_on"] == ["edge-net-router-interface"]


def test_an_isolated_network_has_no_router_and_no_gateway_parameter(
    example_path: Path, tmp_path: Path
) -> None:
    d = yaml.safe_load(example_path.read_text(encoding="utf-8"))
    del d["network"]
    for zone in d["security"]["firewall"]["zones"]:
        zone.pop("egress", None)
    path = tmp_path / "isolated.yaml"
    path.write_text(yaml.safe_dump(d, sort_keys=False), encoding="utf-8")
    stack = _files(load_file(path).blueprint)["openstack/openstack-main/stack.yaml"]
    assert problems(stack) == []
    assert "batch-net-router" not in stack["resources"]
    assert "external_network" not in stack["parameters"]


def test_checker_resolves_references() -> None:
    tpl = {
        "heat_template_version": "2021-04-16",
        "parameters": {"unused": {"type": "string"}},
        "resources": {
            "a": {"type": "OS::Neutron::Net", "depends_on": ["ghost"]},
            "b": {
                "type": "OS::Neutron::Subnet",
                "properties": {
                    "network": {"get_resource": "nope"},
                    "cidr": {"get_param": "missing"},
                },
            },
        },
    }
    found = problems(tpl)
    assert any("depends_on 'ghost'" in p for p in found)
    assert any("get_resource 'nope'" in p for p in found)
    assert any("get_param 'missing'" in p for p in found)
    assert any("'unused' is declared but never used" in p for p in found)


def test_deterministic(example: Blueprint) -> None:
    assert [a.text() for a in render(example, "openstack")] == [
        a.text() for a in render(example, "openstack")
    ]


@pytest.mark.integration
@pytest.mark.skipif(
    not os.environ.get("ATTONIX_TEST_OPENSTACK_CLOUD"),
    reason="set ATTONIX_TEST_OPENSTACK_CLOUD to a clouds.yaml entry to validate against Heat",
)
def test_heat_validates_the_template(example: Blueprint, tmp_path: Path) -> None:
    cli = shutil.which("openstack")
    assert cli, "the openstack client (python-openstackclient, python-heatclient) is missing"
    write_artifacts(render(example, "openstack"), tmp_path)
    base = tmp_path / "openstack" / "openstack-main"
    res = subprocess.run(
        [
            cli,
            "--os-cloud",
            os.environ["ATTONIX_TEST_OPENSTACK_CLOUD"],
            "orchestration",
            "template",
            "validate",
            "-t",
            str(base / "stack.yaml"),
            "-e",
            str(base / "env.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert res.returncode == 0, res.stderr
