"""Machine-readable reports of findings: stable JSON, SARIF 2.1.0, and the rule catalogue.

SARIF is what GitHub code scanning ingests: every rule with its help text and default level,
every finding with its rule, level, message, a location relative to the repository, a
partial fingerprint (so that a finding moving down the file is still the same alert) and, for
findings waived by a blueprint exception, a suppression carrying its justification.
"""

from __future__ import annotations

import posixpath
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import PurePath
from typing import Any

from attonix import __version__
from attonix.blueprint.diagnostics import Diagnostic
from attonix.policy.findings import Finding, Rule, Severity

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://attonix.io/docs/policy"

_LEVEL = {
    Severity.critical: "error",
    Severity.high: "error",
    Severity.medium: "warning",
    Severity.low: "note",
    Severity.info: "note",
}
# GitHub ranks security alerts by this CVSS-like score (critical >= 9, high >= 7, ...).
_SECURITY_SEVERITY = {
    Severity.critical: "9.5",
    Severity.high: "8.0",
    Severity.medium: "5.5",
    Severity.low: "3.0",
    Severity.info: "1.0",
}


def summary(findings: Iterable[Finding]) -> dict[str, Any]:
    """Counts of active findings per severity, and of suppressed findings."""
    items = list(findings)
    active = Counter(str(f.severity) for f in items if not f.suppressed)
    return {
        "total": sum(active.values()),
        "by_severity": {str(s): active.get(str(s), 0) for s in reversed(Severity)},
        "suppressed": sum(1 for f in items if f.suppressed),
    }


def to_json(findings: Sequence[Finding], *, file: str) -> dict[str, Any]:
    """The JSON report: the file, every finding (suppressed ones marked) and a summary."""
    return {
        "file": file,
        "findings": [f.to_dict() for f in findings],
        "summary": summary(findings),
    }


def artifact_uri(file: str, *, root: str | None) -> str:
    """``file`` as a relative POSIX URI: relative to ``root`` when both are absolute."""
    path = PurePath(file)
    if root is not None and path.is_absolute() and path.is_relative_to(root):
        path = path.relative_to(root)
    return posixpath.normpath(path.as_posix())


def _rule_descriptor(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "name": "".join(w.capitalize() for w in rule.title.replace("-", " ").split()),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.rationale},
        "help": {
            "text": f"{rule.rationale}\n\nFix: {rule.fix}",
            "markdown": f"{rule.rationale}\n\n**Fix:** {rule.fix}",
        },
        "helpUri": f"{INFORMATION_URI}#{rule.id.lower()}",
        "defaultConfiguration": {"level": _LEVEL[rule.severity]},
        "properties": {
            "tags": sorted({"security", rule.area.value}),
            "security-severity": _SECURITY_SEVERITY[rule.severity],
            "problem.severity": "error" if rule.severity.rank >= Severity.high.rank else "warning",
        },
    }


def _result(finding: Finding, index: int, *, root: str | None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "ruleIndex": index,
        "level": _LEVEL[finding.severity],
        "message": {"text": f"{finding.message}. Fix: {finding.hint}"},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {
                        "uri": artifact_uri(finding.location.file, root=root),
                        "uriBaseId": "%SRCROOT%",
                    },
                    "region": {
                        "startLine": finding.location.line,
                        "startColumn": finding.location.col,
                    },
                },
                "logicalLocations": [
                    {"name": finding.component, "fullyQualifiedName": finding.pointer}
                ],
            }
        ],
        "partialFingerprints": {"attonixFinding/v1": finding.fingerprint},
        "properties": {
            "severity": str(finding.severity),
            "component": finding.component,
            "failureDomains": [d.to_dict() for d in finding.domains],
        },
    }
    if finding.suppression is not None:
        result["suppressions"] = [
            {
                "kind": "inSource",
                "status": "accepted",
                "justification": f"{finding.suppression.reason} "
                f"(expires {finding.suppression.expires.isoformat()})",
            }
        ]
    return result


def to_sarif(
    findings: Sequence[Finding], *, rules: Sequence[Rule], root: str | None = None
) -> dict[str, Any]:
    """A SARIF 2.1.0 log of ``findings``; ``root`` is the directory URIs are relative to."""
    index = {r.id: i for i, r in enumerate(rules)}
    return _log(
        [_rule_descriptor(r) for r in rules],
        [_result(f, index[f.rule], root=root) for f in findings],
    )


def _log(rules: list[dict[str, Any]], results: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "attonix",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "repository root"}}},
                "results": results,
                "columnKind": "unicodeCodePoints",
            }
        ],
    }


def diagnostics_sarif(
    diagnostics: Sequence[Diagnostic], *, root: str | None = None
) -> dict[str, Any]:
    """A SARIF 2.1.0 log of blueprint problems (``BPxxx``), so that code scanning shows a
    blueprint that does not load at the offending line, as it shows policy findings."""
    codes = sorted({d.code for d in diagnostics})
    index = {code: i for i, code in enumerate(codes)}
    rules = [
        {
            "id": code,
            "name": f"Blueprint{code}",
            "shortDescription": {"text": f"Blueprint problem {code}"},
            "helpUri": f"{INFORMATION_URI.rsplit('/', 1)[0]}/blueprint#{code.lower()}",
            "defaultConfiguration": {"level": "error"},
            "properties": {"tags": ["blueprint"], "problem.severity": "error"},
        }
        for code in codes
    ]
    results = [
        {
            "ruleId": d.code,
            "ruleIndex": index[d.code],
            "level": "error" if d.severity == "error" else "warning",
            "message": {
                "text": f"{d.pointer}: {d.message}" + (f". Fix: {d.hint}" if d.hint else "")
            },
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {
                            "uri": artifact_uri(d.location.file, root=root),
                            "uriBaseId": "%SRCROOT%",
                        },
                        "region": {"startLine": d.location.line, "startColumn": d.location.col},
                    },
                    "logicalLocations": [{"fullyQualifiedName": d.pointer}],
                }
            ],
            "partialFingerprints": {"attonixDiagnostic/v1": f"{d.code}|{d.pointer}"},
        }
        for d in diagnostics
    ]
    return _log(rules, results)


def rules_markdown(rules: Iterable[Rule]) -> str:
    """The rule table of docs/policy.md (id, severity, area, title)."""
    lines = ["| id | severity | area | title |", "|---|---|---|---|"]
    lines += [f"| {r.id} | {r.severity} | {r.area} | {r.title} |" for r in rules]
    return "\n".join(lines) + "\n"
