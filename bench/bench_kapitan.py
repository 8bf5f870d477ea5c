"""Attonix beside Kapitan on the same Kubernetes output, whole processes, interleaved in one run.

    python bench/bench_kapitan.py                  # 1,000 services, 50 databases, 200 hosts
    python bench/bench_kapitan.py 1000 --runs 5

Kapitan is not a dependency of Attonix: it is installed from PyPI into its own virtual
environment, ``bench/.venv-kapitan`` (``KAPITAN_VERSION`` below), on the first run.

The equivalent input: Kapitan compiles, from one inventory target, every object Attonix's
Kubernetes render writes for the generated blueprint. The inventory lists the services (name and
namespace); a jsonnet component builds each service's seven objects (Deployment, Service,
ServiceAccount, NetworkPolicy, PodDisruptionBudget, HorizontalPodAutoscaler, Certificate) from
a template — the first service's objects as Attonix rendered them, with the name and namespace
as parameters — and emits the objects that belong to no service (namespaces, databases,
kustomization) as they are. Both write one YAML file per object into a fresh directory.
Attonix does more (loads and validates the blueprint, derives every object, checks names and
schemas); Kapitan does only templating. Prints median and best of each, wall and CPU (user +
system, child processes included: on a loaded machine the CPU figures are the comparable
ones), and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from attonix.blueprint.loader import load_bytes
from attonix.render import render
from generate import add_size_options, generate_blueprint

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-kapitan"
KAPITAN_VERSION = "0.36.3"
_SERVICE_FILE = re.compile(r"^k8s/(?P<ns>[^/]+)/[a-z]+-(?P<svc>svc-\d+)(-internal-tls)?\.yaml$")


def kapitan() -> Path:
    """The kapitan executable of the benchmark's own virtual environment (installed if absent)."""
    exe = VENV / "bin" / "kapitan"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(VENV / "bin" / "pip"), "install", "--quiet", f"kapitan=={KAPITAN_VERSION}"]
        done = subprocess.run(pip, check=False, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"kapitan could not be installed:\n{done.stderr[-3000:]}")
    return exe


def _jsonnet_template(docs: dict[str, Any], name: str, namespace: str) -> str:
    """``docs`` as jsonnet source with ``name`` and ``namespace`` replaced by parameters."""
    text = json.dumps(docs, indent=1)
    text = re.sub(
        r'"([^"\n]*)"(\s*:)?',
        lambda m: _parameterised(m.group(1), name, namespace, key=bool(m.group(2))),
        text,
    )
    return text


def _parameterised(s: str, name: str, namespace: str, *, key: bool) -> str:
    if name not in s and namespace not in s:
        return json.dumps(s) + (":" if key else "")
    parts = re.split(f"({re.escape(name)}|{re.escape(namespace)})", s)
    pieces = []
    for part in parts:
        if part == name:
            pieces.append("s.name")
        elif part == namespace:
            pieces.append("s.namespace")
        elif part:
            pieces.append(json.dumps(part))
    expr = " + ".join(pieces)
    return f"[{expr}]:" if key else f"({expr})"


