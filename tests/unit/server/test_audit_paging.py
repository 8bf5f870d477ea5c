"""Filtered audit reads page by cursor (keyset on seq) and the environment an entry concerns
is derived, stored for the filter's index, and checked by verify."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import text
from starlette.testclient import TestClient

from attonix.server import audit
from attonix.server.audit import Actor
from attonix.server.context import ServerContext, build_context
from attonix.server.db import migrate
from attonix.server.environments import create_environment

V = "/api/v1"


def _pages(client: TestClient, headers: dict[str, str], query: str) -> list[list[int]]:
    """Every page of ``query`` (newest first), following the X-Next-Cursor header."""
    pages: list[list[int]] = []
    before = 0
    while True:
        r = client.get(f"{V}/audit?{query}&order=desc&limit=2&before={before}", headers=headers)
        assert r.status_code == 200, r.text
        pages.append([e["seq"] for e in r.json()])
        cursor = r.headers.get("X-Next-Cursor")
        if cursor is None:
            return pages
        assert int(cursor) == pages[-1][-1]
        before = int(cursor)


def test_filters_page_by_cursor_to_the_end(
    ctx: ServerContext, client: TestClient, admin: Any
) -> None:
    for name in ("a", "b", "c", "d", "e"):
        create_environment(ctx, name=name, actor=Actor("alice" if name != "c" else "bob"))
    with ctx.db.session() as s:
        audit.record(s, Actor("carol"), "deployment.request", detail={"environment": "b"})
        audit.record(s, Actor("carol"), "secret.put", target="secret/b/db-password")
    alice = _pages(client, admin.headers, "actor=alice")
    # Four entries, two a page: the second page is full, so a third (empty) one ends it.
    assert [len(p) for p in alice] == [2, 2, 0]
    seqs = [seq for page in alice for seq in page]
    assert seqs == sorted(seqs, reverse=True)
    b = client.get(f"{V}/audit?environment=b", headers=admin.headers).json()
    assert [(e["action"], e["environment"]) for e in b] == [
        ("environment.create", "b"),
        ("deployment.request", "b"),
        ("secret.put", "b"),
    ]
    # A console served from another origin may read the cursor.
    r = client.get(
        f"{V}/audit?actor=alice&limit=2",
        headers={**admin.headers, "Origin": "http://127.0.0.1:8081"},
    )
    assert "X-Next-Cursor" in r.headers["access-control-expose-headers"]
    # A short page is the last: no cursor.
    r = client.get(f"{V}/audit?actor=bob&limit=5", headers=admin.headers)
    assert len(r.json()) == 1 and "X-Next-Cursor" not in r.headers


def test_an_edited_environment_is_reported(ctx: ServerContext) -> None:
    """Hiding an entry from the environment filter by editing the column is an edit."""
    create_environment(ctx, name="prod", actor=Actor("alice"))
    with ctx.db.session() as s:
        assert audit.verify(s).ok
    with ctx.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET environment = '' WHERE seq = 1"))
    with ctx.db.session() as s:
        result = audit.verify(s)
    assert result.problems == [
        {"seq": 1, "problem": "its environment was edited after it was written"}
    ]
    assert result.checked == 1 and result.seconds > 0 and result.rate > 0


def test_environment_of() -> None:
    assert audit.environment_of("environment/prod/v3", {}) == "prod"
    assert audit.environment_of("environment/prod", {}) == "prod"
    assert audit.environment_of("secret/stage/db", {}) == "stage"
    assert audit.environment_of("deployment/7", {"environment": "prod"}) == "prod"
    assert audit.environment_of("user/alice", {"environment": 3}) == ""
    assert audit.environment_of("user/alice", {}) == ""


def test_the_canonical_form_is_the_one_every_existing_mac_was_taken_over() -> None:
    """verify writes the canonical JSON by hand for speed: it must stay byte for byte the
    json.dumps form entries were sealed with, or every stored chain would stop verifying."""
    detail = {"z": [1, 2.5, None, True, {"b": 1, "a": "ü"}], "a": {"y": "2020"}, "n": "1"}
    for at, actor, d in (
        (dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))), "a", {}),
        (dt.datetime(2026, 11, 29, 0, 0, 0, 7, tzinfo=dt.UTC), 'é"\\\n\u2028😀', detail),
        (dt.datetime(2026, 11, 29, tzinfo=dt.UTC), "system", {"k": dt.date(2020, 1, 2)}),
    ):
        fields = {
            "seq": 12,
            "actor": actor,
            "action": "a.b",
            "target": "x/y",
            "source_ip": "::1",
            "outcome": "success",
            "detail": d,
        }
        doc = {
            **fields,
            "at": at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "prev": "0" * 64,
        }
        sealed = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str).encode()
        assert audit.canonical(at=at, prev_hash="0" * 64, **fields) == sealed
        # Naive means UTC (what verify reads straight from the column).
        naive = at.astimezone(dt.UTC).replace(tzinfo=None)
        assert audit.canonical(at=naive, prev_hash="0" * 64, **fields) == sealed


def test_the_migration_derives_the_environment_of_older_entries(tmp_path: Path, kit: Any) -> None:
    """Entries written before the environment column get it from their target and detail,
    so the environment filter finds them and verify still passes."""
    ctx = build_context(kit.settings(database_url=f"sqlite:///{tmp_path / 'old.db'}"))
    migrate.upgrade(ctx.db)
    create_environment(ctx, name="prod", actor=Actor("alice"))
    with ctx.db.session() as s:
        audit.record(s, Actor("carol"), "deployment.request", detail={"environment": "prod"})
        audit.record(s, Actor("carol"), "user.update", target="user/bob")
    cfg = migrate._config()
    with ctx.db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003_sec")
    assert migrate.current_revision(ctx.db) == "0003_sec"
    migrate.upgrade(ctx.db)
    with ctx.db.engine.connect() as conn:
        got = conn.execute(text("SELECT environment FROM audit_log ORDER BY seq")).scalars().all()
    assert got == ["prod", "prod", ""]
    with ctx.db.session() as s:
        assert audit.verify(s).ok


def test_a_time_range_page_is_planned_for_its_values(ctx: ServerContext) -> None:
    """Past psycopg's prepare threshold (five runs) the page is still right, and on PostgreSQL
    it is planned for its own values (a generic plan walked the whole key backwards for a
    narrow time range) with the setting confined to the read's transaction."""
    with ctx.db.session() as s:
        for i in range(6):
            audit.record(s, Actor(f"user-{i % 2}"), "secret.put", target=f"secret/e/s{i}")
    now = dt.datetime.now(dt.UTC)
    postgresql = ctx.db.engine.dialect.name == "postgresql"
    for _ in range(7):
        with ctx.db.session() as s:
            q = audit.select_entries(
                order="desc", limit=2, actor="user-1", since=now - dt.timedelta(hours=1)
            )
            assert [e.target for e in audit.read_page(s, q)] == ["secret/e/s5", "secret/e/s3"]
            if postgresql:
                mode = s.execute(text("SELECT current_setting('plan_cache_mode')")).scalar()
                assert mode == "force_custom_plan"
        if postgresql:
            with ctx.db.session() as s:
                mode = s.execute(text("SELECT current_setting('plan_cache_mode')")).scalar()
                assert mode == "auto"
