"""Three Docker engines in network namespaces forming one Swarm of three managers, reached over
TCP with mutual TLS (certificates from the project's internal CA).

Layout: a host bridge ``attxsw0`` (10.79.0.1/24), one namespace per node (``attx-sw1``…)
with a veth into the bridge and its own address (10.79.0.11…), its own UTS namespace (so
each node has its own host name) and its own ``dockerd`` (data under /var/lib/attx-swN, run
state under /run/attx-swN) listening on its unix socket and on ADDRESS:2376 with
``--tlsverify``. Each node carries the label ``zone=zone-N``; each engine gets the test images
from the host's engine (no registry is reachable). The recipe and its pitfalls are in
``/work/shared/ENVIRONMENT.md`` (``nsenter --net``, not ``ip netns exec``; the DOCKER-USER
rule for bridged traffic; leave the swarm before stopping the engines).

Tear-down and the clean-up of an earlier, interrupted run are the same function.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

BRIDGE = "attxsw0"
SUBNET = "10.79.0"
NODES = ("attx-sw1", "attx-sw2", "attx-sw3")
IMAGES = ("localhost/attonix-test-httpd:1", "localhost/attonix-test-httpd:2")
PORT = 2376
_IPT_RULE = ["DOCKER-USER", "-i", BRIDGE, "-o", BRIDGE, "-j", "ACCEPT"]


@dataclass(frozen=True)
class Node:
    """One engine: its namespace (also its host name), address and zone label."""

    name: str
    address: str
    zone: str

    @property
    def sock(self) -> str:
        """The engine's unix socket (reachable from the host's namespace)."""
        return f"unix:///run/{self.name}/docker.sock"

    @property
    def tcp(self) -> str:
        """The engine's mutual-TLS endpoint."""
        return f"tcp://{self.address}:{PORT}"

    @property
    def pidfile(self) -> Path:
        return Path(f"/run/{self.name}/dockerd.pid")


@dataclass
class Swarm:
    """The running cluster and the client credentials to reach it."""

    nodes: list[Node]
    ca: Path
    cert: Path
    key: Path
    certs: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def docker(self, node: Node, *args: str, check: bool = True, stdin: bytes | None = None) -> str:
        """Run the docker CLI against ``node``'s unix socket."""
        done = subprocess.run(
            ["docker", "-H", node.sock, *args],
            input=stdin,
            capture_output=True,
            timeout=120,
            check=False,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"docker -H {node.sock} {' '.join(args)}: {done.stderr.decode()}")
        return done.stdout.decode()

    def kill(self, node: Node) -> None:
        """Lose ``node`` as a machine is lost: its link goes down, and its engine, containerd
        and containers are killed."""
        _sh("ip", "link", "set", _veth_host(node), "down", check=False)
        for pid in _pids_of(node):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def leader(self, via: Node) -> Node:
        """The node Swarm reports as its leader, asked through ``via``."""
        rows = [
            json.loads(line)
            for line in self.docker(via, "node", "ls", "--format", "{{json .}}").splitlines()
        ]
        name = next(r["Hostname"] for r in rows if r.get("ManagerStatus") == "Leader")
        return next(n for n in self.nodes if n.name == name)


def _sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")
    return done


def _veth_host(node: Node) -> str:
    return f"attxsw{node.name[-1]}h"


def _container_pids(node: Node) -> list[int]:
    """The processes of ``node``'s containers (in the node's own cgroup parent)."""
    out: list[int] = []
    group = Path(f"/sys/fs/cgroup/pids/{node.name}")
    if group.is_dir():
        for procs in group.rglob("cgroup.procs"):
            out += [int(pid) for pid in procs.read_text().split()]
    return out


def _pids_of(node: Node) -> list[int]:
    """Every process of ``node``: its dockerd, containerd and shims (by their run dir) and
    its containers' processes."""
    out = _container_pids(node)
    mark = f"/run/{node.name}".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if mark in cmdline:
            out.append(int(proc.name))
    return out


