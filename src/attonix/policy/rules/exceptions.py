"""Rules about the blueprint's own policy exceptions, so that none can bypass policy silently.

These rules cannot themselves be waived: an exception that has expired, names a rule that does
not exist, or names a component that is not in the blueprint is always reported.
"""

from __future__ import annotations

from collections.abc import Iterator

from attonix.policy.components import all_components
from attonix.policy.findings import Area, Context, Issue, Rule, Severity

_EXC = ("policy", "exceptions")
UNWAIVABLE = frozenset({"ATX098", "ATX099"})


def _expired(ctx: Context) -> Iterator[Issue]:
    for i, e in enumerate(ctx.blueprint.policy.exceptions):
        if e.expires < ctx.today:
            yield Issue(
                (*_EXC, i, "expires"),
                "policy/exceptions",
                f"the exception for {e.rule} on {e.component} expired on "
                f"{e.expires.isoformat()}; it no longer suppresses anything",
            )


def _unknown(ctx: Context) -> Iterator[Issue]:
    components = set(all_components(ctx.blueprint)) if ctx.blueprint.policy.exceptions else set()
    for i, e in enumerate(ctx.blueprint.policy.exceptions):
        if e.rule not in ctx.rule_ids:
            yield Issue(
                (*_EXC, i, "rule"),
                "policy/exceptions",
                f"the exception names rule {e.rule}, which does not exist",
                hint="Use a rule id listed by `attonix rules`.",
            )
        elif e.rule in UNWAIVABLE:
            yield Issue(
                (*_EXC, i, "rule"),
                "policy/exceptions",
                f"rule {e.rule} polices exceptions and cannot be waived",
                hint="Fix the exception the finding points at instead.",
            )
        if e.component != "*" and e.component not in components:
            yield Issue(
                (*_EXC, i, "component"),
                "policy/exceptions",
                f"the exception names component {e.component!r}, which is not in the blueprint",
                hint="Use 'kind/name' exactly as findings print it (e.g. 'service/api'), or '*'.",
            )


RULES: tuple[Rule, ...] = (
    Rule(
        id="ATX098",
        title="Policy exception has expired",
        severity=Severity.high,
        area=Area.policy,
        rationale="Exceptions are temporary by design; an expired one must be renewed with a "
        "fresh review, or the problem fixed.",
        fix="Fix the finding it waived and delete the exception, or renew 'expires' after review.",
        check=_expired,
        waivable=False,
    ),
    Rule(
        id="ATX099",
        title="Policy exception names an unknown rule or component",
        severity=Severity.medium,
        area=Area.policy,
        rationale="A misspelt exception waives nothing and hides the intent behind it; it "
        "must name a real rule and a component that exists.",
        fix="Correct 'rule' and 'component' to what the finding prints, or delete the exception.",
        check=_unknown,
        waivable=False,
    ),
)
