"""Probes, hardening (headers, CORS, 413, problems, metrics), schema checks, backup/restore."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from attonix.server import backup, vault
from attonix.server.app import create_app, prepare_database
from attonix.server.audit import Actor
from attonix.server.auth import users
from attonix.server.context import ServerContext, build_context
from attonix.server.db import migrate
from attonix.server.db.models import User
from attonix.server.environments import create_environment
from attonix.server.errors import SchemaOutdated

V = "/api/v1"


def test_probes_and_metrics(client: TestClient, ctx: ServerContext) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz").json()
    assert ready == {
        "status": "ready",
        "database": ctx.db.dialect,
        "schema_revision": migrate.head_revision(),
    }
    client.get("/api/v1/me")
    metrics = client.get("/metrics").text
    assert 'attonix_http_requests_total{method="GET",route="get_me",status="401"}' in metrics


def test_security_headers_and_request_id(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    r = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    access = [rec for rec in caplog.records if getattr(rec, "request_id", "") == "abc-123"]
    assert access and access[0].path == "/healthz" and access[0].status == 200  # type: ignore[attr-defined]
    from attonix.server.middleware import JsonFormatter

    line = json.loads(JsonFormatter().format(access[0]))
    assert line["request_id"] == "abc-123" and line["status"] == 200
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert "strict-transport-security" not in r.headers
    assert (
        len(client.get("/healthz", headers={"X-Request-ID": "bad id\n"}).headers["x-request-id"])
        == 32
    )


def test_hsts_when_tls(ctx: ServerContext, kit: Any) -> None:
    tls = build_context(kit.settings(tls=True), db=ctx.db)
    with TestClient(create_app(tls.settings, ctx=tls)) as c:
        assert "max-age=" in c.get("/healthz").headers["strict-transport-security"]


def test_cors_allow_list(client: TestClient) -> None:
    pre = {
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    ok = client.options(f"{V}/me", headers={"Origin": "http://127.0.0.1:8081", **pre})
    assert ok.headers["access-control-allow-origin"] == "http://127.0.0.1:8081"
    assert "access-control-allow-credentials" not in ok.headers
    evil = client.options(f"{V}/me", headers={"Origin": "https://evil.example", **pre})
    assert "access-control-allow-origin" not in evil.headers


def test_oversized_body_is_413_problem(ctx: ServerContext, kit: Any) -> None:
    small = build_context(kit.settings(max_body_bytes=2048), db=ctx.db)
    with TestClient(create_app(small.settings, ctx=small)) as c:
        r = c.post(
            f"{V}/auth/login", content=b"x" * 5000, headers={"content-type": "application/json"}
        )
        assert r.status_code == 413
        assert r.headers["content-type"] == "application/problem+json"
        assert "2048" in r.json()["detail"]

        def chunks() -> Any:  # no Content-Length: counted while streaming
            for _ in range(10):
                yield b"y" * 1000

        r = c.post(
            f"{V}/auth/login", content=chunks(), headers={"content-type": "application/json"}
        )
        assert r.status_code == 413 and r.json()["status"] == 413


def test_errors_are_problem_details_without_internals(client: TestClient, admin: Any) -> None:
    r = client.post(
        f"{V}/auth/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    r = client.get(f"{V}/environments/nope", headers=admin.headers)
    assert r.status_code == 404 and r.json()["detail"] == "No environment named 'nope'."
    r = client.post(
        f"{V}/users", headers=admin.headers, json={"name": "x", "password": "hunter2-secret"}
    )
    assert r.status_code == 201  # unknown field ignored
    r = client.post(f"{V}/users", headers=admin.headers, json={"name": "x"})
    assert r.status_code == 409 and "already exists" in r.json()["detail"]
    r = client.post(
        f"{V}/users", headers=admin.headers, json={"name": "BAD NAME", "email": "pw-in-echo"}
    )
    assert r.status_code == 422 and "pw-in-echo" not in r.text and "Traceback" not in r.text


def test_outdated_schema_is_refused_with_a_clear_message(tmp_path: Path, kit: Any) -> None:
    empty = build_context(kit.settings(database_url=f"sqlite:///{tmp_path / 'old.db'}"))
    with pytest.raises(SchemaOutdated) as exc:
        prepare_database(empty)
    assert "attonix db upgrade" in exc.value.hint
    # The embedded default upgrades itself on first start.
    embedded = build_context(
        kit.settings(database_url="", auto_migrate=None, data_dir=tmp_path / "d")
    )
    assert embedded.settings.embedded and embedded.settings.should_auto_migrate
    prepare_database(embedded)
    assert migrate.schema_state(embedded.db).is_current
    assert (tmp_path / "d" / "attonix.db").exists()


def _populate(ctx: ServerContext) -> None:
    actor = Actor("alice", "10.1.1.1")
    users.create_admin(ctx, name="alice", actor=actor)
    create_environment(ctx, name="prod", actor=actor)
    vault.put_secret(ctx, environment="prod", name="db", values={"password": "pw-1"}, actor=actor)
    users.create_group(ctx, name="ops", members=["alice"], actor=actor)


def test_backup_archive_is_readable_by_its_owner_only(tmp_path: Path, kit: Any) -> None:
    """Was: `attonix backup` wrote the archive 0644 (world-readable)."""
    source = build_context(kit.settings(database_url=f"sqlite:///{tmp_path / 'src.db'}"))
    migrate.upgrade(source.db)
    archive = tmp_path / "backup.atx"
    archive.write_bytes(b"an older archive")
    archive.chmod(0o644)
    old = os.umask(0o022)
    try:
        backup.backup(source, output=archive, passphrase="long enough passphrase")
    finally:
        os.umask(old)
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert archive.read_bytes() != b"an older archive"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    source.db.dispose()


def test_backup_from_sqlite_restores_into_this_engine(
    tmp_path: Path, ctx: ServerContext, kit: Any
) -> None:
    source = build_context(kit.settings(database_url=f"sqlite:///{tmp_path / 'src.db'}"))
    migrate.upgrade(source.db)
    _populate(source)
    archive = tmp_path / "backup.atx"
    backup.backup(source, output=archive, passphrase="long enough passphrase")
    assert b"pw-1" not in archive.read_bytes() and b"alice" not in archive.read_bytes()
    summary = backup.restore(ctx, archive=archive, passphrase="long enough passphrase")
    assert "audit chain intact" in summary
    assert backup.dump(ctx)["tables"] == backup.dump(source)["tables"]
    assert vault.VaultSecretSource(ctx, "prod").get("db") == {"password": "pw-1"}
    with ctx.db.session() as s:
        assert s.execute(select(User.name)).scalars().all() == ["alice"]
    # New rows get fresh ids after a restore (sequences moved past the restored ids).
    users.create_user(ctx, name="bob", actor=Actor("alice"))
    with pytest.raises(Exception, match="not empty"):
        backup.restore(ctx, archive=archive, passphrase="long enough passphrase")


def test_backup_with_wrong_passphrase_is_refused(tmp_path: Path, ctx: ServerContext) -> None:
    _populate(ctx)
    archive = tmp_path / "b.atx"
    backup.backup(ctx, output=archive, passphrase="long enough passphrase")
    from attonix.errors import Error

    with pytest.raises(Error):
        backup.load(archive, passphrase="another passphrase!")


def test_cli_up_bootstraps_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    import attonix.cli._server as cli_server
    from attonix.cli import app

    monkeypatch.setenv("ATTONIX_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ATTONIX_DATABASE_URL", raising=False)
    started: list[Any] = []
    monkeypatch.setattr(cli_server, "_run_uvicorn", lambda *a, **k: started.append(k))
    example = Path(__file__).resolve().parents[3] / "examples" / "attonixcorp.yaml"
    runner = CliRunner()
    first = runner.invoke(app, ["up", str(example)])
    assert first.exit_code == 0, first.output
    assert (
        "one-time password:" in first.output and "imported into prod as version 1" in first.output
    )
    second = runner.invoke(app, ["up", str(example)])
    assert second.exit_code == 0 and "one-time password" not in second.output
    assert "unchanged" in second.output and len(started) == 2
    verify = runner.invoke(app, ["audit", "verify"])
    assert verify.exit_code == 0 and "intact" in verify.output
    with_db = build_context(cli_server._settings())
    with with_db.db.engine.connect() as conn:
        names = [r[0] for r in conn.execute(text("SELECT name FROM users ORDER BY name"))]
    assert names == ["admin", "alice", "bob", "carol", "dave"]
    openapi = runner.invoke(app, ["openapi"])
    assert (
        json.loads(openapi.output)["paths"]["/api/v1/auth/login"]["post"]["operationId"] == "login"
    )


def test_a_pooled_connection_killed_while_idle_is_replaced_before_use(
    ctx: ServerContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import create_engine

    from attonix.server.db import engine as engine_mod

    if ctx.db.dialect == "sqlite":
        pytest.skip("SQLite has no server connection to lose")
    pg = ctx.db.dialect == "postgresql"
    own_id = text("SELECT pg_backend_pid()" if pg else "SELECT CONNECTION_ID()")
    ctx.db.engine.dispose()  # one pooled connection, the one killed below
    with ctx.db.read() as conn:
        pid = conn.execute(own_id).scalar()
    # The server ends the idle pooled connection, as a restart or an idle timeout does.
    killer = create_engine(ctx.db.engine.url, isolation_level="AUTOCOMMIT")
    with killer.connect() as other:
        other.execute(
            text("SELECT pg_terminate_backend(:p)" if pg else f"KILL {int(pid)}"), {"p": pid}
        )
    killer.dispose()
    monkeypatch.setattr(engine_mod, "IDLE_PING_SECONDS", 0.0)
    with ctx.db.read() as conn:
        assert conn.execute(own_id).scalar() != pid


def test_the_reads_on_the_event_loop_replace_a_connection_killed_while_idle(
    ctx: ServerContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from sqlalchemy import create_engine, func

    from attonix.server.db import engine as engine_mod
    from attonix.server.db.loop_reads import Compiled, LoopReads

    if ctx.db.dialect != "postgresql":
        pytest.skip("the hot reads run on the event loop on PostgreSQL only")
    own_pid = Compiled(select(func.pg_backend_pid()))

    async def scenario() -> tuple[int, int]:
        reads = LoopReads.for_engine(ctx.db.engine, 1)
        assert reads is not None
        try:
            [(pid,)] = await reads.fetch(own_pid, {})
            killer = create_engine(ctx.db.engine.url, isolation_level="AUTOCOMMIT")
            with killer.connect() as other:
                other.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            killer.dispose()
            monkeypatch.setattr(engine_mod, "IDLE_PING_SECONDS", 0.0)
            [(again,)] = await reads.fetch(own_pid, {})
            return pid, again
        finally:
            await reads.close()

    pid, again = asyncio.run(scenario())
    assert again != pid
