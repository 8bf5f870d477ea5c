#!/usr/bin/env python3
"""The long run of the generative properties: draw many blueprints and check every property.

    .venv/bin/python tools/generate_blueprints.py --count 2000 --seed 1 --workdir /tmp/gen

Draws ``--count`` blueprints with hypothesis (fixed ``--seed``, service and database names up
to ``--name-limit`` characters), checks the in-process properties of each and runs the real
validators once per ``--batch`` (see tests/generative/checks.py). Prints a summary per batch
and the problems grouped by kind; a failing blueprint is kept under ``WORKDIR/failed/``.
Exit status 0 only when nothing failed.
"""

from __future__ import annotations

import argparse
import collections
import platform
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.generative.runner import Report, run  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--name-limit", type=int, default=63)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--no-external", action="store_true", help="skip the real validators")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="attonix-generated-"))

    shown = 0

    def progress(report: Report) -> None:
        # Problems as they are found, so that a run stopped early still says what failed.
        nonlocal shown
        for n, p in report.problems[shown:]:
            print(f"blueprint {n}: {str(p)[:2000]}", flush=True)
        shown = len(report.problems)
        print(report.summary(), flush=True)

    report = run(
        args.count,
        seed_value=args.seed,
        workdir=workdir,
        batch=args.batch,
        external=not args.no_external,
        name_limit=args.name_limit,
        progress=progress,
    )
    print(f"machine: {platform.node()} {platform.machine()} python {platform.python_version()}")
    print("files checked:", ", ".join(f"{k} {v}" for k, v in sorted(report.validated.items())))
    grouped = collections.Counter(
        (p.check, p.message.split(":")[0][:120]) for _, p in report.problems
    )
    for (check, message), n in grouped.most_common():
        print(f"{n:6d}  [{check}] {message}")
    print(report.summary())
    if report.problems:
        print(f"failing blueprints kept in {workdir / 'failed'}")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
