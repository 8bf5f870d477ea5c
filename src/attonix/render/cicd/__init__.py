"""The ``cicd`` target: Zuul tenant and config project, GitHub Actions workflows and GitLab CI
pipelines, all carrying the Attonix policy gate before any deploy."""

from __future__ import annotations

from attonix.blueprint.model import Blueprint
from attonix.render.base import Artifact
from attonix.render.cicd._stages import EffectivePipeline, effective
from attonix.render.cicd.github import render_github
from attonix.render.cicd.gitlab import render_gitlab
from attonix.render.cicd.zuul import render_zuul

__all__ = ["effective_pipelines", "render"]


def effective_pipelines(bp: Blueprint) -> list[EffectivePipeline]:
    """Every pipeline of the blueprint with the gate enforced (raises on a bypassed gate)."""
    return [effective(bp, i) for i in range(len(bp.cicd.pipelines))]


def render(bp: Blueprint) -> list[Artifact]:
    """All CI/CD artifacts of ``bp``."""
    pipelines = effective_pipelines(bp)
    return [
        *render_zuul(bp, pipelines),
        *render_github(bp, pipelines),
        *render_gitlab(bp, pipelines),
    ]