def kapitan_project(root: Path, services: int, databases: int, hosts: int) -> Path:
    """Write the Kapitan project equivalent to the generated blueprint's Kubernetes render;
    return the Attonix blueprint written beside it."""
    text = generate_blueprint(services, databases=databases, hosts=hosts)
    blueprint = root / "blueprint.yaml"
    blueprint.write_text(text, encoding="utf-8")
    arts = render(load_bytes(text).blueprint, "kubernetes", validate=False)
    per_service: dict[tuple[str, str], dict[str, Any]] = {}
    static: dict[str, Any] = {}
    for art in arts:
        key = art.path.removesuffix(".yaml").replace("/", "--")
        found = _SERVICE_FILE.match(art.path)
        if found and art.format == "yaml":
            per_service.setdefault((found["svc"], found["ns"]), {})[key] = art.content
        else:
            static[key] = art.content
    (first, first_ns), template = next(iter(per_service.items()))
    for docs in per_service.values():
        if len(docs) != len(template):
            static.update(docs)  # a service of another shape: its objects as they are
    services_list = [
        {"name": svc, "namespace": ns}
        for (svc, ns), docs in per_service.items()
        if len(docs) == len(template)
    ]
    (root / "components").mkdir(parents=True)
    (root / "components" / "static.json").write_text(json.dumps(static), encoding="utf-8")
    (root / "components" / "k8s.jsonnet").write_text(
        "local kap = import 'lib/kapitan.libjsonnet';\n"
        "local inv = kap.inventory();\n"
        "local static = import 'static.json';\n"
        f"local objects(s) = {_jsonnet_template(template, first, first_ns)};\n"
        "static + std.foldl(function(acc, s) acc + objects(s), inv.parameters.services, {})\n",
        encoding="utf-8",
    )
    (root / "inventory" / "targets").mkdir(parents=True)
    (root / "inventory" / "classes").mkdir()
    (root / "inventory" / "targets" / "dc.yml").write_text(
        json.dumps(
            {
                "parameters": {
                    "kapitan": {
                        "vars": {"target": "dc"},
                        "compile": [
                            {
                                "output_path": "k8s",
                                "input_type": "jsonnet",
                                "output_type": "yaml",
                                "input_paths": ["components/k8s.jsonnet"],
                            }
                        ],
                    },
                    "services": services_list,
                }
            }
        ),
        encoding="utf-8",
    )
    return blueprint


def _differences(ours: Path, theirs: Path) -> int:
    """How many of Attonix's YAML files Kapitan did not write with the same data."""
    loader: Any = yaml.CSafeLoader
    differ = 0
    for path in ours.rglob("*.yaml"):
        rel = path.relative_to(ours).as_posix()
        other = theirs / rel.replace("/", "--")
        mine = list(yaml.load_all(path.read_text(encoding="utf-8"), Loader=loader))
        try:
            got = list(yaml.load_all(other.read_text(encoding="utf-8"), Loader=loader))
        except OSError:
            got = None
        differ += mine != got
    return differ


def run(argv: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, its child processes included) of one
    process (its output must succeed)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{argv[0]} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main() -> None:
    """Compile with Kapitan and render with Attonix, interleaved; print the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_size_options(parser)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    exe = kapitan()
    env_note = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=False)
    theirs: list[tuple[float, float]] = []
    ours: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        blueprint = kapitan_project(root, args.services, args.databases, args.hosts)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        os.environ.clear()
        os.environ.update(env)
        attonix = [sys.executable, "-m", "attonix", "render", str(blueprint), "-t", "kubernetes"]
        before = os.getloadavg()[0]
        for i in range(args.runs + 1):  # the first round warms caches and is not counted
            k = run([str(exe), "compile", "--output-path", f"out-k-{i}"], root)
            a = run([*attonix, "--output-dir", str(root / f"out-a-{i}")], root)
            if i:
                theirs.append(k)
                ours.append(a)
        after = os.getloadavg()[0]
        files_k = sum(1 for p in (root / "out-k-0").rglob("*") if p.is_file())
        files_a = sum(1 for p in (root / "out-a-0").rglob("*.yaml"))
        differ = _differences(root / "out-a-0", root / "out-k-0" / "compiled" / "dc" / "k8s")
    print(f"kapitan {env_note.stdout.strip()}: {files_k} files; attonix: {files_a} YAML files")
    print(
        f"  files whose data differ: {differ} (the template varies name and namespace only; "
        "other per-service values are the first service's)"
    )
    for i, what in ((0, "wall"), (1, "CPU")):
        for name, runs in (("kapitan compile", theirs), ("attonix render", ours)):
            times = [r[i] for r in runs]
            print(
                f"  {name:16} {what:4} median {statistics.median(times):6.2f} s, "
                f"best {min(times):6.2f} s"
            )
        ratio = statistics.median(r[i] for r in theirs) / statistics.median(r[i] for r in ours)
        print(f"  Kapitan / Attonix, {what} (medians): {ratio:.1f}x")
    print(
        f"services: {args.services}; runs: {args.runs}; load average {before:.2f} before, "
        f"{after:.2f} after; {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
