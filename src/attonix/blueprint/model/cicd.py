"""The CI/CD section: Zuul, GitHub, GitLab and per-repository pipelines."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from attonix.blueprint.model.common import Model, Name, Url

ZuulPipeline = Literal["check", "gate", "post", "deploy", "periodic"]
CiStage = Literal["lint", "test", "build", "scan", "check", "render", "plan", "deploy"]


def _zuul_pipelines() -> list[ZuulPipeline]:
    return ["check", "gate", "post", "deploy"]


def _ci_stages() -> list[CiStage]:
    return ["lint", "test", "build", "check", "render", "deploy"]


class Zuul(Model):
    """Zuul gating CI; its tenant reads projects from GitHub and GitLab."""

    tenant: Name
    url: Url
    pipelines: list[ZuulPipeline] = Field(default_factory=_zuul_pipelines)
    nodeset_label: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "ubuntu-noble"


class GitHub(Model):
    """A GitHub organisation hosting source repositories."""

    organization: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,39}$")]
    url: Url = "https://github.com"


class GitLab(Model):
    """A GitLab group hosting source repositories and pipelines."""

    group: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,255}$")]
    url: Url = "https://gitlab.com"


class Pipeline(Model):
    """A pipeline for one repository; ``check`` is the Attonix policy gate."""

    name: Name
    provider: Literal["zuul", "github", "gitlab"]
    repository: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")]
    source: Literal["github", "gitlab"] = Field(
        "github", description="Where the repository lives (zuul pipelines read from either)."
    )
    branches: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        default_factory=lambda: ["main"]
    )
    stages: list[CiStage] = Field(default_factory=_ci_stages)
    deploy_environment: Name | None = None
    services: list[Name] = Field(
        default_factory=list, description="Backend or frontend services this pipeline builds."
    )


class CiCd(Model):
    """Zuul, GitHub and GitLab."""

    zuul: Zuul | None = None
    github: GitHub | None = None
    gitlab: GitLab | None = None
    pipelines: list[Pipeline] = Field(default_factory=list)
