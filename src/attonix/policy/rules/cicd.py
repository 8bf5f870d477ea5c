"""CI/CD rules: the policy gate (`attonix check`) runs before anything is deployed."""

from __future__ import annotations

from collections.abc import Iterator

from attonix.policy.findings import Area, Context, Issue, Rule, Severity


def _gate_missing(ctx: Context) -> Iterator[Issue]:
    for i, p in enumerate(ctx.blueprint.cicd.pipelines):
        if "check" not in p.stages:
            yield Issue(
                ("cicd", "pipelines", i, "stages"),
                f"pipeline/{p.name}",
                f"pipeline {p.name!r} never runs the policy gate (stage 'check')",
            )


def _no_plan(ctx: Context) -> Iterator[Issue]:
    for i, p in enumerate(ctx.blueprint.cicd.pipelines):
        if "deploy" in p.stages and "plan" not in p.stages:
            yield Issue(
                ("cicd", "pipelines", i, "stages"),
                f"pipeline/{p.name}",
                f"pipeline {p.name!r} deploys without showing a plan first",
            )


def _zuul_gate(ctx: Context) -> Iterator[Issue]:
    cicd = ctx.blueprint.cicd
    uses_zuul = any(p.provider == "zuul" for p in cicd.pipelines)
    if cicd.zuul is not None and uses_zuul and "gate" not in cicd.zuul.pipelines:
        yield Issue(
            ("cicd", "zuul", "pipelines"),
            "cicd/zuul",
            "Zuul has no 'gate' pipeline: changes merge without being tested together",
        )


RULES: tuple[Rule, ...] = (
    Rule(
        id="ATX070",
        title="Pipeline without the policy gate",
        severity=Severity.high,
        area=Area.cicd,
        rationale="Without 'attonix check' in CI, a change that breaks security or HA policy "
        "merges and deploys unnoticed.",
        fix="Add the stage 'check' to the pipeline's 'stages', before 'render' and 'deploy'.",
        check=_gate_missing,
    ),
    Rule(
        id="ATX072",
        title="Pipeline deploys without a plan",
        severity=Severity.low,
        area=Area.cicd,
        rationale="The plan shows what a deployment creates, changes and deletes; deploying "
        "without it hides destructive changes until they happen.",
        fix="Add the stage 'plan' before 'deploy'.",
        check=_no_plan,
    ),
    Rule(
        id="ATX073",
        title="Zuul without a gate pipeline",
        severity=Severity.medium,
        area=Area.cicd,
        rationale="Zuul's gate tests changes in the order they will merge; without it two "
        "changes that pass alone can break the main branch together.",
        fix="Add 'gate' to 'cicd.zuul.pipelines'.",
        check=_zuul_gate,
    ),
)
