"""The cicd target: the policy gate precedes every deploy in every provider, secrets appear
only by name, and the outputs are deterministic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from attonix.blueprint.loader import load_file
from attonix.blueprint.model import Blueprint
from attonix.render.base import RenderError
from attonix.render.registry import render


def _bp(example_path: Path, tmp_path: Path, **pipeline_stages: list[str]) -> Blueprint:
    data = yaml.safe_load(example_path.read_text(encoding="utf-8"))
    for p in data["cicd"]["pipelines"]:
        if p["name"] in pipeline_stages:
            p["stages"] = pipeline_stages[p["name"]]
    path = tmp_path / "datacenter.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_file(path).blueprint


@pytest.fixture
def example(example_path: Path) -> Blueprint:
    return load_file(example_path).blueprint


def _files(bp: Blueprint) -> dict[str, Any]:
    return {a.path: a.content for a in render(bp, "cicd")}


def _ancestors(needs: dict[str, list[str]], job: str) -> set[str]:
    seen: set[str] = set()
    stack = list(needs.get(job, []))
    while stack:
        j = stack.pop()
        if j not in seen:
            seen.add(j)
            stack.extend(needs.get(j, []))
    return seen


def test_paths(example: Blueprint) -> None:
    assert sorted(_files(example)) == [
        ".github/workflows/attonix-console.yml",
        "gitlab/datacenter-blueprint/.gitlab-ci.yml",
        "zuul/main.yaml",
        "zuul/playbooks/attonix-check.yaml",
        "zuul/playbooks/attonix-post.yaml",
        "zuul/playbooks/attonix-pre.yaml",
        "zuul/playbooks/attonix-run.yaml",
        "zuul/zuul.d/jobs.yaml",
        "zuul/zuul.d/nodesets.yaml",
        "zuul/zuul.d/pipelines.yaml",
        "zuul/zuul.d/projects.yaml",
        "zuul/zuul.d/semaphores.yaml",
    ]


def test_deterministic(example: Blueprint) -> None:
    first = [a.text() for a in render(example, "cicd")]
    assert first == [a.text() for a in render(example, "cicd")]


def test_gitlab_deploy_needs_the_gate_and_is_serialised(example: Blueprint) -> None:
    doc = _files(example)["gitlab/datacenter-blueprint/.gitlab-ci.yml"]
    assert doc["stages"] == ["lint", "check", "render", "plan", "deploy"]
    needs = {k: v["needs"] for k, v in doc.items() if isinstance(v, dict) and "stage" in v}
    assert "attonix-check" in doc["deploy"]["needs"]
    assert {"attonix-check", "render", "plan", "lint"} <= _ancestors(needs, "deploy")
    assert doc["deploy"]["environment"] == {"name": "prod", "deployment_tier": "production"}
    assert doc["deploy"]["resource_group"] == "deploy-prod"
    assert doc["deploy"]["rules"][-1] == {"if": '$CI_COMMIT_BRANCH == "main"'}
    gate = doc["attonix-check"]
    assert gate["script"][0] == (
        "attonix check datacenter.yaml --fail-on medium --format sarif -o attonix.sarif"
    )
    assert gate["artifacts"]["when"] == "always" and "attonix.sarif" in gate["artifacts"]["paths"]


def test_github_least_privilege_pinned_and_gated(example_path: Path, tmp_path: Path) -> None:
    bp = _bp(example_path, tmp_path, **{"attonix-console": ["lint", "test", "check", "deploy"]})
    wf = _files(bp)[".github/workflows/attonix-console.yml"]
    assert wf["permissions"] == {"contents": "read"}
    assert wf["concurrency"]["group"] == "${{ github.workflow }}-${{ github.ref }}"
    jobs = wf["jobs"]
    for name, job in jobs.items():
        extra = {"security-events": "write"} if name == "attonix-check" else {}
        assert job["permissions"] == {"contents": "read", **extra}, name
        for step in job["steps"]:
            if "uses" in step:
                ref = step["uses"].split("@", 1)[1]
                assert len(ref) == 40 and int(ref, 16) >= 0, step["uses"]
    upload = jobs["attonix-check"]["steps"][-1]
    assert upload["uses"].startswith("github/codeql-action/upload-sarif@")
    assert upload["if"].startswith("always()")
    deploy = jobs["deploy"]
    assert deploy["needs"] == ["attonix-check"]
    assert "refs/heads/main" in deploy["if"] and "push" in deploy["if"]
    assert deploy["environment"] == {"name": "prod"}
    assert deploy["concurrency"] == {"group": "deploy-prod", "cancel-in-progress": False}
    # The console's only secrets come from its backend's needs: none are mounted by it.
    assert all(v == "${{ secrets." + k + " }}" for k, v in deploy.get("env", {}).items())


def test_missing_gate_is_inserted_before_deploy(example_path: Path, tmp_path: Path) -> None:
    bp = _bp(example_path, tmp_path, **{"datacenter-blueprint": ["lint", "deploy"]})
    doc = _files(bp)["gitlab/datacenter-blueprint/.gitlab-ci.yml"]
    assert doc["stages"] == ["lint", "check", "deploy"]
    assert doc["deploy"]["needs"] == ["attonix-check"]
    assert doc["attonix-check"]["needs"] == ["lint"]


def test_deploy_before_gate_is_refused(example_path: Path, tmp_path: Path) -> None:
    bp = _bp(example_path, tmp_path, **{"attonix-server": ["lint", "deploy", "check"]})
    with pytest.raises(RenderError, match=r"cicd\.pipelines\[0\]\.stages: .*'attonix-server'"):
        render(bp, "cicd")


def test_zuul_deploy_job_depends_on_gate_and_uses_secrets_by_name(example: Blueprint) -> None:
    files = _files(example)
    jobs = {j["job"]["name"]: j["job"] for j in files["zuul/zuul.d/jobs.yaml"]}
    deploy = jobs["attonix-server-deploy"]
    assert deploy["final"] is True
    assert deploy["dependencies"] == [
        "attonix-server-plan",
        "attonix-check",
        "attonix-server-render",
    ]
    assert {s["secret"] for s in deploy["secrets"]} == {
        "attonix-kek",
        "attonix-signing-key",
        "pg-main-credentials",
    }
    assert deploy["vars"]["attonix_secret_env"]["ATTONIX_SECRET_PG_MAIN_CREDENTIALS_PASSWORD"] == (
        "{{ attonix_secret_pg_main_credentials.password }}"
    )
    assert jobs["attonix-check"]["run"] == "playbooks/attonix-check.yaml"
    gate_play = files["zuul/playbooks/attonix-check.yaml"][0]["tasks"][0]
    assert "--fail-on medium --format sarif" in gate_play["ansible.builtin.shell"]
    project = files["zuul/zuul.d/projects.yaml"][0]["project"]
    assert project["name"] == "attonixcorp/attonix"
    deploy_jobs = project["deploy"]["jobs"]
    assert "attonix-server-deploy" in deploy_jobs
    assert {"attonix-check": {"dependencies": ["attonix-server-scan"]}} in deploy_jobs
    # Deploys never run before merge.
    assert "attonix-server-deploy" not in str(project["check"]) + str(project["gate"])
    pipelines = {p["pipeline"]["name"]: p["pipeline"] for p in files["zuul/zuul.d/pipelines.yaml"]}
    assert pipelines["deploy"]["manager"] == "serial"
    assert pipelines["gate"]["manager"] == "dependent"
    tenant = files["zuul/main.yaml"][0]["tenant"]
    assert tenant["source"]["github"]["untrusted-projects"] == ["attonixcorp/attonix"]


def test_secrets_appear_only_as_references(example_path: Path, tmp_path: Path) -> None:
    import re

    bp = _bp(example_path, tmp_path, **{"attonix-console": ["lint", "check", "deploy"]})
    allowed = [
        # GitHub: the env var takes the repository secret of the same name.
        re.compile(r"^\s+(ATTONIX_SECRET_\w+): \$\{\{ secrets\.\1 \}\}$"),
        # GitLab: a masked CI/CD variable, checked for presence only.
        re.compile(r"""^\s+- ': "\$\{(ATTONIX_SECRET_\w+):\?set \1 as a masked, protected"""),
        # Zuul: a Jinja reference to the Zuul secret's key.
        re.compile(r"^\s+ATTONIX_SECRET_\w+: '\{\{ attonix_secret_\w+\.\w+ \}\}'$"),
    ]
    lines = [
        line
        for a in render(bp, "cicd")
        for line in a.text().splitlines()
        if "ATTONIX_SECRET_" in line
    ]
    assert len(lines) > 10
    for line in lines:
        assert any(p.match(line) for p in allowed), line
