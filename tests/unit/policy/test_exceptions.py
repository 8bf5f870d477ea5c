"""Blueprint exceptions: they waive exactly what they name, until they expire, never silently."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from attonix.blueprint import Loaded
from attonix.policy import RULES_BY_ID, at_or_above, check
from attonix.policy.findings import Severity

D = dict[str, Any]
Build = Callable[[Callable[[D], object]], tuple[Loaded, list[str]]]


def _single_replica_docs(d: D, *exceptions: D) -> None:
    d["services"]["backend"][6]["replicas"] = 1  # docs
    d["services"]["backend"][1]["replicas"] = 1  # attonix-worker
    d["policy"]["exceptions"] = list(exceptions)


def _exc(rule: str, component: str, expires: str) -> D:
    return {
        "rule": rule,
        "component": component,
        "reason": "Docs are rebuilt on demand; a short outage is acceptable.",
        "expires": dt.date.fromisoformat(expires),
    }


def test_matching_exception_suppresses_only_its_component(build: Build, today: dt.date) -> None:
    loaded, lines = build(
        lambda d: _single_replica_docs(d, _exc("ATX020", "service/docs", "2027-01-31"))
    )
    findings = [f for f in check(loaded, today=today) if f.rule == "ATX020"]
    by_component = {f.component: f for f in findings}
    assert set(by_component) == {"service/docs", "service/attonix-worker"}
    docs = by_component["service/docs"]
    assert docs.suppressed and docs.suppression is not None
    assert docs.suppression.reason.startswith("Docs are rebuilt")
    assert "rule: ATX020" in lines[docs.suppression.location.line - 1]
    assert not by_component["service/attonix-worker"].suppressed
    # Only the unsuppressed finding counts towards the exit threshold.
    failing = at_or_above(findings, Severity.medium)
    assert [f.component for f in failing] == ["service/attonix-worker"]
    assert docs.to_dict()["suppressed"] is True
    assert docs.to_dict()["suppression"]["expires"] == "2027-01-31"


def test_wildcard_exception_suppresses_every_component(build: Build, today: dt.date) -> None:
    loaded, _ = build(lambda d: _single_replica_docs(d, _exc("ATX020", "*", "2027-01-31")))
    findings = [f for f in check(loaded, today=today) if f.rule == "ATX020"]
    assert len(findings) == 2
    assert all(f.suppressed for f in findings)


def test_expired_exception_does_not_suppress_and_is_reported(build: Build, today: dt.date) -> None:
    loaded, lines = build(
        lambda d: _single_replica_docs(d, _exc("ATX020", "service/docs", "2026-05-31"))
    )
    findings = check(loaded, today=today)
    docs = [f for f in findings if f.rule == "ATX020" and f.component == "service/docs"]
    assert docs and not docs[0].suppressed
    expired = [f for f in findings if f.rule == "ATX098"]
    assert len(expired) == 1
    assert "expired on 2026-05-31" in expired[0].message
    assert "expires: 2026-05-31" in lines[expired[0].location.line - 1]
    # The same blueprint a day earlier: the exception still holds.
    earlier = check(loaded, today=dt.date(2026, 5, 31))
    assert not [f for f in earlier if f.rule == "ATX098"]
    docs_then = [f for f in earlier if f.component == "service/docs" and f.rule == "ATX020"]
    assert docs_then[0].suppressed


def test_unknown_component_and_rule_are_reported(build: Build, today: dt.date) -> None:
    loaded, lines = build(
        lambda d: _single_replica_docs(
            d, _exc("ATX020", "service/dosc", "2027-01-31"), _exc("ATX555", "*", "2027-01-31")
        )
    )
    findings = [f for f in check(loaded, today=today) if f.rule == "ATX099"]
    messages = sorted(f.message for f in findings)
    assert any("component 'service/dosc'" in m for m in messages)
    assert any("rule ATX555" in m for m in messages)
    for f in findings:
        assert ("service/dosc" in lines[f.location.line - 1]) or (
            "ATX555" in lines[f.location.line - 1]
        )
    # The misspelt exception waives nothing.
    docs = [
        f
        for f in check(loaded, today=today)
        if f.rule == "ATX020" and f.component == "service/docs"
    ]
    assert not docs[0].suppressed


def test_exception_rules_cannot_be_waived(build: Build, today: dt.date) -> None:
    def edit(d: D) -> None:
        d["policy"]["exceptions"] = [
            _exc("ATX020", "service/docs", "2026-01-01"),  # expired
            _exc("ATX098", "*", "2027-01-31"),  # tries to silence the expiry finding
        ]

    loaded, _ = build(edit)
    findings = check(loaded, today=today)
    expired = [f for f in findings if f.rule == "ATX098"]
    assert expired and not expired[0].suppressed
    assert any(f.rule == "ATX099" and "cannot be waived" in f.message for f in findings)
    assert not RULES_BY_ID["ATX098"].waivable
