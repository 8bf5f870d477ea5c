"""Time ``render --target kubernetes`` (build + schema validation) on generated blueprints.

    python bench/bench_render.py              # 1,000 services, 50 databases, 200 hosts
    python bench/bench_render.py 5000 --runs 3

Target: 1,000 services rendered and validated in under 2 s on a 2-core machine. The first run
also pays for loading and compiling the schemas (reported separately as "cold"); CPU time is
shown too because wall time on a shared machine includes waiting for the CPU.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from attonix.blueprint.loader import load_bytes
from attonix.render import render
from generate import generate_blueprint


def measure(services: int, *, databases: int, hosts: int, runs: int) -> dict[str, float]:
    """Seconds for the first (cold) render and the best of ``runs`` warm renders."""
    bp = load_bytes(generate_blueprint(services, databases=databases, hosts=hosts)).blueprint
    start = time.perf_counter()
    arts = render(bp, "kubernetes")
    cold = time.perf_counter() - start
    best = best_novalidate = best_cpu = float("inf")
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        arts = render(bp, "kubernetes")
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        start = time.perf_counter()
        render(bp, "kubernetes", validate=False)
        best_novalidate = min(best_novalidate, time.perf_counter() - start)
    objects = sum(
        1 for a in arts if a.format != "text" and not a.path.endswith("kustomization.yaml")
    )
    return {
        "cold": cold,
        "warm": best,
        "cpu": best_cpu,
        "build_only": best_novalidate,
        "objects": float(objects),
    }


def main() -> None:
    """Print the timings for each requested size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("services", nargs="*", type=int, default=[1000])
    parser.add_argument("--databases", type=int, default=50)
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for n in args.services:
        r = measure(n, databases=args.databases, hosts=args.hosts, runs=args.runs)
        print(
            f"{n:>6} services, {int(r['objects'])} objects: cold {r['cold']:.2f} s, "
            f"warm {r['warm']:.2f} s ({r['cpu']:.2f} s CPU); "
            f"without validation {r['build_only']:.2f} s"
        )


if __name__ == "__main__":
    main()
