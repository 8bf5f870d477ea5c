"""Two Podman hosts on this machine: each its own Podman service, with its own image store
and libpod database, in its own network namespace with its own address.

Layout: a host bridge ``attxpm0`` (10.78.0.1/24), one namespace per host (``attx-pm1``,
``attx-pm2``) with a veth into the bridge and its own address (10.78.0.11, .12), and a
``podman system service`` started inside it (storage under /var/lib/attx-pmN, run state and
network configuration under /run/attx-pmN) listening on a unix socket the test reaches from
the host's namespace. Containers it starts share its namespace, so a published port answers
on that host's address only. Each engine gets the test images from the host's store (no
registry is reachable). What this does not stand for: a second kernel, or SSH transport
(``test_podman_ssh.py`` covers that).

Tear-down and the clean-up of an earlier, interrupted run are the same function.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BRIDGE = "attxpm0"
SUBNET = "10.78.0"
HOSTS = ("attx-pm1", "attx-pm2")
IMAGES = ("localhost/attonix-test-httpd:1", "localhost/attonix-test-httpd:2")
_CONF = """[containers]
default_ulimits = []
[engine]
runtime = "runc"
[network]
network_config_dir = "{net}"
"""
#: The running services, kept so each is waited for when stopped.
_SERVICES: dict[str, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class PodmanHost:
    """One host: its namespace name (also its blueprint host name) and address."""

    name: str
    address: str

    @property
    def run(self) -> Path:
        return Path(f"/run/{self.name}")

    @property
    def root(self) -> Path:
        return Path(f"/var/lib/{self.name}")

    @property
    def url(self) -> str:
        """The Podman service's socket (reachable from the host's namespace)."""
        return f"unix://{self.run}/podman.sock"

    def podman(self, *args: str, check: bool = True) -> str:
        """``podman --remote`` against this host's engine."""
        done = subprocess.run(
            ["podman", "--remote", "--url", self.url, *args],
            capture_output=True,
            text=True,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} on {self.name}: {done.stderr}")
        return done.stdout

    def local(self, *args: str) -> list[str]:
        """A ``podman`` command line on this host's store, without its service."""
        return [
            "nsenter", f"--net=/var/run/netns/{self.name}", "podman",
            "--root", str(self.root / "storage"), "--runroot", str(self.run / "run"),
            "--tmpdir", str(self.run / "tmp"), *args,
        ]  # fmt: skip


def _sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(args), capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {done.stderr.strip()}")
    return done


def available() -> str:
    """Why the hosts cannot run here ("" when they can)."""
    for tool in ("podman", "ip", "nsenter"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (scripts/setup.d/20-podman.sh)"
    if os.geteuid() != 0:
        return "network namespaces and rootful Podman need root"
    return ""


def _env(host: PodmanHost) -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(host.run / "containers.conf")}


def _start(host: PodmanHost, index: int) -> None:
    veth = f"{BRIDGE}h{index}"
    _sh("ip", "netns", "add", host.name)
    _sh("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth-pm")
    _sh("ip", "link", "set", "eth-pm", "netns", host.name)
    _sh("ip", "link", "set", veth, "master", BRIDGE, "up")
    inside = ["ip", "netns", "exec", host.name]
    _sh(*inside, "ip", "addr", "add", f"{host.address}/24", "dev", "eth-pm")
    _sh(*inside, "ip", "link", "set", "eth-pm", "up")
    _sh(*inside, "ip", "link", "set", "lo", "up")
    _sh(*inside, "ip", "route", "add", "default", "via", f"{SUBNET}.1")
    for d in (host.run / "net", host.run / "tmp", host.root):
        d.mkdir(parents=True, exist_ok=True)
    (host.run / "containers.conf").write_text(_CONF.format(net=host.run / "net"))
    with (host.run / "service.log").open("wb") as log:
        proc = subprocess.Popen(
            host.local("system", "service", "--time=0", host.url),
            stdout=log,
            stderr=log,
            env=_env(host),
            start_new_session=True,
        )
    _SERVICES[host.name] = proc
    (host.run / "service.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + 30
    while host.podman("info", check=False) == "":
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Podman service of {host.name} did not start")
        time.sleep(0.3)
    for image in IMAGES:
        saved = subprocess.run(["podman", "save", image], capture_output=True, check=True)
        subprocess.run(
            ["podman", "--remote", "--url", host.url, "load", "-q"],
            input=saved.stdout,
            capture_output=True,
            check=True,
        )


def _stop(host: PodmanHost, index: int) -> None:
    if (host.run / "service.pid").exists():
        for args in (("pod", "rm", "-af"), ("rm", "-af"), ("network", "prune", "-f")):
            host.podman(*args, check=False)
        pid = int((host.run / "service.pid").read_text())
        proc = _SERVICES.pop(host.name, None)
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        else:  # left by an interrupted run
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
                for _ in range(50):
                    os.kill(pid, 0)
                    time.sleep(0.1)
    if host.root.exists() or host.run.exists():
        # Reset the store with its own podman, so its overlay mounts go with it.
        subprocess.run(
            [*host.local("system", "reset", "-f")],
            capture_output=True,
            check=False,
            env=_env(host) if (host.run / "containers.conf").exists() else None,
        )
    for mount in reversed(Path("/proc/mounts").read_text().splitlines()):
        where = mount.split()[1]
        if where.startswith((str(host.root), str(host.run))):
            _sh("umount", "-l", where, check=False)
    shutil.rmtree(host.root, ignore_errors=True)
    shutil.rmtree(host.run, ignore_errors=True)
    _sh("ip", "link", "del", f"{BRIDGE}h{index}", check=False)
    _sh("ip", "netns", "del", host.name, check=False)


def _teardown(hosts: list[PodmanHost]) -> None:
    for i, host in enumerate(hosts):
        _stop(host, i)
    _sh("ip", "link", "del", BRIDGE, check=False)


@contextlib.contextmanager
def running() -> Iterator[list[PodmanHost]]:
    """The two hosts, up and holding the test images; removed afterwards."""
    hosts = [PodmanHost(name, f"{SUBNET}.{11 + i}") for i, name in enumerate(HOSTS)]
    _teardown(hosts)  # an earlier run that was interrupted
    try:
        _sh("ip", "link", "add", BRIDGE, "type", "bridge")
        _sh("ip", "addr", "add", f"{SUBNET}.1/24", "dev", BRIDGE)
        _sh("ip", "link", "set", BRIDGE, "up")
        for i, host in enumerate(hosts):
            _start(host, i)
        yield hosts
    finally:
        _teardown(hosts)
