"""Time a no-op re-apply of a 20-service stack on Swarm and on Podman: the one converge path
(lock, plan, nothing to apply, verify) over a stack that is already converged.

    .venv/bin/python bench/bench_noop_reapply.py [--rounds N] [--services N] [--targets T,T]

Reported per target: the wall time of one no-op converge, the part of it spent waiting for the
engine's CLI (``docker``/``podman`` processes), and the rest — Attonix's own time (rendering,
comparing, classifying). Needs the engines and images from `scripts/setup.sh all`; everything
it creates carries the blueprint ``attonix-bench`` and is destroyed at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from typing import Any

import yaml

from attonix.blueprint import load_bytes
from attonix.deploy import EnvSecretSource, _process, converge, get_driver

PORT_BASE = {"swarm": 38900, "podman": 38950}


def blueprint(services: int) -> str:
    """A blueprint with ``services`` one-replica services on a swarm and a podman cluster."""
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
        ],
        "orchestration": {
            "clusters": [
                {"name": "swarm-bench", "kind": "swarm", "control_plane": ["node-1"]},
                {"name": "podman-bench", "kind": "podman", "workers": ["node-1"]},
            ]
        },
        "security": {"tls": {"ca": {"name": "bench-ca", "common_name": "Bench CA"}}},
        "services": {"backend": []},
    }
    for target, cluster in (("swarm", "swarm-bench"), ("podman", "podman-bench")):
        for i in range(services):
            port = PORT_BASE[target] + i
            doc["services"]["backend"].append(
                {
                    "name": f"{target[0]}svc-{i:02d}",
                    "cluster": cluster,
                    "image": "localhost/attonix-test-httpd:1",
                    "replicas": 1,
                    "ports": [{"name": "http", "port": port}],
                    "health": {"path": "/healthz", "initial_delay_seconds": 1, "period_seconds": 2},
                    "resources": {"cpu": "10m", "memory": "8Mi", "memory_limit": "32Mi"},
                    "env": {"PORT": str(port)},
                }
            )
    return yaml.safe_dump(doc, sort_keys=False)


class EngineClock:
    """Adds up the time spent inside engine CLI processes started by the deploy layer."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self._run = subprocess.run

    def __enter__(self) -> EngineClock:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return self._run(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self.calls += 1

        _process.subprocess.run = timed  # type: ignore[assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        _process.subprocess.run = self._run  # type: ignore[assignment]


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
        drv = get_driver(target, bp, secrets=EnvSecretSource([], environ={}))
        try:
            t = time.perf_counter()
            first = converge(drv, timeout=600)
            if not first.ok:
                raise SystemExit(f"{target}: first apply failed: {first.error}")
            print(f"{target}: first apply of {args.services} services: "
                  f"{time.perf_counter() - t:.1f} s")  # fmt: skip
            walls, engine, calls = [], [], []
            for _ in range(args.rounds):
                with EngineClock() as clock:
                    t = time.perf_counter()
                    outcome = converge(drv)
                    walls.append(time.perf_counter() - t)
                if not outcome.ok or not outcome.plan.is_empty:
                    raise SystemExit(f"{target}: not a no-op: {outcome.to_dict()['result']}")
                engine.append(clock.seconds)
                calls.append(clock.calls)
            med = statistics.median
            own = [w - e for w, e in zip(walls, engine, strict=True)]
            print(
                f"{target}: no-op re-apply (lock, plan, verify) of {args.services} services, "
                f"median of {args.rounds}: {med(walls):.2f} s wall, {med(engine):.2f} s in "
                f"{int(med(calls))} engine CLI calls, {med(own):.2f} s Attonix's own"
            )
        finally:
            drv.destroy()


if __name__ == "__main__":
    main()
