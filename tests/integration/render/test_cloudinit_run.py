"""The rendered user data applied by a real cloud-init (NoCloud), with systemd as PID 1, in a
Debian 12 container built by ``scripts/setup.d/26-cloudinit-image.sh`` (Debian stands in for
Ubuntu: no Ubuntu mirror is reachable here).

One host of each role in the example boots at once (in parallel), each with ``--network none``
so nothing is fetched from outside. Then, inside each: every person's login and keys, no shared
account, the sudo rules, ``sshd -T``, the sysctl files, the nftables ruleset loaded, the audit
rules file and chrony's configuration.

What a container cannot do, and is therefore not asserted: install packages or download the Chef
installer (no network, so ``package-update-upgrade-install`` and ``chef`` fail and are the only
modules allowed to), apply host sysctls
(``/proc/sys`` is partly read-only: the files are checked) and load audit rules (the rules file
is checked).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from attonix.blueprint.loader import load_file
from attonix.blueprint.model import Blueprint
from attonix.render import host_access, hosts
from attonix.render.cloudinit import meta_data, nodes, user_data

pytestmark = pytest.mark.integration

IMAGE = "localhost/attonix-test-cloudinit:1"
LABEL = "io.attonix.test=cloudinit"
# One host per role of the example: compute (a Kubernetes control-plane node), storage (a worker
# with OSDs), load-balancer, bastion, ci.
HOSTS = ("cp-a", "wk-a1", "lb-a", "bastion-a", "ci-a")
# cloud-init modules that need the network, which the containers do not have: apt, and the
# Chef installer download.
NEEDS_NETWORK = ("package-update-upgrade-install", "chef")
# Generous: the whole module took 2.5 min at a load average of 14 on the 2-core machine, but a
# busier one took longer than 150 s to boot; the wait ends as soon as cloud-init is done.
BOOT_TIMEOUT = 420


def _podman(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@dataclass
class Booted:
    """A container that booted one host's user data."""

    host: str
    cid: str

    def sh(self, script: str) -> str:
        proc = _podman("exec", self.cid, "sh", "-c", script)
        assert proc.returncode == 0, f"{self.host}: {script}: {proc.stderr[-2000:]}"
        return proc.stdout

    def rc(self, script: str) -> int:
        return _podman("exec", self.cid, "sh", "-c", script).returncode


@pytest.fixture(scope="module")
def example(example_path: Path) -> Blueprint:
    return load_file(example_path).blueprint


@pytest.fixture(scope="module")
def booted(
    example: Blueprint, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Booted]]:
    if os.geteuid() != 0 or shutil.which("podman") is None:
        pytest.fail("needs rootful podman (scripts/setup.d/20-podman.sh)")
    if _podman("image", "exists", IMAGE).returncode != 0:
        pytest.fail(f"{IMAGE} is missing: run scripts/setup.d/26-cloudinit-image.sh")
    tag = uuid.uuid4().hex[:6]
    started: dict[str, Booted] = {}
    try:
        for name in HOSTS:
            host = example.hosts_by_name[name]
            seed = tmp_path_factory.mktemp(f"seed-{name}")
            (seed / "user-data").write_text(user_data(example, host))
            meta = meta_data(example, host)
            (seed / "meta-data").write_text("".join(f"{k}: {v}\n" for k, v in meta.items()))
            proc = _podman(
                "run",
                "-d",
                "--name",
                f"attonix-ci-{tag}-{name}",
                "--label",
                LABEL,
                "--network",
                "none",
                # cloud-init manages /etc/hosts (manage_etc_hosts); podman must not mount its own.
                "--no-hosts",
                "--systemd=always",
                "--cap-add",
                "NET_ADMIN,AUDIT_CONTROL,AUDIT_WRITE",
                "-v",
                f"{seed}:/var/lib/cloud/seed/nocloud:ro,Z",
                IMAGE,
                "/sbin/init",
            )
            assert proc.returncode == 0, proc.stderr
            started[name] = Booted(name, proc.stdout.strip())

        def wait(b: Booted) -> None:
            deadline = time.monotonic() + BOOT_TIMEOUT
            while time.monotonic() < deadline:
                if (
                    _podman("exec", b.cid, "test", "-f", "/run/cloud-init/result.json").returncode
                    == 0
                ):
                    return
                time.sleep(2)
            logs = _podman("exec", b.cid, "tail", "-n", "40", "/var/log/cloud-init-output.log")
            pytest.fail(f"{b.host}: cloud-init did not finish in {BOOT_TIMEOUT}s\n{logs.stdout}")

        with ThreadPoolExecutor(max_workers=len(started)) as pool:
            list(pool.map(wait, started.values()))
        yield started
    finally:
        for b in started.values():
            _podman("rm", "-f", "-t", "0", b.cid, timeout=120)


def _errors(b: Booted) -> list[str]:
    result = json.loads(b.sh("cat /run/cloud-init/result.json"))
    return [str(e) for e in result["v1"]["errors"]]


