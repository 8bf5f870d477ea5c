"""HAProxy from the blueprint's rendered configuration, and a request loop during a converge.

Shared by the zero-failed-request update tests of the engines that run several replicas behind
the blueprint's load balancer (the three-node Swarm, Podman on two hosts).
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from attonix.blueprint import Blueprint
from attonix.deploy import converge
from attonix.deploy.base import Driver
from attonix.deploy.converging import Outcome


@contextmanager
def haproxy_in_front(blueprint: Blueprint, tmp: Path, port: int) -> Iterator[str]:
    """HAProxy running the blueprint's rendered configuration; yields its base URL at ``port``
    (the port the blueprint's load balancer listens on)."""
    from attonix.render.chef.haproxy import haproxy_config, haproxy_lbs

    if shutil.which("haproxy") is None:
        pytest.fail("haproxy is missing: run scripts/setup.d/23-host-tools.sh")
    cfg = haproxy_config(blueprint, haproxy_lbs(blueprint))
    cfg = cfg.replace("/run/haproxy/admin.sock", str(tmp / "admin.sock"))
    (tmp / "haproxy.cfg").write_text(cfg, encoding="utf-8")
    subprocess.run(
        ["haproxy", "-c", "-f", str(tmp / "haproxy.cfg")], check=True, capture_output=True
    )
    # -db: foreground (the rendered config says daemon); -n: under this machine's fd limit.
    proc = subprocess.Popen(
        ["haproxy", "-db", "-n", "4000", "-f", str(tmp / "haproxy.cfg")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@dataclass
class Loaded:
    """A converge run under a request loop: its outcome, each answer and each request's time."""

    outcome: Outcome
    seen: list[str] = field(default_factory=list)
    took: list[float] = field(default_factory=list)


def converge_under_load(driver: Driver, fetch: Callable[[], str], *, first: str) -> Loaded:
    """Wait until ``fetch`` answers ``first``, then converge ``driver`` while a thread calls
    ``fetch`` every 20 ms; the loop runs on for a second after the converge returns."""
    deadline = time.monotonic() + 20
    while fetch() != first:
        assert time.monotonic() < deadline, "the load balancer did not start serving"
        time.sleep(0.2)
    seen: list[str] = []
    took: list[float] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            start = time.monotonic()
            seen.append(fetch())
            took.append(time.monotonic() - start)
            time.sleep(0.02)

    loop = threading.Thread(target=load)
    loop.start()
    try:
        outcome = converge(driver)
        time.sleep(1)
    finally:
        stop.set()
        loop.join(timeout=30)
    return Loaded(outcome, seen, took)
