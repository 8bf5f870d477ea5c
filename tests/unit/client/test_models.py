"""The client's response models say exactly what the server's say: same fields, same JSON
Schema per field (descriptions aside), so that neither can change without the other."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from attonix.client import models as client
from attonix.server import schemas
from attonix.server.api import account, auth

PAIRS: list[tuple[type[BaseModel], type[BaseModel]]] = [
    (client.TokensOut, auth.TokensOut),
    (client.LoginOut, auth.LoginOut),
    (client.EnvironmentAccess, account.EnvironmentAccess),
    (client.MeOut, account.MeOut),
    (client.EnvironmentOut, schemas.EnvironmentOut),
    (client.SuppressionOut, schemas.SuppressionOut),
    (client.FailureDomainOut, schemas.FailureDomainOut),
    (client.FindingOut, schemas.FindingOut),
    (client.PlanChangeOut, schemas.PlanChangeOut),
    (client.RotationPlanOut, schemas.RotationPlanOut),
    (client.PlanOut, schemas.PlanOut),
    (client.VersionOut, schemas.VersionOut),
    (client.VersionDetail, schemas.VersionDetail),
    (client.DiffOut, schemas.DiffOut),
    (client.IdentityDrift, schemas.IdentityDrift),
    (client.IdentityPlanOut, schemas.IdentityPlanOut),
    (client.ImportResult, schemas.ImportResult),
    (client.DeploymentOut, schemas.DeploymentOut),
    (client.AuditEntryOut, schemas.AuditEntryOut),
]
# Fields the CLI does not read (left out so that it does not carry them around).
SKIPPED = {("VersionDetail", "parsed")}


def _plain(node: Any, defs: dict[str, Any]) -> Any:
    """A JSON Schema with references resolved, without titles and descriptions, enums as
    sorted lists (a Literal and a StrEnum list their values in their own orders)."""
    if isinstance(node, dict):
        if "$ref" in node:
            return _plain(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
        out = {k: _plain(v, defs) for k, v in node.items() if k not in ("title", "description")}
        if "enum" in out:
            out["enum"] = sorted(out["enum"])
        return out
    if isinstance(node, list):
        return [_plain(v, defs) for v in node]
    return node


@pytest.mark.parametrize(("mine", "theirs"), PAIRS, ids=[p[0].__name__ for p in PAIRS])
def test_fields_match_the_server(mine: type[BaseModel], theirs: type[BaseModel]) -> None:
    ours = mine.model_json_schema(mode="serialization")
    server = theirs.model_json_schema(mode="serialization")
    server_fields = {
        k: v for k, v in server["properties"].items() if (mine.__name__, k) not in SKIPPED
    }
    assert set(ours["properties"]) == set(server_fields)
    for name, prop in ours["properties"].items():
        mine_defs, their_defs = ours.get("$defs", {}), server.get("$defs", {})
        assert _plain(prop, mine_defs) == _plain(server_fields[name], their_defs), name
    assert set(ours.get("required", [])) == set(server.get("required", [])) - {
        k for (m, k) in SKIPPED if m == mine.__name__
    }
