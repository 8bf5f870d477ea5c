"""Time load + validate + policy check on generated blueprints (best of N runs).

    python bench/bench_check.py            # 1,000 and 5,000 services, 50 databases, 200 hosts
    python bench/bench_check.py 2000 --runs 3

Target: 1,000 services in under 0.5 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from attonix.blueprint import load_file
from attonix.policy import check
from generate import generate_blueprint

TODAY = dt.date(2026, 6, 1)


def measure(services: int, *, databases: int, hosts: int, runs: int) -> dict[str, float]:
    """Best-of-``runs`` seconds for loading and for checking one generated blueprint."""
    text = generate_blueprint(services, databases=databases, hosts=hosts)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "generated.yaml"
        path.write_text(text, encoding="utf-8")
        best_load = best_check = best_total = float("inf")
        findings = 0
        for _ in range(runs):
            start = time.perf_counter()
            loaded = load_file(path)
            loaded_at = time.perf_counter()
            findings = len(check(loaded, today=TODAY))
            done = time.perf_counter()
            best_load = min(best_load, loaded_at - start)
            best_check = min(best_check, done - loaded_at)
            best_total = min(best_total, done - start)
    return {
        "load": best_load,
        "check": best_check,
        "total": best_total,
        "findings": float(findings),
        "kib": len(text) / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one line per size."""
    parser = argparse.ArgumentParser(description="Benchmark load + validate + check.")
    parser.add_argument("services", type=int, nargs="*", default=[1000, 5000])
    parser.add_argument("--databases", type=int, default=50)
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"{'services':>8} {'KiB':>7} {'load+validate':>14} {'check':>8} {'total':>8} findings")
    for n in args.services:
        r = measure(n, databases=args.databases, hosts=args.hosts, runs=args.runs)
        print(
            f"{n:>8} {r['kib']:>7.0f} {r['load']:>13.3f}s {r['check']:>7.3f}s "
            f"{r['total']:>7.3f}s {int(r['findings'])}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
