"""The policy layer: security and HA rules over a blueprint, and failure-domain analysis. Pure.

``check(loaded)`` returns every ``Finding`` (suppressed ones marked); ``RULES`` is the explicit
rule registry; ``failure_domains.analyze`` tells what the loss of a host, rack or zone breaks.

The names below are imported on first use (PEP 562): renderers import single modules of this
package (``placement``, ``firewall``), and importing the package must not import every rule.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from attonix.policy.engine import check
    from attonix.policy.failure_domains import Analysis, DomainLoss, Impact, analyze
    from attonix.policy.findings import (
        Area,
        Finding,
        Issue,
        Rule,
        Severity,
        Suppression,
        at_or_above,
    )
    from attonix.policy.rules import RULES, RULES_BY_ID

_HOMES = {
    "check": "engine",
    "Analysis": "failure_domains",
    "DomainLoss": "failure_domains",
    "Impact": "failure_domains",
    "analyze": "failure_domains",
    "Area": "findings",
    "Finding": "findings",
    "Issue": "findings",
    "Rule": "findings",
    "Severity": "findings",
    "Suppression": "findings",
    "at_or_above": "findings",
    "RULES": "rules",
    "RULES_BY_ID": "rules",
}

__all__ = [
    "RULES",
    "RULES_BY_ID",
    "Analysis",
    "Area",
    "DomainLoss",
    "Finding",
    "Impact",
    "Issue",
    "Rule",
    "Severity",
    "Suppression",
    "analyze",
    "at_or_above",
    "check",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
