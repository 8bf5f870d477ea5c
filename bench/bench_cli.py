"""Wall time of whole `attonix` processes, beside a bare interpreter in the same run.

    python bench/bench_cli.py              # 15 runs each; prints median and best
    python bench/bench_cli.py --runs 30

What a user feels: the process starts, imports what the command needs, answers, exits.
`python -c pass` is the floor of any Python command on the same machine at the same moment,
so the difference is Attonix's own start-up. Target: `attonix validate` of the example under
0.2 s on a quiet 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "attonixcorp.yaml"

COMMANDS: dict[str, list[str]] = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "attonix --version": [sys.executable, "-m", "attonix", "--version"],
    "attonix validate examples/attonixcorp.yaml": [
        sys.executable,
        "-m",
        "attonix",
        "validate",
        str(EXAMPLE),
    ],
}


def wall(argv: list[str]) -> tuple[float, float]:
    """Seconds from spawn to exit of one process, and the CPU seconds (user + system) it used
    (less sensitive than wall time to what else the machine is doing)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main() -> None:
    """Run every command ``--runs`` times, interleaved, and print median and best."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    cpus: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for argv in COMMANDS.values():
        wall(argv)  # warm the file cache and the bytecode
    before = os.getloadavg()[0]
    for _ in range(args.runs):
        for name, argv in COMMANDS.items():  # interleaved: same load for every command
            elapsed, cpu = wall(argv)
            times[name].append(elapsed)
            cpus[name].append(cpu)
    after = os.getloadavg()[0]
    print(f"{'command':46} {'wall median':>12} {'wall best':>10} {'cpu median':>11}")
    for name, values in times.items():
        print(
            f"{name:46} {statistics.median(values):12.3f} {min(values):10.3f} "
            f"{statistics.median(cpus[name]):11.3f}"
        )
    print(
        f"runs: {args.runs}; load average {before:.2f} before, {after:.2f} after; "
        f"{os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
