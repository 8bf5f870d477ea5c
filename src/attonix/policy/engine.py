"""Run the rules over a loaded blueprint and apply the blueprint's exceptions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from attonix.blueprint.loader import Loaded
from attonix.blueprint.model import PolicyException
from attonix.policy.findings import Context, Finding, Rule, Suppression
from attonix.policy.rules import RULES


def check(
    loaded: Loaded, *, rules: Iterable[Rule] | None = None, today: dt.date | None = None
) -> list[Finding]:
    """Every finding of ``rules`` (default: all) on ``loaded``, sorted by file position.

    Findings waived by an unexpired blueprint exception are returned too, marked
    ``suppressed``; ``today`` (default: the current date) decides what has expired.
    """
    selected = tuple(RULES if rules is None else rules)
    day = today or dt.date.today()
    ctx = Context(blueprint=loaded.blueprint, today=day, rule_ids=frozenset(r.id for r in RULES))
    exceptions = loaded.blueprint.policy.exceptions
    findings: list[Finding] = []
    seen: set[tuple[str, str, tuple[str | int, ...], str]] = set()
    for rule in selected:
        for issue in rule.check(ctx):
            key = (rule.id, issue.component, issue.path, issue.message)
            if key in seen:
                continue
            seen.add(key)
            suppression = (
                _suppression(loaded, exceptions, rule=rule.id, component=issue.component, today=day)
                if rule.waivable
                else None
            )
            findings.append(
                Finding(
                    rule=rule.id,
                    severity=rule.severity,
                    title=rule.title,
                    message=issue.message,
                    component=issue.component,
                    path=issue.path,
                    location=loaded.source.locate(issue.path),
                    hint=issue.hint or rule.fix,
                    suppression=suppression,
                    domains=issue.domains,
                )
            )
    findings.sort(key=Finding.sort_key)
    return findings


def _suppression(
    loaded: Loaded,
    exceptions: list[PolicyException],
    *,
    rule: str,
    component: str,
    today: dt.date,
) -> Suppression | None:
    for i, e in enumerate(exceptions):
        # An expired exception suppresses nothing; ATX098 reports it instead.
        if e.rule == rule and e.component in ("*", component) and e.expires >= today:
            return Suppression(
                reason=e.reason,
                expires=e.expires,
                location=loaded.source.locate(("policy", "exceptions", i)),
            )
    return None
