"""Whole `attonix` processes on a generated data center: wall, CPU and peak memory of each.

    python bench/bench_scale.py 1000                              # 50 databases, 200 hosts
    python bench/bench_scale.py 10000 --databases 200 --hosts 600 --runs 1

Runs `attonix check`, `attonix render -t kubernetes --output-dir DIR` into a fresh directory,
and the same render again (nothing changed, so nothing may be written: the bench fails if a
file's modification time moved). Targets (issue 14): at 1,000 services `render` <= 1.5 s and
`check` <= 0.4 s; at 10,000, `check` <= 2 s and <= 200 MB, `render` <= 10 s and <= 600 MB.
Bytecode caching is on for the children, as for an installed package.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import add_size_options, generate_blueprint

ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def measure(argv: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak resident MB of one process."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) not in (0, 1):  # 1: findings
        raise SystemExit(f"{' '.join(argv)} failed ({status})")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def _mtimes(root: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def main() -> None:
    """Time each command ``--runs`` times and print median wall, CPU and peak memory."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_size_options(parser)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[tuple[float, float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "blueprint.yaml"
        text = generate_blueprint(args.services, databases=args.databases, hosts=args.hosts)
        path.write_text(text, encoding="utf-8")
        attonix = [sys.executable, "-m", "attonix"]
        measure([*attonix, "check", str(path)])  # warm the file cache and the bytecode
        before = os.getloadavg()[0]
        for i in range(args.runs):
            out = Path(tmp) / f"out-{i}"
            render = [*attonix, "render", str(path), "-t", "kubernetes", "--output-dir", str(out)]
            results.setdefault("check", []).append(measure([*attonix, "check", str(path)]))
            results.setdefault("render, fresh directory", []).append(measure(render))
            stamps = _mtimes(out)
            results.setdefault("render again, no change", []).append(measure(render))
            moved = [p for p, t in _mtimes(out).items() if stamps.get(p) != t]
            if moved:
                raise SystemExit(f"the no-change render rewrote {len(moved)} file(s)")
        files = len(stamps)
        after = os.getloadavg()[0]
    size = f"{args.services} services, {args.databases} databases, {args.hosts} hosts"
    print(f"{size}: {files} files")
    print(f"{'command':26} {'wall median':>11} {'cpu median':>10} {'peak MB':>8}")
    for name, rows in results.items():
        wall = statistics.median(r[0] for r in rows)
        cpu = statistics.median(r[1] for r in rows)
        peak = max(r[2] for r in rows)
        print(f"{name:26} {wall:11.2f} {cpu:10.2f} {peak:8.0f}")
    print("the no-change render wrote no file")
    print(
        f"runs: {args.runs}; load average {before:.2f} before, {after:.2f} after; "
        f"{os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
