"""GitHub Actions workflows: one ``.github/workflows/<pipeline>.yml`` per github pipeline.

Least privilege throughout: the workflow grants ``contents: read`` and each job asks only for
what it uses (the policy gate adds ``security-events: write`` to upload its SARIF). Actions are
pinned by full commit SHA, because a tag can be moved to other code after review; the version
each SHA stands for is in the step name, and :data:`ACTIONS` is the one place to bump them.
Deploys run only for pushes to the deploy branch, behind an ``environment`` (whose protection
rules — reviewers, branch policy — are set in the repository) and one deploy at a time.
"""

from __future__ import annotations

from typing import Any

from attonix.blueprint.model import Blueprint
from attonix.render.base import Artifact
from attonix.render.cicd._stages import (
    ATTONIX_REQUIREMENT,
    DIGESTS_FILE,
    GATE_JOB,
    REGISTRY_ENV,
    SARIF_FILE,
    EffectivePipeline,
)

#: action -> (full commit SHA, the release it is). Update both together, after review.
ACTIONS: dict[str, tuple[str, str]] = {
    "actions/checkout": ("11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2"),
    "github/codeql-action/upload-sarif": ("ff0a06e83cb2de871e5a09832bc6a81e7276941f", "v3.28.18"),
}
RUNNER = "ubuntu-24.04"
# Attonix itself is installed into a private venv on the runner (PEP 668 forbids system pip).
_INSTALL = (
    'python3 -m venv "$RUNNER_TEMP/attonix"\n'
    f'"$RUNNER_TEMP/attonix/bin/pip" install --quiet "{ATTONIX_REQUIREMENT}"\n'
    'echo "$RUNNER_TEMP/attonix/bin" >> "$GITHUB_PATH"\n'
)


def job_id(stage: str) -> str:
    """The job id of ``stage`` inside a workflow: the gate keeps its shared name."""
    return GATE_JOB if stage == "check" else stage


def deploy_branch(branches: list[str]) -> str:
    """The branch deploys run from: ``main`` when the pipeline builds it, else its first."""
    return "main" if "main" in branches else branches[0]


def _uses(action: str) -> dict[str, str]:
    sha, version = ACTIONS[action]
    return {"name": f"{action} {version}", "uses": f"{action}@{sha}"}


def _checkout() -> dict[str, Any]:
    # persist-credentials false: later steps run project code that must not see the token.
    return {**_uses("actions/checkout"), "with": {"persist-credentials": False}}


def workflow(bp: Blueprint, eff: EffectivePipeline) -> dict[str, Any]:
    """The workflow document of one github pipeline."""
    p = eff.pipeline
    branches = list(dict.fromkeys(p.branches))
    jobs: dict[str, Any] = {}
    for st in eff.stages:
        job: dict[str, Any] = {"name": st.stage, "runs-on": RUNNER, "timeout-minutes": 30}
        if st.needs:
            job["needs"] = [job_id(n) for n in st.needs]
        permissions: dict[str, str] = {"contents": "read"}
        steps: list[dict[str, Any]] = [_checkout(), {"name": "Install Attonix", "run": _INSTALL}]
        run = "\n".join(st.commands) + "\n"
        if st.stage == "check":
            permissions["security-events"] = "write"
            steps.append({"name": "Policy gate (attonix check, attonix render)", "run": run})
            # always(): findings must reach code scanning precisely when the gate fails.
            steps.append(
                {
                    **_uses("github/codeql-action/upload-sarif"),
                    "if": f"always() && hashFiles('{SARIF_FILE}') != ''",
                    "with": {"sarif_file": SARIF_FILE, "category": "attonix"},
                }
            )
        elif st.stage == "deploy":
            env_name = p.deploy_environment or bp.metadata.environment
            job["if"] = (
                "github.event_name == 'push' && "
                f"github.ref == 'refs/heads/{deploy_branch(branches)}'"
            )
            job["environment"] = {"name": env_name}
            job["concurrency"] = {"group": f"deploy-{env_name}", "cancel-in-progress": False}
            # Blueprint secrets and the cluster credentials are environment secrets: only a job
            # that passed the environment's protection rules can read them.
            env_vars = (*eff.secret_env, *eff.credential_env)
            if env_vars:
                job["env"] = {v: "${{ secrets." + v + " }}" for v in env_vars}
            steps.append({"name": "Deploy", "run": run})
        elif st.stage == "build" and any(DIGESTS_FILE in c for c in st.commands):
            on_deploy_branch = (
                "github.event_name == 'push' && "
                f"github.ref == 'refs/heads/{deploy_branch(branches)}'"
            )
            job["env"] = {
                "ATTONIX_PUSH": "${{ " + on_deploy_branch + " }}",
                **{v: "${{ secrets." + v + " }}" for v in REGISTRY_ENV},
            }
            job["outputs"] = {"images": "${{ steps.build.outputs.images }}"}
            steps.append(
                {
                    "name": "Build (and push on the deploy branch)",
                    "id": "build",
                    "run": run
                    + f'echo "images=$(paste -sd, {DIGESTS_FILE})" >> "$GITHUB_OUTPUT"\n',
                }
            )
        elif (
            st.stage == "scan"
            and "build" in st.needs
            and any(DIGESTS_FILE in c for c in st.commands)
        ):
            job["env"] = {"IMAGES": "${{ needs.build.outputs.images }}"}
            fetch = f'printf %s "$IMAGES" | tr , "\\n" > {DIGESTS_FILE}\n'
            steps.append({"name": "Scan the images the build produced", "run": fetch + run})
        else:
            steps.append({"name": st.stage.capitalize(), "run": run})
        job["permissions"] = permissions
        job["steps"] = steps
        jobs[job_id(st.stage)] = job
    return {
        "name": p.name,
        "on": {
            # Separate lists: a shared one would be dumped as a YAML alias.
            "push": {"branches": list(branches)},
            "pull_request": {"branches": list(branches)},
        },
        "permissions": {"contents": "read"},
        "concurrency": {
            "group": "${{ github.workflow }}-${{ github.ref }}",
            # A newer push supersedes a running check, but never interrupts a deploy.
            "cancel-in-progress": "${{ github.event_name == 'pull_request' }}",
        },
        "jobs": jobs,
    }


def render_github(bp: Blueprint, pipelines: list[EffectivePipeline]) -> list[Artifact]:
    """One workflow artifact per github pipeline."""
    return [
        Artifact("cicd", f".github/workflows/{eff.pipeline.name}.yml", workflow(bp, eff))
        for eff in pipelines
        if eff.pipeline.provider == "github"
    ]
