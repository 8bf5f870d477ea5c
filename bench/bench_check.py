"""Time load + validate + policy check on generated blueprints (best of N runs).

    python bench/bench_check.py            # 1,000 and 5,000 services, 50 databases, 200 hosts
    python bench/bench_check.py 2000 --runs 3

Target: 1,000 services in under 0.5 s on a 2-core machine.

Also reads each generated file with Attonix's source-map reader (``source.parse``: data plus
the position of every value) and with PyYAML's ``CSafeLoader`` (data only), in the same run:
median CPU seconds of ``--runs`` passes each, the cyclic collector off for both (as ``parse``
runs). Target (issue 14): within 2x of CSafeLoader.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml

from attonix.blueprint import load_file
from attonix.blueprint.source import parse
from attonix.policy import check
from generate import generate_blueprint

TODAY = dt.date(2026, 6, 1)


def read_cpu(data: bytes, runs: int) -> tuple[float, float]:
    """Median CPU seconds of ``parse`` (with positions) and of ``CSafeLoader`` (without)."""
    ours: list[float] = []
    ceiling: list[float] = []
    for _ in range(runs):
        start = time.process_time()
        parse(data, "generated.yaml")
        ours.append(time.process_time() - start)
        gc.collect()
        gc.disable()
        try:
            start = time.process_time()
            yaml.load(data, Loader=yaml.CSafeLoader)
            ceiling.append(time.process_time() - start)
        finally:
            gc.enable()
        gc.collect()
    return statistics.median(ours), statistics.median(ceiling)


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
    ours, ceiling = read_cpu(text.encode("utf-8"), runs)
    return {
        "parse": ours,
        "csafeloader": ceiling,
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
    print(
        f"{'services':>8} {'KiB':>7} {'load+validate':>14} {'check':>8} {'total':>8} findings"
        f"  {'parse cpu':>9} {'CSafeLoader cpu':>15} ratio"
    )
    for n in args.services:
        r = measure(n, databases=args.databases, hosts=args.hosts, runs=args.runs)
        print(
            f"{n:>8} {r['kib']:>7.0f} {r['load']:>13.3f}s {r['check']:>7.3f}s "
            f"{r['total']:>7.3f}s {int(r['findings']):>8}  {r['parse']:>8.3f}s "
            f"{r['csafeloader']:>14.3f}s {r['parse'] / r['csafeloader']:.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
