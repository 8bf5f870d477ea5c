"""Real traffic through a rendered nftables ruleset, between two network namespaces.

The ``client`` namespace holds 10.200.0.10 (zone client, 10.200.0.0/26) and 10.200.0.100 (in no
allowed zone); the ``server`` namespace holds 10.200.0.130 (zone server, 10.200.0.128/25), whose
rendered ruleset allows only client -> server on 8080. No traffic leaves the two namespaces.

The management tests make ``client`` the management zone: SSH (a listener on port 22) from it
connects exactly when ``check``'s reachability rule (ATX062) says it does; and the output chain
lets the server open only its declared egress (to 10.200.0.10:9100, not :9200).

The published-port test runs a real Podman engine (netavark, its own ``podman0`` bridge and
iptables-nft NAT) inside the ``server`` namespace and publishes a container's port there:
netavark DNATs it in prerouting and the packet is forwarded to the container, as Docker and
Swarm do with theirs, so only the rendered forward chain can hold it to the blueprint's zones.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from attonix.blueprint.model import Blueprint
from attonix.policy import firewall
from attonix.render.nftables import render

pytestmark = pytest.mark.integration

SERVER_IP = "10.200.0.130"
CLIENT_IP = "10.200.0.10"
OUTSIDER_IP = "10.200.0.100"
PUBLISHED = 8443
IMAGE = "localhost/attonix-test-httpd:1"  # scripts/setup.d/22-images.sh; listens on 8080

# Connects from a source address with a short timeout; exit 0 = connected, 1 = refused/timed out.
_CONNECT = """
import socket, sys
s = socket.socket()
s.settimeout(1.0)
s.bind((sys.argv[1], 0))
try:
    s.connect((sys.argv[2], int(sys.argv[3])))
except OSError:
    sys.exit(1)
"""


def _bp(*, management: bool = False, deny_ssh: bool = False, podman: bool = False) -> Blueprint:
    doc: dict[str, Any] = {
        "metadata": {"name": "lab", "domain": "lab.example.com"},
        "hosts": [{"name": "srv", "address": SERVER_IP, "zone": "z", "rack": "r"}],
        "security": {
            "tls": {"ca": {"name": "ca", "common_name": "Lab CA"}},
            "firewall": {
                "default_policy": "deny",
                "zones": [
                    {"name": "client", "cidrs": ["10.200.0.0/26"]},
                    {"name": "server", "cidrs": ["10.200.0.128/25"]},
                ],
                "rules": [
                    {
                        "name": "web",
                        "source": "client",
                        "destination": "server",
                        "ports": [8080],
                    },
                ],
            },
        },
    }
    fw = doc["security"]["firewall"]
    if management:
        fw["management_zone"] = "client"
        fw["zones"][1]["egress"] = [
            {"name": "metrics", "cidrs": [f"{CLIENT_IP}/32"], "ports": [9100]}
        ]
    if deny_ssh:
        fw["rules"].insert(
            0,
            {
                "name": "no-ssh",
                "source": "client",
                "destination": "server",
                "ports": [22],
                "action": "deny",
            },
        )
    if podman:
        # srv runs Podman and publishes port 8443, which only the client zone may reach.
        doc["orchestration"] = {"clusters": [{"name": "pm", "kind": "podman", "workers": ["srv"]}]}
        fw["rules"].append(
            {"name": "app", "source": "client", "destination": "server", "ports": [PUBLISHED]}
        )
    return Blueprint.model_validate(doc)


def _load(lab: Lab, bp: Blueprint, tmp_path: Path) -> None:
    ruleset = {a.path: a.text() for a in render(bp)}["nftables/srv.nft"]
    path = tmp_path / "srv.nft"
    path.write_text(ruleset)
    lab.ns(lab.server, "nft", "-f", str(path))


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=30)


class Lab:
    """Two namespaces joined by a veth pair."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.client, self.server = f"atx-c-{tag}", f"atx-s-{tag}"

    def ns(self, name: str, *cmd: str) -> subprocess.CompletedProcess[str]:
        return _run("ip", "netns", "exec", name, *cmd)

    def connects(
        self, source: str, port: int, *, dest: str = SERVER_IP, ns: str | None = None
    ) -> bool:
        proc = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                ns or self.client,
                sys.executable,
                "-c",
                _CONNECT,
                source,
                dest,
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=15,
        )
        assert proc.returncode in (0, 1), proc.stderr
        return proc.returncode == 0