def available() -> str:
    """Why the cluster cannot run here ("" when it can)."""
    for tool in ("dockerd", "docker", "nsenter", "unshare", "ip", "iptables"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/setup.d/21-docker.sh)"
    if os.geteuid() != 0:
        return "needs root (network namespaces and dockerd)"
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode != 0:
        return "the host's dockerd is not running (scripts/setup.d/21-docker.sh)"
    return ""


def _certificates(root: Path, nodes: list[Node]) -> tuple[Path, Path, Path]:
    from attonix.server.security.pki import create_ca, issue_certificate

    ca = create_ca(common_name="Swarm test CA", key_algorithm="ecdsa-p256", validity_days=2)
    (root / "ca.pem").write_bytes(ca.cert_pem)
    for node in nodes:
        pair = issue_certificate(
            ca, common_name=node.name, dns_names=[node.address, node.name], validity_days=1
        )
        (root / f"{node.name}.pem").write_bytes(pair.cert_pem)
        (root / f"{node.name}-key.pem").write_bytes(pair.key_pem)
    client = issue_certificate(ca, common_name="attonix", dns_names=["attonix"], validity_days=1)
    (root / "client.pem").write_bytes(client.cert_pem)
    (root / "client-key.pem").write_bytes(client.key_pem)
    for key in root.glob("*-key.pem"):
        key.chmod(0o600)
    return root / "ca.pem", root / "client.pem", root / "client-key.pem"


def _network(nodes: list[Node]) -> None:
    _sh("ip", "link", "add", BRIDGE, "type", "bridge")
    _sh("ip", "addr", "add", f"{SUBNET}.1/24", "dev", BRIDGE)
    _sh("ip", "link", "set", BRIDGE, "up")
    # The host's dockerd sets FORWARD DROP, and bridged traffic passes iptables.
    _sh("iptables", "-I", *_IPT_RULE)
    for node in nodes:
        host, inner = _veth_host(node), f"attxsw{node.name[-1]}n"
        _sh("ip", "netns", "add", node.name)
        _sh("ip", "link", "add", host, "type", "veth", "peer", "name", inner)
        _sh("ip", "link", "set", inner, "netns", node.name)
        _sh("ip", "link", "set", host, "master", BRIDGE, "up")
        _sh("ip", "-n", node.name, "addr", "add", f"{node.address}/24", "dev", inner)
        _sh("ip", "-n", node.name, "link", "set", inner, "up")
        _sh("ip", "-n", node.name, "link", "set", "lo", "up")
        _sh("ip", "-n", node.name, "route", "add", "default", "via", f"{SUBNET}.1")


def _start_engine(node: Node, certs: Path, log: Path) -> subprocess.Popen[bytes]:
    run = Path(f"/run/{node.name}")
    run.mkdir(parents=True, exist_ok=True)
    dockerd = [
        "dockerd",
        "--data-root", f"/var/lib/{node.name}",
        "--exec-root", str(run),
        "--pidfile", str(node.pidfile),
        # Its containers in a cgroup of their own, so a lost node's containers can be found.
        "--cgroup-parent", f"/{node.name}",
        "-H", node.sock,
        "-H", node.tcp,
        "--tlsverify",
        "--tlscacert", str(certs / "ca.pem"),
        "--tlscert", str(certs / f"{node.name}.pem"),
        "--tlskey", str(certs / f"{node.name}-key.pem"),
    ]  # fmt: skip
    # nsenter --net (not ip netns exec, which remounts /sys), then a UTS namespace of its own
    # so the node's host name is its name; both exec, so the pid is dockerd's.
    script = f"hostname {node.name} && exec {' '.join(dockerd)}"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                "nsenter",
                f"--net=/var/run/netns/{node.name}",
                "unshare",
                "--uts",
                "sh",
                "-c",
                script,
            ],
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    return proc


