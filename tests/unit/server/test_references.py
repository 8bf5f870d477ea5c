"""Names in administration requests must refer to something: an unknown environment, user,
group or role is refused (422) with the problem at its request field, nothing is written, and
the refusal is on the audit record (every engine)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from attonix.server.context import ServerContext
from attonix.server.db.models import AuditEntry, Group, RoleBinding, User

V = "/api/v1"


def _refusals(ctx: ServerContext) -> list[AuditEntry]:
    with ctx.db.session() as s:
        rows = list(
            s.execute(select(AuditEntry).where(AuditEntry.action == "request.refused")).scalars()
        )
        for row in rows:
            s.expunge(row)
        return rows


def _count(ctx: ServerContext, model: Any) -> int:
    with ctx.db.session() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


@pytest.fixture
def world(ctx: ServerContext, client: TestClient, kit: Any, admin: Any) -> Any:
    """Environment prod, user erin and group crew exist."""
    assert client.post(f"{V}/environments", headers=admin.headers, json={"name": "prod"}).is_success
    kit.add_user("erin")
    r = client.post(f"{V}/groups", headers=admin.headers, json={"name": "crew"})
    assert r.status_code == 201, r.text
    return admin


BINDING = {"role": "developer", "environment": "prod", "subject_kind": "user", "subject": "erin"}


@pytest.mark.parametrize(
    ("change", "field", "kind", "name"),
    [
        ({"environment": "prdo"}, "environment", "unknown_environment", "prdo"),
        ({"subject": "erni"}, "subject", "unknown_user", "erni"),
        ({"subject_kind": "group", "subject": "crwe"}, "subject", "unknown_group", "crwe"),
    ],
)
def test_a_binding_to_an_unknown_name_is_refused_at_its_field(
    ctx: ServerContext,
    client: TestClient,
    world: Any,
    change: dict[str, str],
    field: str,
    kind: str,
    name: str,
) -> None:
    r = client.post(f"{V}/bindings", headers=world.headers, json={**BINDING, **change})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["errors"] == [
        {"loc": ["body", field], "msg": f"No {kind.split('_')[1]} named {name!r}.", "type": kind}
    ]
    assert name in body["detail"] and "Create" in body["hint"]
    assert _count(ctx, RoleBinding) == 0
    [entry] = _refusals(ctx)
    assert entry.detail["status"] == 422 and entry.detail["operation"] == "create_binding"
    assert name in entry.detail["detail"]
    # The same binding to names that exist is stored.
    ok = {**BINDING, **{k: v for k, v in change.items() if k == "subject_kind"}}
    ok["subject"] = "crew" if ok["subject_kind"] == "group" else "erin"
    assert client.post(f"{V}/bindings", headers=world.headers, json=ok).status_code == 201


def test_an_unknown_role_is_refused_at_its_field(
    ctx: ServerContext, client: TestClient, world: Any
) -> None:
    r = client.post(f"{V}/bindings", headers=world.headers, json={**BINDING, "role": "root"})
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["errors"]] == [["body", "role"]]
    assert _count(ctx, RoleBinding) == 0
    assert len(_refusals(ctx)) == 1


def test_unknown_group_members_and_user_groups_are_refused_each_at_its_index(
    ctx: ServerContext, client: TestClient, world: Any
) -> None:
    r = client.post(
        f"{V}/groups",
        headers=world.headers,
        json={"name": "ops", "members": ["erin", "ghost", "nobody"]},
    )
    assert r.status_code == 422, r.text
    assert [(e["loc"], e["type"]) for e in r.json()["errors"]] == [
        (["body", "members", "1"], "unknown_user"),
        (["body", "members", "2"], "unknown_user"),
    ]
    assert r.json()["detail"] == "No users named 'ghost', 'nobody'."
    assert _count(ctx, Group) == 1  # crew only
    r = client.post(
        f"{V}/users", headers=world.headers, json={"name": "finn", "groups": ["crew", "crwe"]}
    )
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["errors"]] == [["body", "groups", "1"]]
    assert _count(ctx, User) == 2  # root-admin and erin
    r = client.patch(f"{V}/users/erin", headers=world.headers, json={"groups": ["nope"]})
    assert r.status_code == 422 and r.json()["errors"][0]["type"] == "unknown_group"
    assert len(_refusals(ctx)) == 3
