"""Errors a browser can read (CORS headers on every answer, 500s and 413s included) and every
refused or failed change on the audit record."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from attonix.server import environments
from attonix.server.app import create_app
from attonix.server.context import ServerContext, build_context
from attonix.server.db.models import AuditEntry

V = "/api/v1"
ORIGIN = "http://127.0.0.1:8081"


def _entries(ctx: ServerContext, action: str) -> list[AuditEntry]:
    with ctx.db.session() as s:
        rows = s.execute(select(AuditEntry).where(AuditEntry.action == action)).scalars().all()
        for row in rows:
            s.expunge(row)
        return list(rows)


def test_an_unhandled_error_is_a_readable_500_and_audited(
    ctx: ServerContext, client: TestClient, admin: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(environments, "create_environment", broken)
    r = client.post(
        f"{V}/environments",
        headers={**admin.headers, "Origin": ORIGIN, "X-Request-ID": "req-500-1"},
        json={"name": "prod"},
    )
    assert r.status_code == 500
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "X-Request-ID" in r.headers["access-control-expose-headers"]
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["request_id"] == "req-500-1" and "quote the request id" in body["detail"]
    assert "fire" not in r.text  # no internals
    [entry] = _entries(ctx, "request.failure")
    assert entry.actor == "root-admin" and entry.outcome == "failure"
    assert entry.target == f"POST {V}/environments"
    assert entry.detail["status"] == 500 and entry.detail["request_id"] == "req-500-1"
    assert entry.detail["operation"] == "create_environment"


def test_a_refused_change_is_audited_and_readable(
    ctx: ServerContext, client: TestClient, kit: Any
) -> None:
    dev = kit.user("dev-1", roles={"prod": "developer"})
    r = client.post(
        f"{V}/environments",
        headers={**dev.headers, "Origin": ORIGIN},
        json={"name": "staging"},
    )
    assert r.status_code == 403 and r.headers["access-control-allow-origin"] == ORIGIN
    [entry] = _entries(ctx, "request.refused")
    assert entry.actor == "dev-1" and entry.outcome == "refused"
    assert entry.detail["status"] == 403 and entry.detail["detail"] == r.json()["detail"]
    # reads are not changes, and sign-in failures audit themselves by account
    client.get(f"{V}/environments/nope", headers=dev.headers)
    client.post(f"{V}/auth/login", json={"username": "dev-1", "password": "wrong-password-1"})
    assert len(_entries(ctx, "request.refused")) == 1


def test_a_conflict_is_audited(ctx: ServerContext, client: TestClient, admin: Any) -> None:
    assert client.post(f"{V}/environments", headers=admin.headers, json={"name": "a"}).is_success
    r = client.post(f"{V}/environments", headers=admin.headers, json={"name": "a"})
    assert r.status_code == 409
    [entry] = _entries(ctx, "request.refused")
    assert entry.detail["status"] == 409 and "already exists" in entry.detail["detail"]


def test_an_oversized_body_is_refused_readably(ctx: ServerContext, kit: Any) -> None:
    small = build_context(kit.settings(max_body_bytes=2048), db=ctx.db)
    with TestClient(create_app(small.settings, ctx=small)) as c:
        r = c.post(
            f"{V}/environments",
            content=b"x" * 5000,
            headers={"content-type": "application/json", "Origin": ORIGIN},
        )
        assert r.status_code == 413 and r.headers["access-control-allow-origin"] == ORIGIN
        assert r.headers["x-request-id"] and r.json()["request_id"] == r.headers["x-request-id"]


def test_validation_errors_carry_cors_headers(client: TestClient, admin: Any) -> None:
    r = client.post(
        f"{V}/environments", headers={**admin.headers, "Origin": ORIGIN}, json={"name": 7}
    )
    assert r.status_code == 422 and r.headers["access-control-allow-origin"] == ORIGIN
