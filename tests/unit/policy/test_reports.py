"""Reports: SARIF that validates against the 2.1.0 schema, stable JSON, the rules doc."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.shared_data import shared

from attonix.blueprint import Loaded
from attonix.policy import RULES, check
from attonix.policy.reports import artifact_uri, rules_markdown, to_json, to_sarif

D = dict[str, Any]
Build = Callable[[Callable[[D], object]], tuple[Loaded, list[str]]]
ROOT = Path(__file__).resolve().parents[3]


def _findings(build: Build, today: dt.date) -> tuple[Loaded, list[Any]]:
    def edit(d: D) -> None:
        d["services"]["backend"][6]["replicas"] = 1
        d["services"]["backend"][0].setdefault("env", {})["API_TOKEN"] = "s3cr3t-value-never-shown"
        d["databases"][0]["tls"] = False
        d["policy"]["exceptions"] = [
            {
                "rule": "ATX020",
                "component": "service/docs",
                "reason": "Docs are rebuilt on demand; a short outage is acceptable.",
                "expires": dt.date(2027, 1, 31),
            }
        ]

    loaded, _ = build(edit)
    return loaded, check(loaded, today=today)


def test_sarif_validates_against_the_schema(build: Build, today: dt.date) -> None:
    path = shared("schemas", "sarif-schema-2.1.0.json")
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(path.read_text(encoding="utf-8"))
    loaded, findings = _findings(build, today)
    sarif = to_sarif(findings, rules=RULES, root=str(Path(loaded.file).parent))
    jsonschema.Draft4Validator(schema).validate(sarif)  # raises with the offending path

    run = sarif["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [r.id for r in RULES]
    tls = next(r for r in rules if r["id"] == "ATX004")
    assert tls["defaultConfiguration"]["level"] == "error"
    assert "Fix:" in tls["help"]["text"]
    results = {r["ruleId"]: r for r in run["results"]}
    db = results["ATX004"]
    loc = db["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "datacenter.yaml"
    finding = next(f for f in findings if f.rule == "ATX004")
    assert loc["region"] == {
        "startLine": finding.location.line,
        "startColumn": finding.location.col,
    }
    assert db["partialFingerprints"]["attonixFinding/v1"] == finding.fingerprint
    assert rules[db["ruleIndex"]]["id"] == "ATX004"
    suppressed = results["ATX020"]
    assert suppressed["suppressions"][0]["kind"] == "inSource"
    assert "rebuilt on demand" in suppressed["suppressions"][0]["justification"]
    assert "s3cr3t-value" not in json.dumps(sarif)


def test_json_report_is_stable_and_marks_suppressed(build: Build, today: dt.date) -> None:
    loaded, findings = _findings(build, today)
    report = to_json(findings, file=loaded.file)
    again = to_json(check(loaded, today=today), file=loaded.file)
    assert json.dumps(report, sort_keys=True) == json.dumps(again, sort_keys=True)
    assert report["summary"]["suppressed"] == 1
    assert report["summary"]["by_severity"]["critical"] == 1  # the literal API_TOKEN
    tokens = [f for f in report["findings"] if f["rule"] == "ATX048"]
    assert tokens[0]["path"] == "services.backend[0].env.API_TOKEN"
    assert set(tokens[0]) >= {
        "rule",
        "severity",
        "message",
        "component",
        "file",
        "line",
        "col",
        "hint",
        "fingerprint",
        "suppressed",
    }
    assert "s3cr3t-value" not in json.dumps(report)


def test_artifact_uris_are_relative_posix_paths() -> None:
    assert artifact_uri("/repo/dc/site.yaml", root="/repo") == "dc/site.yaml"
    assert artifact_uri("dc/./site.yaml", root="/repo") == "dc/site.yaml"
    assert artifact_uri("/elsewhere/site.yaml", root="/repo") == "/elsewhere/site.yaml"


def test_docs_rule_table_is_current() -> None:
    doc = (ROOT / "docs" / "policy.md").read_text(encoding="utf-8")
    begin, end = "<!-- rules:begin -->\n", "<!-- rules:end -->"
    current = doc[doc.index(begin) + len(begin) : doc.index(end)]
    assert current == rules_markdown(RULES), (
        "docs/policy.md is out of date: replace the table with `attonix rules --format markdown`"
    )
    for rule in RULES:
        assert f"| {rule.id} | {rule.severity} |" in current
