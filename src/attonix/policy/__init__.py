"""The policy layer: security and HA rules over a blueprint, and failure-domain analysis. Pure.

``check(loaded)`` returns every ``Finding`` (suppressed ones marked); ``RULES`` is the explicit
rule registry; ``failure_domains.analyze`` tells what the loss of a host, rack or zone breaks.
"""

from attonix.policy.engine import check
from attonix.policy.failure_domains import Analysis, DomainLoss, Impact, analyze
from attonix.policy.findings import Area, Finding, Issue, Rule, Severity, Suppression, at_or_above
from attonix.policy.rules import RULES, RULES_BY_ID

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