def _wait(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise RuntimeError(f"timed out waiting for {what}")


def _ready(node: Node) -> bool:
    done = subprocess.run(
        ["docker", "-H", node.sock, "version", "--format", "{{.Server.Version}}"],
        capture_output=True, timeout=10, check=False,
    )  # fmt: skip
    return done.returncode == 0


def teardown(nodes: list[Node]) -> None:
    """Stop and remove everything :func:`running` made (or an interrupted run left)."""
    alive = [n for n in nodes if Path(f"/run/{n.name}/docker.sock").exists()]
    # Leave the swarm before stopping: an engine whose swarm lost quorum can hang on TERM.
    leave = [["docker", "-H", n.sock, "swarm", "leave", "--force"] for n in alive]
    devnull = subprocess.DEVNULL
    leaving = [subprocess.Popen(argv, stdout=devnull, stderr=devnull) for argv in leave]
    for proc in leaving:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # A container's first process ignores TERM: its containers are killed outright, and the
    # engines are asked to stop.
    for pid in [pid for node in nodes for pid in _container_pids(node)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid in [pid for node in nodes for pid in _pids_of(node)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while any(_pids_of(n) for n in nodes) and time.monotonic() < deadline:
        time.sleep(0.2)
    for node in nodes:
        for pid in _pids_of(node):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for root in (Path(f"/run/{node.name}"), Path(f"/var/lib/{node.name}")):
            mounts = [
                line.split()[1]
                for line in Path("/proc/mounts").read_text().splitlines()
                if line.split()[1].startswith(str(root))
            ]
            for mount in sorted(mounts, reverse=True):
                _sh("umount", "-l", mount, check=False)
            shutil.rmtree(root, ignore_errors=True)
        for group in sorted(Path("/sys/fs/cgroup").glob(f"*/{node.name}"), reverse=True):
            for sub in sorted(group.rglob("*"), reverse=True):
                if sub.is_dir():
                    with contextlib.suppress(OSError):
                        sub.rmdir()
            with contextlib.suppress(OSError):
                group.rmdir()
        _sh("ip", "netns", "delete", node.name, check=False)
        _sh("ip", "link", "delete", _veth_host(node), check=False)
    _sh("ip", "link", "delete", BRIDGE, check=False)
    while _sh("iptables", "-D", *_IPT_RULE, check=False).returncode == 0:
        pass


@contextlib.contextmanager
def running(tmp: Path) -> Iterator[Swarm]:
    """Start the three-node swarm; always tear it down afterwards."""
    nodes = [Node(name, f"{SUBNET}.{11 + i}", f"zone-{i + 1}") for i, name in enumerate(NODES)]
    teardown(nodes)  # leftovers of an interrupted run
    certs = tmp / "certs"
    certs.mkdir()
    ca, cert, key = _certificates(certs, nodes)
    swarm = Swarm(nodes, ca, cert, key, certs)
    try:
        _network(nodes)
        for node in nodes:
            swarm.procs[node.name] = _start_engine(node, certs, tmp / f"{node.name}.log")
        image = subprocess.run(
            ["docker", "save", *IMAGES], capture_output=True, timeout=60, check=True
        ).stdout
        for node in nodes:
            _wait(f"dockerd of {node.name}", lambda n=node: _ready(n))
            swarm.docker(node, "load", stdin=image)
        first = nodes[0]
        # A one-second heartbeat: a lost node is marked down in seconds, not in half a minute.
        swarm.docker(first, "swarm", "init", "--advertise-addr", first.address,
                     "--listen-addr", f"{first.address}:2377",
                     "--dispatcher-heartbeat", "1s")  # fmt: skip
        token = swarm.docker(first, "swarm", "join-token", "-q", "manager").strip()
        for node in nodes[1:]:
            swarm.docker(node, "swarm", "join", "--token", token,
                         "--advertise-addr", node.address, f"{first.address}:2377")  # fmt: skip
        for node in nodes:
            node_id = swarm.docker(node, "info", "--format", "{{.Swarm.NodeID}}").strip()
            swarm.docker(first, "node", "update", "--label-add", f"zone={node.zone}",
                         "--label-add", "rack=rack-1", node_id)  # fmt: skip
        yield swarm
    finally:
        teardown(nodes)
        for proc in swarm.procs.values():
            proc.wait(timeout=30)
