"""Odd input answers a 4xx problem, never a 500 or a dropped connection (every engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from attonix.server.audit import Actor
from attonix.server.context import ServerContext
from attonix.server.db.models import User
from attonix.server.environments import create_environment

V = "/api/v1"
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "attonixcorp.yaml"


def test_deleting_a_group_with_members_keeps_the_members_and_is_audited(
    ctx: ServerContext, client: TestClient, kit: Any, admin: Any
) -> None:
    kit.add_user("erin")
    kit.add_user("finn")
    create_environment(ctx, name="qa", actor=Actor("t"))
    r = client.post(
        f"{V}/groups", headers=admin.headers, json={"name": "crew", "members": ["erin", "finn"]}
    )
    assert r.status_code == 201
    binding = {"role": "developer", "environment": "qa", "subject_kind": "group", "subject": "crew"}
    assert client.post(f"{V}/bindings", headers=admin.headers, json=binding).status_code == 201
    r = client.delete(f"{V}/groups/crew", headers=admin.headers)
    assert r.status_code == 204, r.text
    assert client.get(f"{V}/groups", headers=admin.headers).json() == []
    assert client.get(f"{V}/bindings", headers=admin.headers).json() == []
    with ctx.db.session() as s:
        assert sorted(s.execute(select(User.name)).scalars()) == ["erin", "finn", "root-admin"]
    entry = client.get(f"{V}/audit?action=group.delete", headers=admin.headers).json()[0]
    assert entry["detail"] == {"members": ["erin", "finn"], "bindings": 1}


def test_audit_filters_at_the_edges_of_time(client: TestClient, admin: Any) -> None:
    for query in (
        "since=0001-01-01T00:00:00%2B01:00",
        "until=9999-12-31T23:59:59-01:00",
        "since=0001-01-01T00:00:00%2B14:00&until=9999-12-31T23:59:59-14:00",
    ):
        r = client.get(f"{V}/audit?{query}", headers=admin.headers)
        assert r.status_code == 200, (query, r.text)
        assert len(r.json()) >= 2, query  # the admin's sign-in entries are inside the range
    r = client.get(f"{V}/audit?since=10000-01-01T00:00:00Z", headers=admin.headers)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"


def test_a_last_event_id_beyond_the_id_range_is_422(
    ctx: ServerContext, client: TestClient, admin: Any
) -> None:
    create_environment(ctx, name="qa", actor=Actor("t"))
    source = EXAMPLE.read_text(encoding="utf-8")
    r = client.post(
        f"{V}/environments/qa/blueprints", headers=admin.headers, json={"source": source}
    )
    assert r.status_code == 201
    r = client.post(
        f"{V}/environments/qa/deployments",
        headers=admin.headers,
        json={"version": 1, "target": "swarm"},
    )
    dep = r.json()["id"]
    for value in (str(2**64), str(2**63), "1" + "0" * 40):
        r = client.get(
            f"{V}/environments/qa/deployments/{dep}/logs",
            headers={**admin.headers, "Last-Event-ID": value},
        )
        assert r.status_code == 422, value
        assert r.headers["content-type"] == "application/problem+json"