@pytest.fixture
def lab() -> Iterator[Lab]:
    if os.geteuid() != 0:
        pytest.fail("network namespaces need root (CI runs as root)")
    lab = Lab()
    listeners: list[subprocess.Popen[bytes]] = []
    try:
        _run("ip", "netns", "add", lab.client)
        _run("ip", "netns", "add", lab.server)
        # The veth pair is created inside the client namespace, so it never touches the host's.
        lab.ns(lab.client, "ip", "link", "add", "veth-c", "type", "veth", "peer", "name", "veth-s")
        lab.ns(lab.client, "ip", "link", "set", "veth-s", "netns", lab.server)
        lab.ns(lab.client, "ip", "addr", "add", f"{CLIENT_IP}/24", "dev", "veth-c")
        lab.ns(lab.client, "ip", "addr", "add", f"{OUTSIDER_IP}/24", "dev", "veth-c")
        lab.ns(lab.server, "ip", "addr", "add", f"{SERVER_IP}/24", "dev", "veth-s")
        for name, dev in ((lab.client, "veth-c"), (lab.server, "veth-s")):
            lab.ns(name, "ip", "link", "set", "lo", "up")
            lab.ns(name, "ip", "link", "set", dev, "up")
        for ns, address, port in (
            (lab.server, SERVER_IP, 8080),
            (lab.server, SERVER_IP, 9090),
            (lab.server, SERVER_IP, 22),
            (lab.client, CLIENT_IP, 9100),
            (lab.client, CLIENT_IP, 9200),
        ):
            listeners.append(
                subprocess.Popen(
                    [
                        "ip",
                        "netns",
                        "exec",
                        ns,
                        sys.executable,
                        "-m",
                        "http.server",
                        "--bind",
                        address,
                        str(port),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        deadline = time.monotonic() + 10
        while not (
            all(lab.connects(CLIENT_IP, p) for p in (8080, 9090, 22))
            and all(lab.connects(SERVER_IP, p, dest=CLIENT_IP, ns=lab.server) for p in (9100, 9200))
        ):
            assert time.monotonic() < deadline, "listeners did not come up"
            time.sleep(0.2)
        yield lab
    finally:
        for proc in listeners:
            proc.terminate()
            proc.wait(timeout=10)
        for name in (lab.client, lab.server):
            subprocess.run(["ip", "netns", "delete", name], capture_output=True, check=False)


def test_rendered_ruleset_lets_through_only_the_allowed_flow(lab: Lab, tmp_path: Path) -> None:
    ruleset = {a.path: a.text() for a in render(_bp())}["nftables/srv.nft"]
    path = tmp_path / "srv.nft"
    path.write_text(ruleset)
    # Without the ruleset everything connects: whatever is refused below, the firewall refused.
    assert lab.connects(OUTSIDER_IP, 8080)
    assert lab.connects(CLIENT_IP, 9090)

    lab.ns(lab.server, "nft", "-f", str(path))
    listing = lab.ns(lab.server, "nft", "list", "ruleset").stdout
    assert "@zone_client" in listing and "policy drop" in listing

    assert lab.connects(CLIENT_IP, 8080), "client zone -> 8080 is allowed"
    assert not lab.connects(CLIENT_IP, 9090), "9090 is not in any rule"
    assert not lab.connects(OUTSIDER_IP, 8080), "10.200.0.100 is outside the client zone"
    # The drops went through the ruleset's counted final rule.
    counters = lab.ns(lab.server, "nft", "list", "chain", "inet", "attonix", "input").stdout
    final = [line for line in counters.splitlines() if line.strip().startswith("counter packets")]
    assert final and not final[-1].strip().startswith("counter packets 0 ")

    lab.ns(lab.server, "nft", "flush", "ruleset")
    assert lab.connects(CLIENT_IP, 9090)
    assert lab.connects(OUTSIDER_IP, 8080)


def test_management_reachability_rule_matches_real_ssh_traffic(lab: Lab, tmp_path: Path) -> None:
    good = _bp(management=True)
    srv = good.hosts_by_name["srv"]
    assert firewall.unreachable_for_management(good, srv) is None
    _load(lab, good, tmp_path)
    assert lab.connects(CLIENT_IP, 22), "the management zone reaches SSH"
    assert not lab.connects(OUTSIDER_IP, 22), "outside the management zone: dropped"

    bad = _bp(management=True, deny_ssh=True)
    why = firewall.unreachable_for_management(bad, bad.hosts_by_name["srv"])
    assert why is not None and "no-ssh" in why
    _load(lab, bad, tmp_path)
    assert not lab.connects(CLIENT_IP, 22), "check said unreachable, and it is"
    assert lab.connects(CLIENT_IP, 8080), "the other flows still pass"

    # Without a management zone check reports the host, and nothing admits SSH.
    assert firewall.unreachable_for_management(_bp(), srv) is not None
    _load(lab, _bp(), tmp_path)
    assert not lab.connects(CLIENT_IP, 22)


def test_output_chain_admits_only_declared_egress(lab: Lab, tmp_path: Path) -> None:
    def out(port: int) -> bool:
        return lab.connects(SERVER_IP, port, dest=CLIENT_IP, ns=lab.server)

    assert out(9100) and out(9200)
    _load(lab, _bp(management=True), tmp_path)
    assert out(9100), "declared egress metrics -> 10.200.0.10:9100"
    assert not out(9200), "undeclared egress is dropped"
    # replies to allowed inbound traffic still leave (established)
    assert lab.connects(CLIENT_IP, 8080)


def _in_netns(name: str, *cmd: str, check: bool = True) -> str:
    # nsenter, not ip netns exec: the latter remounts /sys, which the engine needs as it is.
    proc = subprocess.run(
        ["nsenter", f"--net=/var/run/netns/{name}", *cmd],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if check:
        assert proc.returncode == 0, f"{' '.join(cmd)}: {proc.stderr}"
    return proc.stdout


def test_port_published_by_a_real_engine_obeys_the_zones(lab: Lab, tmp_path: Path) -> None:
    container = f"atx-fw-{uuid.uuid4().hex[:6]}"
    podman = ("podman", "--cgroup-manager", "cgroupfs")
    try:
        _in_netns(
            lab.server,
            *podman,
            "run",
            "-d",
            "--rm",
            "--name",
            container,
            "-p",
            f"{PUBLISHED}:8080",
            IMAGE,
        )
        deadline = time.monotonic() + 10
        while not lab.connects(OUTSIDER_IP, PUBLISHED):
            assert time.monotonic() < deadline, "the published port did not come up"
            time.sleep(0.2)
        # Netavark published it to every network: DNAT in prerouting, then forwarded.
        nat = _in_netns(lab.server, "nft", "list", "ruleset")
        assert "dnat" in nat and str(PUBLISHED) in nat

        _load(lab, _bp(podman=True), tmp_path)
        assert lab.connects(CLIENT_IP, PUBLISHED), "the client zone reaches the published port"
        assert not lab.connects(OUTSIDER_IP, PUBLISHED), "outside the client zone: dropped"
        assert not lab.connects(OUTSIDER_IP, 8080), "the host's own 8080 still obeys input"
        forward = lab.ns(lab.server, "nft", "list", "chain", "inet", "attonix", "forward").stdout
        allowed = next(line for line in forward.splitlines() if '"allow app:' in line)
        assert "ct original proto-dst" in allowed and "packets 0 " not in allowed
        final = [ln.strip() for ln in forward.splitlines() if ln.strip().startswith("counter")]
        assert final and not final[-1].startswith("counter packets 0 "), "the outsider's drop"
        # The container's own outbound traffic still leaves through the engine's bridge
        # (busybox nc: the image's static busybox wget segfaults on this request).
        request = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {CLIENT_IP} 9100"
        out = _in_netns(lab.server, *podman, "exec", container, "sh", "-c", request, check=False)
        assert out.startswith("HTTP/1.0 200"), "container -> client:9100 is forwarded out"
    finally:
        _in_netns(lab.server, *podman, "rm", "-f", "-t", "0", container, check=False)
