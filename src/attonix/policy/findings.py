"""The policy layer's data: severities, rules, and the findings they produce.

A rule's check function looks only at the blueprint and returns ``Issue`` values (where, what,
which component); the engine turns each into a ``Finding`` by adding the rule's severity and
fix hint and the issue's file:line:col from the source map. Rules therefore never need the
YAML text, and the same rule works on a blueprint built in memory.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from attonix.blueprint.diagnostics import Location, Path, dotted
from attonix.blueprint.model import Blueprint


class Severity(enum.StrEnum):
    """How bad a finding is; ``rank`` orders them (info lowest)."""

    info = "info"
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"

    @property
    def rank(self) -> int:
        """0 for info up to 4 for critical."""
        return _RANKS[self]


_RANKS = {s: i for i, s in enumerate(Severity)}


class Area(enum.StrEnum):
    """The part of the data center a rule is about; one rules module per area."""

    databases = "databases"
    storage = "storage"
    services = "services"
    security = "security"
    network = "network"
    identity = "identity"
    cicd = "cicd"
    ha = "ha"
    policy = "policy"


@dataclass(frozen=True, slots=True, order=True)
class FailureDomain:
    """A host, rack or zone whose loss a finding concerns."""

    level: str
    name: str

    def __str__(self) -> str:
        return f"{self.level} {self.name!r}"

    def to_dict(self) -> dict[str, str]:
        """``{"level": "host", "name": "node-1"}``."""
        return {"level": self.level, "name": self.name}


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem a rule found: the blueprint path it is about, the component, a message.

    ``hint`` overrides the rule's generic fix hint when a more specific one helps. Messages
    must never contain a secret value. ``domains`` lists the failure domains whose loss the
    issue concerns: one issue per component and cause, however many domains share it.
    """

    path: Path
    component: str
    message: str
    hint: str = ""
    domains: tuple[FailureDomain, ...] = ()


@dataclass(frozen=True, slots=True)
class Context:
    """What a check function may look at: the blueprint, today's date, the known rule ids."""

    blueprint: Blueprint
    today: dt.date
    rule_ids: frozenset[str] = frozenset()
    # Work shared by several rules of one run (the failure-domain analysis); never global.
    memo: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


CheckFn = Callable[[Context], Iterable[Issue]]


@dataclass(frozen=True, slots=True)
class Rule:
    """A documented policy rule with a stable id (``ATX001``…).

    ``waivable`` is False for the rules that police exceptions themselves, so that policy
    cannot be switched off silently.
    """

    id: str
    title: str
    severity: Severity
    area: Area
    rationale: str
    fix: str
    check: CheckFn = field(repr=False, compare=False)
    waivable: bool = True

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description of the rule."""
        return {
            "id": self.id,
            "title": self.title,
            "severity": str(self.severity),
            "area": str(self.area),
            "rationale": self.rationale,
            "fix": self.fix,
            "waivable": self.waivable,
        }


@dataclass(frozen=True, slots=True)
class Suppression:
    """The blueprint exception that waives a finding."""

    reason: str
    expires: dt.date
    location: Location


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule violation at one place in the blueprint, with what to do about it."""

    rule: str
    severity: Severity
    title: str
    message: str
    component: str
    path: Path
    location: Location
    hint: str
    suppression: Suppression | None = None
    domains: tuple[FailureDomain, ...] = ()

    @property
    def suppressed(self) -> bool:
        """Whether an unexpired blueprint exception waives this finding."""
        return self.suppression is not None

    @property
    def pointer(self) -> str:
        """The dotted blueprint path (``databases[0].replicas``)."""
        return dotted(self.path)

    @property
    def fingerprint(self) -> str:
        """A stable identity for de-duplication: rule, component and path, not the line."""
        raw = f"{self.rule}|{self.component}|{self.pointer}"
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    def sort_key(self) -> tuple[str, int, int, str, str, str]:
        """File position first, then rule and component, so output order is deterministic."""
        loc = self.location
        return (loc.file, loc.line, loc.col, self.rule, self.component, self.message)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form with stable keys, for the CLI and the Central Server."""
        out: dict[str, Any] = {
            "rule": self.rule,
            "severity": str(self.severity),
            "title": self.title,
            "message": self.message,
            "component": self.component,
            "path": self.pointer,
            "file": self.location.file,
            "line": self.location.line,
            "col": self.location.col,
            "hint": self.hint,
            "fingerprint": self.fingerprint,
            "suppressed": self.suppressed,
            "failure_domains": [d.to_dict() for d in self.domains],
        }
        if self.suppression is not None:
            out["suppression"] = {
                "reason": self.suppression.reason,
                "expires": self.suppression.expires.isoformat(),
                "file": self.suppression.location.file,
                "line": self.suppression.location.line,
            }
        return out


def at_or_above(findings: Iterable[Finding], threshold: Severity) -> list[Finding]:
    """The unsuppressed findings whose severity is ``threshold`` or worse."""
    return [f for f in findings if not f.suppressed and f.severity.rank >= threshold.rank]
