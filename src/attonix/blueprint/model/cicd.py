"""The CI/CD section: Zuul, GitHub, GitLab and per-repository pipelines."""

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

    tenant: Name = Field(description="The Zuul tenant (a DNS label).", examples=["attonixcorp"])
    url: Url = Field(description="The Zuul web URL.", examples=["https://zuul.attonixcorp.example"])
    pipelines: list[ZuulPipeline] = Field(
        default_factory=_zuul_pipelines,
        description="Zuul pipelines to define: check, gate, post, deploy, periodic.",
    )
    nodeset_label: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        "ubuntu-noble", description="The nodepool label jobs run on (1 to 64 characters)."
    )


class GitHub(Model):
    """A GitHub organisation hosting source repositories."""

    organization: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9-]{1,39}$")] = Field(
        description="The GitHub organisation (letters, digits and '-', at most 39).",
        examples=["attonixcorp"],
    )
    url: Url = Field(
        "https://github.com", description="GitHub's URL; change it for GitHub Enterprise Server."
    )


class GitLab(Model):
    """A GitLab group hosting source repositories and pipelines."""

    group: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,255}$")] = Field(
        description="The GitLab group (letters, digits, '_', '.', '-').",
        examples=["attonixcorp"],
    )
    url: Url = Field("https://gitlab.com", description="GitLab's URL; change it for self-hosted.")


class Pipeline(Model):
    """A pipeline for one repository; ``check`` is the Attonix policy gate."""

    name: Name = Field(description="The pipeline's name (a DNS label).", examples=["platform"])
    provider: Literal["zuul", "github", "gitlab"] = Field(
        description="What runs it: 'zuul', 'github' (Actions) or 'gitlab' (GitLab CI)."
    )
    repository: Annotated[
        str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
    ] = Field(
        description="The repository path, 'owner/name' (GitLab allows subgroups).",
        examples=["attonixcorp/platform"],
    )
    source: Literal["github", "gitlab"] = Field(
        "github", description="Where the repository lives (zuul pipelines read from either)."
    )
    branches: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        default_factory=lambda: ["main"], description="Branches the pipeline runs for."
    )
    stages: list[CiStage] = Field(
        default_factory=_ci_stages,
        description="Stages in order: lint, test, build, scan, check (the Attonix policy gate), "
        "render, plan, deploy.",
    )
    deploy_environment: Name | None = Field(
        None,
        description="The environment the deploy stage targets; metadata.environment when unset.",
    )
    services: list[Name] = Field(
        default_factory=list, description="Backend or frontend services this pipeline builds."
    )


class CiCd(Model):
    """Zuul, GitHub and GitLab."""

    zuul: Zuul | None = Field(None, description="Zuul, if pipelines run on it.")
    github: GitHub | None = Field(None, description="GitHub, if repositories live there.")
    gitlab: GitLab | None = Field(None, description="GitLab, if repositories live there.")
    pipelines: list[Pipeline] = Field(
        default_factory=list, description="One pipeline per repository."
    )