@pytest.mark.parametrize("name", HOSTS)
def test_cloud_init_ran_every_module_but_the_networked_one(
    booted: dict[str, Booted], name: str
) -> None:
    b = booted[name]
    errors = _errors(b)
    unexpected = [e for e in errors if not any(e.startswith(f"('{m}',") for m in NEEDS_NETWORK)]
    assert not unexpected, f"{name}: {unexpected}"
    # The container's hostname is podman's; the FQDN cloud-init wrote into /etc/hosts is ours.
    assert f"{name}.attonixcorp.com {name}" in b.sh("cat /etc/hosts")


@pytest.mark.parametrize("name", HOSTS)
def test_each_person_logs_in_with_their_own_keys_and_nobody_else(
    booted: dict[str, Booted], example: Blueprint, name: str
) -> None:
    b = booted[name]
    host = example.hosts_by_name[name]
    expected = {login.account.name: login for login in host_access.logins(example, host)}
    humans = {
        line.split(":")[0]: line.split(":")
        for line in b.sh("getent passwd").splitlines()
        if 1000 <= int(line.split(":")[2]) < 60000
    }
    # No shared account: exactly the people, no 'attonix', no distribution default user.
    assert sorted(humans) == sorted(expected), name
    members = b.sh(f"getent group {hosts.LOGIN_GROUP}").strip().split(":")[3].split(",")
    assert sorted(members) == sorted(expected)
    for user, login in expected.items():
        assert humans[user][6] == "/bin/bash"
        status = b.sh(f"passwd -S {user}").split()
        assert status[1] == "L", f"{user}'s password is not locked: {status}"
        keys = b.rc(f"test -s /home/{user}/.ssh/authorized_keys") == 0
        if login.account.ssh_keys:
            assert keys
            text = b.sh(f"cat /home/{user}/.ssh/authorized_keys")
            assert [k for k in text.splitlines() if k and not k.startswith("#")] == list(
                login.account.ssh_keys
            )
        else:
            assert not keys


@pytest.mark.parametrize("name", HOSTS)
def test_sudo_only_for_the_granted_roles(
    booted: dict[str, Booted], example: Blueprint, name: str
) -> None:
    b = booted[name]
    host = example.hosts_by_name[name]
    b.sh("visudo -c")
    for login in host_access.logins(example, host):
        listing = subprocess.run(
            ["podman", "exec", b.cid, "sudo", "-n", "-l", "-U", login.account.name],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout
        if login.sudo:
            assert "NOPASSWD: ALL" in listing, (name, login.account.name, listing)
        else:
            assert "is not allowed to run sudo" in listing, (name, login.account.name, listing)


@pytest.mark.parametrize("name", HOSTS)
def test_sshd_is_hardened(booted: dict[str, Booted], name: str) -> None:
    settings: dict[str, str] = {}
    for line in booted[name].sh("sshd -T").splitlines():
        key, _, value = line.partition(" ")
        settings.setdefault(key, value)
    assert settings["permitrootlogin"] == "no"
    assert settings["passwordauthentication"] == "no"
    assert settings["kbdinteractiveauthentication"] == "no"
    assert settings["authenticationmethods"] == "publickey"
    assert settings["allowgroups"] == hosts.LOGIN_GROUP
    assert "sha1" not in settings["kexalgorithms"] and "cbc" not in settings["ciphers"]


@pytest.mark.parametrize("name", HOSTS)
def test_sysctl_audit_and_chrony_files(
    booted: dict[str, Booted], example: Blueprint, name: str
) -> None:
    b = booted[name]
    host = example.hosts_by_name[name]
    sysctl = b.sh(f"cat {hosts.SYSCTL_DROP_IN}")
    assert sysctl == hosts.sysctl_text(example, host)
    if nodes.kubernetes_cluster(example, host) is not None:
        assert "net.bridge.bridge-nf-call-iptables = 1" in b.sh(f"cat {nodes.SYSCTL_FILE}")
        assert "br_netfilter" in b.sh(f"cat {nodes.MODULES_FILE}")
        assert "@TOKEN@" in b.sh(f"cat {nodes.KUBEADM_CONFIG}")
        assert b.sh(f"stat -c %a {nodes.KUBEADM_CONFIG}").strip() == "600"
    rules = b.sh(f"cat {host_access.AUDIT_RULES_FILE}")
    assert "-w /etc/shadow -p wa -k identity" in rules
    chrony = b.sh("cat /etc/chrony/chrony.conf")
    servers = [line.split()[1] for line in chrony.splitlines() if line.startswith("server ")]
    assert servers == [str(a) for a in example.network.time_servers]
    assert not [line for line in chrony.splitlines() if line.startswith("pool ")]


@pytest.mark.parametrize("name", HOSTS)
def test_nftables_ruleset_is_loaded(booted: dict[str, Booted], name: str) -> None:
    listing = booted[name].sh("nft list table inet attonix")
    assert "hook input priority filter; policy drop;" in listing
    assert "hook output priority filter; policy drop;" in listing
    assert "ssh from management zone mgmt" in listing
