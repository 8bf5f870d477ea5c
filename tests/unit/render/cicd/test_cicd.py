"""The cicd target: the policy gate precedes every deploy in every provider, secrets appear
only by name, and the outputs are deterministic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from attonix.blueprint import BlueprintInvalid
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
        "zuul/zuul.d/secrets.yaml",
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
        "attonix check datacenter.yaml --fail-on medium -o sarif --output-file attonix.sarif"
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
    # validate reports it (BP024); the renderer keeps its own check as a second line.
    with pytest.raises(BlueprintInvalid, match=r"cicd\.pipelines\[0\]\.stages\[1\]"):
        _bp(example_path, tmp_path, **{"attonix-server": ["lint", "deploy", "check"]})
    data = yaml.safe_load(example_path.read_text(encoding="utf-8"))
    data["cicd"]["pipelines"][0]["stages"] = ["lint", "deploy", "check"]
    bp = Blueprint.model_validate(data)
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
        "attonix-audit-key",
        "attonix-cluster-prod",
        "attonix-kek",
        "attonix-signing-key",
        "pg-main-credentials",
    }
    assert deploy["vars"]["attonix_secret_env"]["ATTONIX_SECRET_PG_MAIN_CREDENTIALS_PASSWORD"] == (
        "{{ attonix_secret_pg_main_credentials.password }}"
    )
    assert jobs["attonix-check"]["run"] == "playbooks/attonix-check.yaml"
    gate_play = files["zuul/playbooks/attonix-check.yaml"][0]["tasks"][0]
    assert "--fail-on medium -o sarif --output-file" in gate_play["ansible.builtin.shell"]
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


def _zuul_secrets(text: str) -> dict[str, list[str]]:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor(
        "!encrypted/pkcs1-oaep", lambda loader, node: loader.construct_sequence(node)
    )  # type: ignore[arg-type]
    docs = yaml.load(text, Loader=Loader)
    return {d["secret"]["name"]: sorted(d["secret"]["data"]) for d in docs}


def test_zuul_tenant_holds_every_project_its_jobs_use_and_every_secret_is_declared(
    example_path: Path, tmp_path: Path
) -> None:
    # Every stage in every zuul pipeline, so that each job shape counts.
    all_stages = ["lint", "test", "build", "scan", "check", "render", "plan", "deploy"]
    bp = _bp(example_path, tmp_path, **{"attonix-server": all_stages})
    files = {a.path: a for a in render(bp, "cicd")}
    tenant = files["zuul/main.yaml"].content[0]["tenant"]
    in_tenant: set[str] = set()
    for entry in tenant["source"].values():
        for kind in ("config-projects", "untrusted-projects"):
            for item in entry.get(kind, []):
                in_tenant.update(item if isinstance(item, dict) else [item])
    jobs = [d["job"] for d in files["zuul/zuul.d/jobs.yaml"].content]
    projects = [d["project"] for d in files["zuul/zuul.d/projects.yaml"].content]
    used = {r["zuul"] for j in jobs for r in j.get("roles", [])}
    used |= {p["name"] for p in projects}
    used |= {ap for j in jobs for ap in j.get("allowed-projects", [])}
    assert used <= in_tenant, used - in_tenant
    assert "zuul/zuul-jobs" in used
    # Every secret a job references has a secret stanza with every field the job reads.
    declared = _zuul_secrets(files["zuul/zuul.d/secrets.yaml"].text())
    for job in jobs:
        for ref in job.get("secrets", []):
            assert ref["secret"] in declared, ref
            var = ref["name"]
            for value in job["vars"]["attonix_secret_env"].values():
                if value.startswith("{{ " + var + "."):
                    field = value.removeprefix("{{ " + var + ".").removesuffix(" }}")
                    assert field in declared[ref["secret"]], (ref, field)
    assert declared["attonix-cluster-prod"] == ["attonix_kubeconfig"]
    assert "BEGIN" not in files["zuul/zuul.d/secrets.yaml"].text()


def test_zuul_gate_requires_approval_and_a_passing_check(example: Blueprint) -> None:
    pipelines = {
        p["pipeline"]["name"]: p["pipeline"] for p in _files(example)["zuul/zuul.d/pipelines.yaml"]
    }
    require = pipelines["gate"]["require"]["github"]
    assert require["review"] == [{"type": "approved", "permission": "write"}]
    assert require["status"] == [".*:attonixcorp/check:success"]
    assert require["open"] is True and require["current-patchset"] is True


def test_build_pushes_by_digest_scan_reads_it_and_deploy_gets_cluster_credentials(
    example_path: Path, tmp_path: Path
) -> None:
    from attonix import __version__

    stages = ["lint", "test", "build", "scan", "check", "render", "plan", "deploy"]
    bp = _bp(example_path, tmp_path, **{"attonix-console": stages})
    files = _files(bp)
    wf = files[".github/workflows/attonix-console.yml"]
    build = wf["jobs"]["build"]
    run = build["steps"][-1]["run"]
    assert "docker build --pull -t registry.attonixcorp.internal/attonix/console:0.1.0 ." in run
    assert "docker push registry.attonixcorp.internal/attonix/console:0.1.0" in run
    assert "registry.attonixcorp.internal/attonix/console@$digest" in run
    assert build["env"]["ATTONIX_PUSH"].startswith("${{ github.event_name == 'push'")
    assert build["outputs"]["images"] == "${{ steps.build.outputs.images }}"
    scan = wf["jobs"]["scan"]
    assert scan["env"]["IMAGES"] == "${{ needs.build.outputs.images }}"
    assert "trivy image --exit-code 1 --severity HIGH,CRITICAL" in scan["steps"][-1]["run"]
    deploy = wf["jobs"]["deploy"]
    assert deploy["env"]["ATTONIX_KUBECONFIG"] == "${{ secrets.ATTONIX_KUBECONFIG }}"
    assert deploy["environment"] == {"name": "prod"}
    script = deploy["steps"][-1]["run"]
    assert 'export KUBECONFIG="$creds/kubeconfig"' in script and "umask 077" in script
    # scanned before deploy: the scan is an ancestor of the deploy
    needs = {k: v.get("needs", []) for k, v in wf["jobs"].items()}
    assert "scan" in _ancestors(needs, "deploy")
    # the package version is the one that rendered, in every provider, from one place
    from attonix.render.cicd import _stages, github, gitlab

    assert github.ATTONIX_REQUIREMENT is _stages.ATTONIX_REQUIREMENT
    assert gitlab.ATTONIX_REQUIREMENT is _stages.ATTONIX_REQUIREMENT
    assert f"attonix=={__version__}" in str(wf)
    assert f"attonix=={__version__}" in str(files["gitlab/datacenter-blueprint/.gitlab-ci.yml"])
    assert f"attonix=={__version__}" in str(files["zuul/playbooks/attonix-pre.yaml"])
