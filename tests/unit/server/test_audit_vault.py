"""The audit chain detects edits and deletions; secret values never leave the vault."""

from __future__ import annotations

import itertools
import json
import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from attonix.server import audit, vault
from attonix.server.audit import Actor
from attonix.server.context import ServerContext
from attonix.server.db.models import AuditEntry, Secret
from attonix.server.environments import create_environment
from attonix.server.security.envelope import KeyRing

V = "/api/v1"


def _some_history(ctx: ServerContext) -> None:
    for name in ("a", "b", "c", "d"):
        create_environment(ctx, name=name, actor=Actor("alice", "10.0.0.1"))


def test_every_change_is_chained_with_actor_time_and_ip(
    ctx: ServerContext, kit: Any, client: TestClient, admin: Any
) -> None:
    r = client.post(f"{V}/environments", headers=admin.headers, json={"name": "prod"})
    assert r.status_code == 201
    client.post(f"{V}/auth/login", json={"username": "nobody", "password": "x"})
    entries = client.get(f"{V}/audit", headers=admin.headers).json()
    actions = [(e["action"], e["outcome"]) for e in entries]
    assert ("auth.login", "success") in actions  # the admin's own sign-in
    assert ("environment.create", "success") in actions
    assert actions[-1] == ("auth.login", "failure")
    create = next(e for e in entries if e["action"] == "environment.create")
    assert create["actor"] == "root-admin" and create["target"] == "environment/prod"
    assert create["source_ip"] == "testclient"
    for prev, cur in itertools.pairwise(entries):
        assert cur["prev_hash"] == prev["hash"] and cur["seq"] == prev["seq"] + 1
    verify = client.get(f"{V}/audit/verify", headers=admin.headers).json()
    assert (verify["ok"], verify["checked"], verify["problems"]) == (True, len(entries), [])
    lines = client.get(f"{V}/audit/export", headers=admin.headers).text.splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [e["seq"] for e in entries]


def test_an_edited_row_is_detected(ctx: ServerContext) -> None:
    _some_history(ctx)
    with ctx.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2"))
    with ctx.db.session() as s:
        result = audit.verify(s)
    assert not result.ok
    assert result.problems == [{"seq": 2, "problem": "content was edited after it was written"}]


def test_an_edited_row_with_recomputed_hash_breaks_the_next_link(ctx: ServerContext) -> None:
    _some_history(ctx)
    with ctx.db.session() as s:
        row = s.get(AuditEntry, 2)
        assert row is not None
        row.target = "environment/zzz"
        row.hash = audit.entry_hash(row, audit.session_key(s))
    with ctx.db.session() as s:
        problems = audit.verify(s).problems
    assert {
        "seq": 3,
        "problem": "does not link to the previous entry (a row before it changed)",
    } in problems


def test_deleted_rows_are_detected(ctx: ServerContext) -> None:
    _some_history(ctx)
    with ctx.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    with ctx.db.session() as s:
        problems = audit.verify(s).problems
    assert {"seq": 2, "problem": "entries 2 were deleted"} in problems
    with ctx.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 4"))
    with ctx.db.session() as s:
        problems = audit.verify(s).problems
    assert {"seq": 4, "problem": "the last 1 entries were deleted"} in problems


SECRET_VALUE = "s3cr3t-Value-that-must-never-leak-7f3a"


def test_a_secret_value_appears_in_no_response_and_no_log(
    ctx: ServerContext, kit: Any, client: TestClient, admin: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bodies: list[str] = []

    def call(method: str, url: str, **kw: Any) -> Any:
        r = client.request(method, url, headers=admin.headers, **kw)
        bodies.append(r.text + json.dumps(dict(r.headers)))
        return r

    call("POST", f"{V}/environments", json={"name": "prod"})
    r = call(
        "PUT",
        f"{V}/environments/prod/secrets/pg-main-credentials",
        json={"values": {"username": "app", "password": SECRET_VALUE}},
    )
    assert r.status_code == 200
    assert r.json()["keys"] == ["password", "username"] and r.json()["version"] == 1
    call(
        "PUT",
        f"{V}/environments/prod/secrets/pg-main-credentials",
        json={"values": {"password": SECRET_VALUE, "extra": "x" * 70000}},
    )  # 422, echoes nothing
    call(
        "PUT",
        f"{V}/environments/prod/secrets/BAD NAME",
        json={"values": {"password": SECRET_VALUE}},
    )
    listed = call("GET", f"{V}/environments/prod/secrets").json()
    assert [s["name"] for s in listed] == ["pg-main-credentials"]
    call("GET", f"{V}/audit")
    call("GET", f"{V}/audit/export")
    for body in bodies:
        assert SECRET_VALUE not in body
    assert SECRET_VALUE not in caplog.text
    for record in caplog.records:
        assert SECRET_VALUE not in json.dumps(record.__dict__, default=str)
    with ctx.db.engine.connect() as conn:
        raw = conn.execute(select(Secret.sealed)).scalar_one()
    assert SECRET_VALUE.encode() not in raw
    # The deploy drivers get the value through the vault SecretSource.
    source = vault.VaultSecretSource(ctx, "prod")
    assert source.get("pg-main-credentials") == {"username": "app", "password": SECRET_VALUE}
    assert SECRET_VALUE not in repr(source)


def test_key_rotation_rewraps_without_losing_values(ctx: ServerContext) -> None:
    actor = Actor("alice")
    create_environment(ctx, name="prod", actor=actor)
    vault.put_secret(ctx, environment="prod", name="db", values={"password": "one"}, actor=actor)
    vault.put_secret(ctx, environment="prod", name="mq", values={"token": "two"}, actor=actor)
    old_line = ctx.settings.kek.get_secret_value()  # type: ignore[union-attr]
    new_line = KeyRing.generate_line("kek-2")
    path = ctx.settings.data_dir / "keys"
    path.write_text(old_line + "\n" + new_line + "\n")
    path.chmod(0o600)
    ring = KeyRing.from_settings(kek=None, kek_file=str(path))
    result = vault.rotate(ctx, actor=actor, keyring=ring)
    assert result.rewrapped == 2 and result.active_kek == "kek-2"
    with ctx.db.session() as s:
        assert set(s.execute(select(Secret.kek_id)).scalars()) == {"kek-2"}
    # Only the new key is needed now.
    only_new = KeyRing.from_settings(kek=new_line, kek_file=None)
    ctx.__dict__["keyring"] = only_new
    assert vault.VaultSecretSource(ctx, "prod").get("db") == {"password": "one"}
    assert vault.rotate(ctx, actor=actor, keyring=only_new).rewrapped == 0


def test_a_sealed_value_copied_to_another_name_does_not_open(ctx: ServerContext) -> None:
    actor = Actor("alice")
    create_environment(ctx, name="prod", actor=actor)
    vault.put_secret(ctx, environment="prod", name="db", values={"password": "one"}, actor=actor)
    vault.put_secret(ctx, environment="prod", name="mq", values={"token": "two"}, actor=actor)
    with ctx.db.session() as s:
        rows = {r.name: r for r in s.execute(select(Secret)).scalars()}
        rows["mq"].sealed = rows["db"].sealed
    from attonix.server.security.errors import VaultError

    with pytest.raises(VaultError):
        vault.VaultSecretSource(ctx, "prod").get("mq")


def test_concurrent_writers_never_fork_the_chain(ctx: ServerContext) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def make(i: int) -> None:
        create_environment(ctx, name=f"env-{i}", actor=Actor(f"user-{i}"))

    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(make, range(24)))
    with ctx.db.session() as s:
        result = audit.verify(s)
    assert result.ok and result.checked == 24, result.problems
