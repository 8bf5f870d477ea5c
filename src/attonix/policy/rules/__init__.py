"""The explicit registry of policy rules, one module per area, in id order."""

from __future__ import annotations

from attonix.policy.findings import Rule
from attonix.policy.rules import (
    cicd,
    databases,
    exceptions,
    ha,
    identity,
    network,
    security,
    services,
    storage,
)

RULES: tuple[Rule, ...] = tuple(
    sorted(
        (
            *databases.RULES,
            *storage.RULES,
            *services.RULES,
            *security.RULES,
            *network.RULES,
            *identity.RULES,
            *cicd.RULES,
            *ha.RULES,
            *exceptions.RULES,
        ),
        key=lambda r: r.id,
    )
)
RULES_BY_ID: dict[str, Rule] = {r.id: r for r in RULES}

__all__ = ["RULES", "RULES_BY_ID"]
