"""The cloud-init target: identity, key-only access, packages by role, files, Chef bootstrap."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from attonix.blueprint.loader import load_file
from attonix.blueprint.model import Blueprint
from attonix.render import host_access, hosts
from attonix.render.cloudinit import nodes, render
from attonix.render.nftables import ruleset


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


def users_of(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {u["name"]: u for u in doc["users"]}


def test_each_person_gets_their_own_login_and_no_shared_account(example: Blueprint) -> None:
    doc = docs(example)["cloud-init/cp-a/user-data"]
    assert doc["ssh_pwauth"] is False and doc["disable_root"] is True
    users = users_of(doc)
    # admin alice (group platform), operator bob, auditor dave; carol is a developer in staging.
    assert sorted(users) == ["alice", "bob", "dave"]
    assert "default" not in doc["users"] and "attonix" not in users
    for account in example.users.accounts:
        if account.name in users:
            user = users[account.name]
            assert user.get("ssh_authorized_keys", []) == account.ssh_keys
            assert user["lock_passwd"] is True
            assert not {"passwd", "hashed_passwd", "plain_text_passwd", "sudo"} & set(user)
            assert hosts.LOGIN_GROUP in user["groups"]
    assert "adm" in users["dave"]["groups"] and "adm" not in users["alice"]["groups"]
    assert "chpasswd" not in doc and "password" not in doc
    sshd = files_of(doc)[hosts.SSHD_DROP_IN]
    for line in ("PermitRootLogin no", "PasswordAuthentication no", "AllowGroups attonix-login"):
        assert line in sshd.splitlines()
    assert "cbc" not in sshd and "sha1" not in sshd.replace("sha1-", "")


def test_logins_follow_the_roles_host_access_allows(example: Blueprint) -> None:
    out = docs(example)
    # operators reach bastions, compute and load balancers, not the CI executors
    assert sorted(users_of(out["cloud-init/ci-a/user-data"])) == ["alice", "dave"]
    assert sorted(users_of(out["cloud-init/lb-a/user-data"])) == ["alice", "bob", "dave"]


def test_sudo_only_for_roles_that_need_it_with_the_reason(example: Blueprint) -> None:
    out = docs(example)
    sudoers = files_of(out["cloud-init/lb-a/user-data"])[host_access.SUDOERS_FILE]
    lines = sudoers.splitlines()
    assert "alice ALL=(ALL:ALL) NOPASSWD: ALL" in lines
    assert "bob ALL=(ALL:ALL) NOPASSWD: ALL" in lines
    assert not [line for line in lines if line.startswith("dave")]
    assert "# bob: role operator: On-call operators restart haproxy" in sudoers
    ci = files_of(out["cloud-init/ci-a/user-data"])[host_access.SUDOERS_FILE]
    assert "bob" not in ci


def test_nobody_with_sudo_means_no_sudoers_file(example_path: Path) -> None:
    d = yaml.safe_load(example_path.read_text(encoding="utf-8"))
    d["users"]["host_access"] = [{"role": "auditor"}]
    doc = docs(Blueprint.model_validate(d))["cloud-init/cp-a/user-data"]
    assert host_access.SUDOERS_FILE not in files_of(doc)
    assert sorted(users_of(doc)) == ["dave"]


def test_sudo_without_a_reason_is_refused() -> None:
    from attonix.blueprint.model import HostAccess

    with pytest.raises(ValueError, match="sudo_reason"):
        HostAccess.model_validate({"role": "operator", "sudo": True})


def test_audit_rules_and_chrony_with_the_time_servers(example: Blueprint) -> None:
    doc = docs(example)["cloud-init/bastion-a/user-data"]
    rules = files_of(doc)[host_access.AUDIT_RULES_FILE].splitlines()
    assert "-w /etc/shadow -p wa -k identity" in rules
    assert "-w /etc/sudoers.d/ -p wa -k privilege" in rules
    assert "-w /usr/bin/sudo -p x -k privileged" in rules
    assert any("-S execve -C uid!=euid -F euid=0" in r for r in rules)
    assert doc["ntp"] == {
        "enabled": True,
        "ntp_client": "chrony",
        "servers": ["10.10.9.2", "10.10.9.3"],
        "pools": [],
    }
    assert ["augenrules", "--load"] in doc["runcmd"]


def test_packages_follow_roles_and_clusters(example: Blueprint) -> None:
    out = docs(example)
    lb = out["cloud-init/lb-a/user-data"]["packages"]
    assert {"haproxy", "keepalived", "chrony", "auditd", "nftables"} <= set(lb)
    assert "haproxy" not in out["cloud-init/wk-a1/user-data"]["packages"]
    assert {"lvm2", "containerd"} <= set(out["cloud-init/wk-a1/user-data"]["packages"])
    assert "docker.io" in out["cloud-init/sw-a/user-data"]["packages"]
    assert "podman" in out["cloud-init/pod-a/user-data"]["packages"]


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
    # The node binds to its Policyfile (named after its Chef roles) in the policy group.
    assert "run_list" not in chef and "environment" not in chef
    assert chef["initial_attributes"] == {
        "policy_name": "base_firewall_load-balancer",
        "policy_group": "prod",
    }
    wk = docs(example)["cloud-init/wk-a1/user-data"]["chef"]["initial_attributes"]
    assert wk["policy_name"] == "base_firewall"
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


def test_kubernetes_nodes_are_ready_to_join(example: Blueprint) -> None:
    out = docs(example)
    cp = out["cloud-init/cp-a/user-data"]
    files = files_of(cp)
    assert files[nodes.MODULES_FILE].splitlines()[1:] == ["overlay", "br_netfilter"]
    assert "net.bridge.bridge-nf-call-iptables = 1" in files[nodes.SYSCTL_FILE]
    assert "Pin: version 1.35.*" in files[nodes.APT_PIN_FILE]
    script = files[nodes.KUBERNETES_SCRIPT]
    # the blueprint's mirror of pkgs.k8s.io, at the cluster's minor version
    repo = "https://pkgs-k8s.attonixcorp.internal/core:/stable:/v1.35/deb/"
    assert f"curl -fsSL {repo}Release.key" in script
    assert "apt-get install -y -q kubelet kubeadm kubectl" in script
    assert "swapoff -a" in script and "SystemdCgroup = true" in script
    assert {"containerd", "curl", "gpg"} <= set(cp["packages"])
    init = list(yaml.safe_load_all(files[nodes.KUBEADM_CONFIG]))
    assert [d["kind"] for d in init] == ["InitConfiguration", "ClusterConfiguration"]
    assert init[1]["controlPlaneEndpoint"] == "10.10.0.10:6443"  # lb-edge's virtual IP
    assert init[1]["networking"]["podSubnet"] == "10.244.0.0/16"
    # tokens by reference only: placeholders, filled from the delivered files at join time
    assert init[0]["bootstrapTokens"][0]["token"] == "@TOKEN@"
    wk = files_of(out["cloud-init/wk-a1/user-data"])
    [join] = yaml.safe_load_all(wk[nodes.KUBEADM_CONFIG])
    assert join["kind"] == "JoinConfiguration" and "controlPlane" not in join
    assert join["discovery"]["bootstrapToken"]["caCertHashes"] == ["@CA_CERT_HASH@"]
    [cp_join] = yaml.safe_load_all(files_of(out["cloud-init/cp-b/user-data"])[nodes.KUBEADM_CONFIG])
    assert cp_join["controlPlane"]["certificateKey"] == "@CERTIFICATE_KEY@"
    assert "kubeadm join --config /run/attonix/kubeadm.yaml" in wk[nodes.JOIN_SCRIPT]
    assert [nodes.KUBERNETES_SCRIPT] in cp["runcmd"]


def test_swarm_nodes_join_and_podman_hosts_get_podman(example: Blueprint) -> None:
    out = docs(example)
    first = files_of(out["cloud-init/sw-a/user-data"])[nodes.JOIN_SCRIPT]
    assert "docker swarm init --advertise-addr 10.20.1.31" in first
    other = files_of(out["cloud-init/sw-b/user-data"])[nodes.JOIN_SCRIPT]
    assert "docker swarm join --token" in other and "10.20.1.31:2377" in other
    assert "podman" in out["cloud-init/pod-a/user-data"]["packages"]
    assert nodes.JOIN_SCRIPT not in files_of(out["cloud-init/pod-a/user-data"])


def test_no_join_material_or_secret_in_any_user_data(example: Blueprint) -> None:
    for art in render(example):
        text = art.text()
        assert "PRIVATE KEY" not in text
        assert not re.search(r"[a-z0-9]{6}\.[a-z0-9]{16}", text)  # a kubeadm token


def test_a_host_nobody_may_log_into_gets_no_account_and_valid_users(example_path: Path) -> None:
    d = yaml.safe_load(example_path.read_text(encoding="utf-8"))
    d["security"]["access_control"]["bindings"] = []
    doc = docs(Blueprint.model_validate(d))["cloud-init/cp-a/user-data"]
    # Not omitted (cloud-init would create the shared default account) and not empty (its
    # schema wants one item): root, which exists, with its password locked.
    assert doc["users"] == [{"name": "root", "lock_passwd": True}]
    assert doc["disable_root"] is True
