"""YAML emission beside its ceiling, and the whole `attonix render` process, in one run.

    python bench/bench_yaml.py                  # 1,000 services, 50 databases, 200 hosts
    python bench/bench_yaml.py 5000 --runs 3

1. Emits every YAML document of the generated blueprint's Kubernetes render with Attonix's
   emitter (``render._yaml``, what ``dump_yaml`` uses) and with PyYAML's C ``CSafeDumper``
   (same options), checks that the bytes are identical, and prints the ratio. Target: within
   1.5x of CSafeDumper. Also prints how many documents fell back to PyYAML.
2. Times ``attonix render FILE -t kubernetes --output-dir DIR`` as a whole process (median
   and best of ``--runs``): into a fresh directory, then again into the same directory (no
   change, so no file is written).
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
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import yaml

from attonix.blueprint.loader import load_bytes
from attonix.render import _yaml, render
from generate import add_size_options, generate_blueprint

_C: Any = yaml.CSafeDumper


class _CDumper(_C):  # type: ignore[misc]
    def ignore_aliases(self, data: Any) -> bool:
        return True


def c_dump(doc: Any) -> str:
    """The ceiling: PyYAML's C dumper with the options ``dump_yaml`` uses."""
    return str(
        yaml.dump(
            doc,
            Dumper=_CDumper,
            sort_keys=False,
            default_flow_style=False,
            allow_unicode=True,
            width=4096,
        )
    )


def documents(services: int, databases: int, hosts: int) -> list[Any]:
    """Every YAML document the Kubernetes render writes for the generated blueprint."""
    bp = load_bytes(generate_blueprint(services, databases=databases, hosts=hosts)).blueprint
    docs: list[Any] = []
    for art in render(bp, "kubernetes", validate=False):
        if art.format == "yaml":
            docs.append(art.content)
        elif art.format == "yaml-multi":
            docs.extend(art.content)
    return docs


def best_of(fn: Any, docs: list[Any], runs: int) -> float:
    """Best wall time of ``runs`` passes of ``fn`` over every document."""
    best = float("inf")
    for _ in range(runs):
        _yaml._cache.clear()  # every pass pays for its own quoting decisions
        start = time.perf_counter()
        for doc in docs:
            fn(doc)
        best = min(best, time.perf_counter() - start)
    return best


def _render(path: Path, out: str) -> float:
    """Wall seconds of one ``attonix render PATH -t kubernetes --output-dir OUT`` process."""
    argv = [sys.executable, "-m", "attonix", "render", str(path), "-t", "kubernetes"]
    start = time.perf_counter()
    subprocess.run(
        [*argv, "--output-dir", out],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
    )
    return time.perf_counter() - start


def whole_process(path: Path, runs: int) -> tuple[list[float], list[float]]:
    """Wall seconds of rendering into a fresh directory, then again into the same directory
    (no change: nothing is written), ``runs`` times each.

    Every run renders into a new directory and all are removed only at the end: creating
    thousands of files right after deleting such a tree measures the file system's deletion,
    not the render (seconds instead of tenths on ext4)."""
    fresh, again = [], []
    with tempfile.TemporaryDirectory() as root:
        for i in range(runs):
            out = str(Path(root) / f"out-{i}")
            fresh.append(_render(path, out))
            again.append(_render(path, out))
    return fresh, again


def main() -> None:
    """Print emitter vs CSafeDumper, then the whole-process render time."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_size_options(parser)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    before = os.getloadavg()[0]
    docs = documents(args.services, args.databases, args.hosts)
    fallbacks = sum(1 for d in docs if _yaml.emit(d) is None)
    mismatched = sum(1 for d in docs if (_yaml.emit(d) or c_dump(d)) != c_dump(d))
    ours = best_of(_yaml.emit, docs, args.runs)
    ceiling = best_of(c_dump, docs, args.runs)
    print(f"{len(docs)} documents; {fallbacks} fall back to PyYAML; {mismatched} differ")
    print(f"attonix emitter   {ours:7.3f} s")
    print(f"PyYAML CSafeDumper {ceiling:6.3f} s")
    print(f"ratio (ours / C)  {ours / ceiling:7.2f}x  (target <= 1.5x)")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "blueprint.yaml"
        blueprint = generate_blueprint(args.services, databases=args.databases, hosts=args.hosts)
        path.write_text(blueprint, encoding="utf-8")
        whole_process(path, 1)  # warm the file cache and the bytecode
        fresh, again = whole_process(path, args.runs)
    after = os.getloadavg()[0]
    print(f"attonix render -t kubernetes --output-dir, {args.services} services, whole process:")
    for name, times in (("fresh directory", fresh), ("re-render, no change", again)):
        print(f"  {name:22} median {statistics.median(times):.2f} s, best {min(times):.2f} s")
    print(
        f"runs: {args.runs}; load average {before:.2f} before, {after:.2f} after; "
        f"{os.cpu_count()} cores"
    )
    if mismatched:
        raise SystemExit("the emitter's output differs from PyYAML's")


if __name__ == "__main__":
    main()
