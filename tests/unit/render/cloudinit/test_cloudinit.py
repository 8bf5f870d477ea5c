"""The cloud-init target: identity, key-only access, packages by role, files, Chef bootstrap."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from attonix.blueprint.loader import load_file
from attonix.blueprint.model import Blueprint
from attonix.render import hosts
from attonix.render.base import RenderError
from attonix.render.cloudinit import render
from attonix.render.nftables import ruleset

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZ0ZXN0a2V5 ops@lab"


@pytest.fixture(scope="module")
def example(example_path: Path) -> Blueprint:
    return load_file(example_path).blueprint


def docs(bp: Blueprint, **options: Any) -> dict[str, Any]:
    out = {}
    for art in render(bp, **options):
        text = art.text()
        if art.path.endswith("user-data"):
            assert text.startswith("#cloud-config\n")
        out[art.path] = yaml.safe_load(text)
    return out


def files_of(doc: dict[str, Any]) -> dict[str, str]:
    return {f["path"]: f["content"] for f in doc["write_files"]}


def test_identity_and_meta_data(example: Blueprint) -> None:
    out = docs(example)
    assert len(out) == 2 * len(example.hosts)
    doc = out["cloud-init/wk-a1/user-data"]
    assert doc["hostname"] == "wk-a1" and doc["fqdn"] == "wk-a1.attonixcorp.com"
    assert out["cloud-init/wk-a1/meta-data"] == {
        "instance-id": "attonixcorp-wk-a1",
        "local-hostname": "wk-a1",
    }


def test_admin_logs_in_with_keys_only(example: Blueprint) -> None:
    doc = docs(example, admin_ssh_keys=[KEY])["cloud-init/cp-a/user-data"]
    assert doc["ssh_pwauth"] is False and doc["disable_root"] is True
    [user] = doc["users"]
    assert user["name"] == "attonix" and user["lock_passwd"] is True
    alice = example.users.accounts[0].ssh_keys[0]
    assert alice.endswith("alice@attonixcorp.com")
    # the environment's admins (alice, through the platform group) plus the keys passed in
    assert user["ssh_authorized_keys"] == [alice, KEY]
    assert not {"passwd", "hashed_passwd", "plain_text_passwd"} & set(user)
    assert "chpasswd" not in doc and "password" not in doc
    sshd = files_of(doc)[hosts.SSHD_DROP_IN]
    for line in ("PermitRootLogin no", "PasswordAuthentication no", "AllowUsers attonix"):
        assert line in sshd.splitlines()
    assert "cbc" not in sshd and "sha1" not in sshd.replace("sha1-", "")


def test_only_admins_of_this_environment_get_keys(example: Blueprint) -> None:
    bob = example.users.accounts[1].model_copy(
        update={"ssh_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJvYmtleQ bob@x"]}
    )
    accounts = [example.users.accounts[0], bob, *example.users.accounts[2:]]
    bp = example.model_copy(
        update={"users": example.users.model_copy(update={"accounts": accounts})}
    )
    [user] = docs(bp)["cloud-init/cp-a/user-data"]["users"]
    assert [k.rsplit(" ", 1)[1] for k in user["ssh_authorized_keys"]] == [
        "alice@attonixcorp.com"
    ]  # bob is an operator, not an admin


def test_private_keys_are_refused(example: Blueprint) -> None:
    with pytest.raises(RenderError, match="public keys"):
        render(example, admin_ssh_keys=["-----BEGIN OPENSSH PRIVATE KEY-----"])


def test_packages_follow_roles_and_clusters(example: Blueprint) -> None:
    out = docs(example)
    lb = out["cloud-init/lb-a/user-data"]["packages"]
    assert {"haproxy", "keepalived", "chrony", "auditd", "nftables"} <= set(lb)
    assert "haproxy" not in out["cloud-init/wk-a1/user-data"]["packages"]
    assert {"lvm2", "containerd"} <= set(out["cloud-init/wk-a1/user-data"]["packages"])
    assert "docker.io" in out["cloud-init/sw-a/user-data"]["packages"]
    assert "podman" in out["cloud-init/pod-a/user-data"]["packages"]
    assert out["cloud-init/lb-a/user-data"]["ntp"] == {"enabled": True, "ntp_client": "chrony"}


def test_writes_the_hosts_own_nftables_ruleset_and_sysctl(example: Blueprint) -> None:
    doc = docs(example)["cloud-init/lb-a/user-data"]
    files = files_of(doc)
    lb = example.hosts_by_name["lb-a"]
    assert files[hosts.NFT_CONF] == ruleset.host_ruleset(example, lb)
    assert "allow public-https: internet -> dmz" in files[hosts.NFT_CONF]
    assert "net.ipv4.ip_nonlocal_bind = 1" in files[hosts.SYSCTL_DROP_IN]
    assert ["nft", "-f", hosts.NFT_CONF] in doc["runcmd"]
    worker = files_of(docs(example)["cloud-init/wk-a1/user-data"])
    assert "net.ipv4.ip_forward = 1" in worker[hosts.SYSCTL_DROP_IN]


def test_chef_is_bootstrapped_without_the_validation_key(example: Blueprint) -> None:
    doc = docs(example)["cloud-init/lb-a/user-data"]
    chef = doc["chef"]
    assert chef["server_url"] == "https://chef.attonixcorp.internal/organizations/attonixcorp"
    assert chef["validation_cert"] == "system"
    assert chef["validation_key"] == "/etc/chef/validation.pem"
    assert chef["run_list"] == ["role[base]", "role[firewall]", "role[load-balancer]"]
    assert docs(example)["cloud-init/wk-a1/user-data"]["chef"]["run_list"] == [
        "role[base]",
        "role[firewall]",
    ]
    bootstrap = files_of(doc)["/usr/local/sbin/attonix-chef-bootstrap"]
    assert "chef-validator" in bootstrap and "rm -f /etc/chef/validation.pem" in bootstrap
    assert "BEGIN" not in bootstrap
    assert [
        "systemd-run",
        "--unit=attonix-chef-bootstrap",
        "/usr/local/sbin/attonix-chef-bootstrap",
    ] in doc["runcmd"]


def test_without_chef_there_is_no_chef_section(example: Blueprint) -> None:
    bp = example.model_copy(
        update={"configuration": example.configuration.model_copy(update={"chef": None})}
    )
    doc = docs(bp)["cloud-init/lb-a/user-data"]
    assert "chef" not in doc
    assert not any("chef" in str(c) for c in doc["runcmd"])


def test_release_comes_from_the_host(example: Blueprint) -> None:
    host = example.hosts_by_name["ci-a"]
    old = host.model_copy(update={"os": host.os.model_copy(update={"release": "22.04"})})
    bp = example.model_copy(update={"hosts": [old]})
    [user_data, _] = render(bp)
    assert "Ubuntu 22.04 (jammy)" in user_data.text().splitlines()[1]
    assert '[ "$VERSION_ID" = "22.04" ]' in yaml.safe_load(user_data.text())["runcmd"][0]


def test_output_is_deterministic(example: Blueprint, example_path: Path) -> None:
    again = load_file(example_path).blueprint
    assert [a.text() for a in render(example)] == [a.text() for a in render(again)]
