"""Time a no-op re-apply of a 20-service stack on Swarm and on Podman: the one converge path
(lock, plan, nothing to apply, verify) over a stack that is already converged.

    .venv/bin/python bench/bench_noop_reapply.py [--rounds N] [--services N] [--targets T,T]

Targets: ``swarm``, ``podman`` (this machine's Podman, one replica per service) and
``podman-hosts`` (two Podman hosts in network namespaces, as tests/integration/deploy/
_podman_hosts.py starts them, reached over unix sockets; two replicas per service, one per
host; needs root). Reported per target, medians: the wall time of one no-op converge, the CPU
time (user + sys) of Attonix's own process, the CPU time of the engine CLI processes it waited
for, the number of engine CLI calls, and the machine's load average. CPU times are what a
shared, loaded machine does not distort; the health checks Podman's status runs are
concurrent, so wall time is no longer the sum of the calls. Needs the engines and images from
`scripts/setup.sh all`; everything it creates carries the blueprint ``attonix-bench`` and is
destroyed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from attonix.blueprint import load_bytes
from attonix.deploy import EnvSecretSource, _process, converge, get_driver
from attonix.deploy.connections import parse

PORT_BASE = {"swarm": 38900, "podman": 38950, "podman-hosts": 39000}
CLUSTERS = {"swarm": "swarm-bench", "podman": "podman-bench", "podman-hosts": "podman-hosts"}
#: The two Podman hosts of tests/integration/deploy/_podman_hosts.py.
HOSTS = {"attx-pm1": "10.78.0.11", "attx-pm2": "10.78.0.12"}


def blueprint(services: int) -> str:
    """A blueprint with ``services`` services on each of a swarm cluster, a podman cluster on
    this machine (one replica each) and a podman cluster of two hosts (two replicas each)."""
    doc: dict[str, Any] = {
        "apiVersion": "attonix.io/v1",
        "kind": "DataCenter",
        "metadata": {
            "name": "attonix-bench",
            "environment": "bench",
            "domain": "bench.example.com",
        },
        "hosts": [
            {
                "name": "node-1",
                "address": "127.0.0.1",
                "zone": "zone-test",
                "rack": "rack-test",
                "roles": ["compute"],
            },
            *(
                {
                    "name": name,
                    "address": address,
                    "zone": f"zone-{i}",
                    "rack": "rack-test",
                    "roles": ["compute"],
                }
                for i, (name, address) in enumerate(HOSTS.items(), start=1)
            ),
        ],
        "orchestration": {
            "clusters": [
                {"name": "swarm-bench", "kind": "swarm", "control_plane": ["node-1"]},
                {"name": "podman-bench", "kind": "podman", "workers": ["node-1"]},
                {"name": "podman-hosts", "kind": "podman", "workers": list(HOSTS)},
            ]
        },
        "security": {"tls": {"ca": {"name": "bench-ca", "common_name": "Bench CA"}}},
        "services": {"backend": []},
    }
    for target, cluster in CLUSTERS.items():
        for i in range(services):
            port = PORT_BASE[target] + i
            doc["services"]["backend"].append(
                {
                    "name": f"{'h' if target == 'podman-hosts' else target[0]}svc-{i:02d}",
                    "cluster": cluster,
                    "image": "localhost/attonix-test-httpd:1",
                    "replicas": 2 if target == "podman-hosts" else 1,
                    "ports": [{"name": "http", "port": port}],
                    "health": {"path": "/healthz", "initial_delay_seconds": 1, "period_seconds": 2},
                    "resources": {"cpu": "10m", "memory": "8Mi", "memory_limit": "32Mi"},
                    "env": {"PORT": str(port)},
                }
            )
    return yaml.safe_dump(doc, sort_keys=False)


class EngineClock:
    """Counts the engine CLI processes the deploy layer starts, and the CPU time of this
    process and of the children it waited for while the clock ran."""

    def __init__(self) -> None:
        self.calls = 0
        self.own_cpu = 0.0
        self.engine_cpu = 0.0
        self._run = subprocess.run
        self._lock = threading.Lock()

    @staticmethod
    def _cpu(who: int) -> float:
        usage = resource.getrusage(who)
        return usage.ru_utime + usage.ru_stime

    def __enter__(self) -> EngineClock:
        def counted(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls += 1
            return self._run(*args, **kwargs)

        self._own = self._cpu(resource.RUSAGE_SELF)
        self._children = self._cpu(resource.RUSAGE_CHILDREN)
        _process.subprocess.run = counted  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        _process.subprocess.run = self._run  # type: ignore[assignment]
        self.own_cpu = self._cpu(resource.RUSAGE_SELF) - self._own
        self.engine_cpu = self._cpu(resource.RUSAGE_CHILDREN) - self._children


@contextlib.contextmanager
def podman_hosts() -> Iterator[str]:
    """The two Podman hosts, up for the benchmark; yields the connections file's text."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "integration" / "deploy"))
    from _podman_hosts import available, running  # noqa: PLC0415 - test helper, needs root

    why = available()
    if why:
        raise SystemExit(f"podman-hosts: {why}")
    with running() as hosts:
        hosts_conf = {h.name: {"url": h.url} for h in hosts}
        yield yaml.safe_dump(
            {"clusters": {CLUSTERS["podman-hosts"]: {"podman": {"hosts": hosts_conf}}}}
        )


