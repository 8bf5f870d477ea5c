"""GitLab CI: one ``gitlab/<pipeline>/.gitlab-ci.yml`` per gitlab pipeline (GitLab reads the
file from the repository root, so each pipeline gets its own directory to copy from).

Jobs follow the declared stages and use ``needs`` so that the graph, not only stage order,
carries the gate. The policy gate keeps its SARIF report and rendered files as artifacts even
when it fails. Deploys run only on the deploy branch, inside an ``environment`` and a
``resource_group`` so that two deploys of one environment never interleave. Secret values are
masked, protected CI/CD variables named ``ATTONIX_SECRET_<NAME>_<KEY>``; the pipeline names
them (and fails early when one is missing) but never holds a value.
"""

from __future__ import annotations

from typing import Any

from attonix.blueprint.model import Blueprint
from attonix.render.base import Artifact
from attonix.render.cicd._stages import (
    ATTONIX_REQUIREMENT,
    DIGESTS_FILE,
    GATE_JOB,
    RENDER_DIR,
    SARIF_FILE,
    EffectivePipeline,
)

#: The image jobs run in; Attonix is installed into a venv inside it.
IMAGE = "python:3.12-slim"
_INSTALL = [
    "python -m venv /opt/attonix",
    f'/opt/attonix/bin/pip install --quiet "{ATTONIX_REQUIREMENT}"',
    'export PATH="/opt/attonix/bin:$PATH"',
]


def job_id(stage: str) -> str:
    """The job name of ``stage``: the gate keeps its shared name."""
    return GATE_JOB if stage == "check" else stage


def _branch_rule(branch: str) -> str:
    return f'$CI_COMMIT_BRANCH == "{branch}"'


def pipeline_config(bp: Blueprint, eff: EffectivePipeline) -> dict[str, Any]:
    """The ``.gitlab-ci.yml`` document of one gitlab pipeline."""
    p = eff.pipeline
    branches = list(dict.fromkeys(p.branches))
    deploy_branch = "main" if "main" in branches else branches[0]
    doc: dict[str, Any] = {
        "workflow": {
            "rules": [
                {"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'},
                # A branch with an open merge request is already tested by its MR pipeline.
                {"if": "$CI_COMMIT_BRANCH && $CI_OPEN_MERGE_REQUESTS", "when": "never"},
                *({"if": _branch_rule(b)} for b in branches),
            ]
        },
        "stages": [st.stage for st in eff.stages],
        "default": {"image": IMAGE, "interruptible": True, "before_script": list(_INSTALL)},
        "variables": {"PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    }
    for st in eff.stages:
        job: dict[str, Any] = {
            "stage": st.stage,
            "needs": [job_id(n) for n in st.needs],
            "script": list(st.commands),
        }
        if st.stage == "check":
            job["artifacts"] = {
                "when": "always",
                "name": "attonix-policy-report",
                "paths": [SARIF_FILE, f"{RENDER_DIR}/"],
                "expire_in": "30 days",
            }
        elif st.stage == "build" and any(DIGESTS_FILE in c for c in st.commands):
            # Push (by digest) only from the deploy branch; merge requests build locally.
            job["rules"] = [
                {"if": _branch_rule(deploy_branch), "variables": {"ATTONIX_PUSH": "true"}},
                {"when": "on_success"},
            ]
            job["artifacts"] = {"paths": [DIGESTS_FILE], "expire_in": "7 days"}
        elif st.stage == "deploy":
            env_name = p.deploy_environment or bp.metadata.environment
            job["rules"] = [
                {"if": '$CI_PIPELINE_SOURCE == "merge_request_event"', "when": "never"},
                {"if": _branch_rule(deploy_branch)},
            ]
            job["environment"] = {"name": env_name, "deployment_tier": _tier(env_name)}
            job["resource_group"] = f"deploy-{env_name}"
            # A deploy half done must finish; a newer pipeline waits on the resource group.
            job["interruptible"] = False
            job["before_script"] = [
                *_INSTALL,
                *(
                    f': "${{{v}:?set {v} as a masked, protected CI/CD variable}}"'
                    for v in (*eff.secret_env, *eff.credential_env)
                ),
            ]
        doc[job_id(st.stage)] = job
    return doc


def _tier(environment: str) -> str:
    if environment.startswith("prod"):
        return "production"
    if environment.startswith("stag"):
        return "staging"
    if environment.startswith("test") or environment.startswith("qa"):
        return "testing"
    return "development" if environment.startswith("dev") else "other"


def render_gitlab(bp: Blueprint, pipelines: list[EffectivePipeline]) -> list[Artifact]:
    """One ``.gitlab-ci.yml`` artifact per gitlab pipeline."""
    return [
        Artifact("cicd", f"gitlab/{eff.pipeline.name}/.gitlab-ci.yml", pipeline_config(bp, eff))
        for eff in pipelines
        if eff.pipeline.provider == "gitlab"
    ]
