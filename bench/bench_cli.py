"""Wall time of whole `attonix` processes, beside a bare interpreter in the same run.

    python bench/bench_cli.py              # 15 runs each; prints median and best
    python bench/bench_cli.py --runs 30
    python bench/bench_cli.py --instructions   # also: instructions per command (valgrind)
    python bench/bench_cli.py --baseline /tmp/main/src   # beside another checkout's sources

What a user feels: the process starts, imports what the command needs, answers, exits.
`python -c pass` is the floor of any Python command on the same machine at the same moment,
so the difference is Attonix's own start-up. Target: `attonix validate` of the example under
0.2 s on a quiet 2-core machine.

Children run with bytecode caching on (PYTHONDONTWRITEBYTECODE removed from their
environment), as an installed package does: otherwise every run recompiles Attonix's sources
and measures the compiler. On a loaded machine, `--instructions` counts the instructions each
process executes under valgrind's callgrind: slower to take, but independent of the load.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
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


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
Command = tuple[list[str], dict[str, str]]


def commands(baseline: str | None) -> dict[str, Command]:
    """The commands to time; with a baseline, each Attonix command also runs from its sources."""
    out: dict[str, Command] = {name: (argv, ENV) for name, argv in COMMANDS.items()}
    if baseline:
        env = {**ENV, "PYTHONPATH": baseline}
        for name, argv in COMMANDS.items():
            if "attonix" in argv:
                out[f"{name} (baseline)"] = (argv, env)
    return out


def instructions(argv: list[str], env: dict[str, str]) -> int:
    """Instructions one process executes (valgrind's callgrind; deterministic up to a few %)."""
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=True,
        env=env,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise SystemExit(f"valgrind printed no instruction count:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def wall(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds from spawn to exit of one process, and the CPU seconds (user + system) it used
    (less sensitive than wall time to what else the machine is doing)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main() -> None:
    """Run every command ``--runs`` times, interleaved, and print median and best."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--instructions", action="store_true", help="also count instructions (valgrind)"
    )
    parser.add_argument("--baseline", metavar="SRC", help="another checkout's src directory")
    args = parser.parse_args()
    runs = commands(args.baseline)
    times: dict[str, list[float]] = {name: [] for name in runs}
    cpus: dict[str, list[float]] = {name: [] for name in runs}
    for argv, env in runs.values():
        wall(argv, env)  # warm the file cache and the bytecode
    before = os.getloadavg()[0]
    for _ in range(args.runs):
        for name, (argv, env) in runs.items():  # interleaved: same load for every command
            elapsed, cpu = wall(argv, env)
            times[name].append(elapsed)
            cpus[name].append(cpu)
    after = os.getloadavg()[0]
    print(f"{'command':57} {'wall median':>12} {'wall best':>10} {'cpu median':>11}")
    for name, values in times.items():
        print(
            f"{name:57} {statistics.median(values):12.3f} {min(values):10.3f} "
            f"{statistics.median(cpus[name]):11.3f}"
        )
    print(
        f"runs: {args.runs}; load average {before:.2f} before, {after:.2f} after; "
        f"{os.cpu_count()} cores"
    )
    if args.instructions:
        if shutil.which("valgrind") is None:
            raise SystemExit("--instructions needs valgrind (apt-get install valgrind)")
        for name, (argv, env) in runs.items():
            print(f"{name:57} {instructions(argv, env) / 1e6:9.0f} M instructions")


if __name__ == "__main__":
    main()