def main() -> None:
    """Converge each target once, then time no-op converges, then destroy."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--services", type=int, default=20)
    parser.add_argument("--targets", default="swarm,podman")
    args = parser.parse_args()
    bp = load_bytes(blueprint(args.services), file="bench.yaml").blueprint
    os.environ["ATTONIX_STATE_DIR"] = tempfile.mkdtemp(prefix="attonix-bench-")
    for target in args.targets.split(","):
        with contextlib.ExitStack() as stack:
            bench(target, bp, args, stack)


def bench(target: str, bp: Any, args: argparse.Namespace, stack: contextlib.ExitStack) -> None:
    """First converge, then ``args.rounds`` timed no-op converges, then destroy."""
    connections = None
    if target == "podman-hosts":
        connections = parse(stack.enter_context(podman_hosts()), source="bench")
    engine = "podman" if target.startswith("podman") else target
    drv = get_driver(
        engine,
        bp,
        secrets=EnvSecretSource([], environ={}),
        cluster=CLUSTERS[target],
        connections=connections,
    )
    try:
        t = time.perf_counter()
        first = converge(drv, timeout=600)
        if not first.ok:
            raise SystemExit(f"{target}: first apply failed: {first.error}")
        print(f"{target}: first apply of {args.services} services: "
              f"{time.perf_counter() - t:.1f} s")  # fmt: skip
        walls, own, engine_cpu, calls, loads = [], [], [], [], []
        for _ in range(args.rounds):
            with EngineClock() as clock:
                t = time.perf_counter()
                outcome = converge(drv)
                walls.append(time.perf_counter() - t)
            if not outcome.ok or not outcome.plan.is_empty:
                raise SystemExit(f"{target}: not a no-op: {outcome.to_dict()['result']}")
            own.append(clock.own_cpu)
            engine_cpu.append(clock.engine_cpu)
            calls.append(clock.calls)
            loads.append(os.getloadavg()[0])
        med = statistics.median
        print(
            f"{target}: no-op re-apply (lock, plan, verify) of {args.services} services, "
            f"median of {args.rounds}: {med(walls):.2f} s wall, {med(own):.2f} s CPU "
            f"Attonix's own, {med(engine_cpu):.2f} s CPU in {int(med(calls))} engine CLI "
            f"calls; load average {min(loads):.1f}-{max(loads):.1f}"
        )
    finally:
        drv.destroy()


if __name__ == "__main__":
    main()
