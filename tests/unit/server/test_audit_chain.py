"""The audit chain an insider cannot re-seal: a keyed MAC whose key is not in the database,
and signed checkpoints outside the database that reveal truncation and re-sealing."""

from __future__ import annotations

import hashlib
import json
import stat
from typing import Any

from sqlalchemy import select, text, update

from attonix.server import audit, backup, jobs
from attonix.server.audit import Actor
from attonix.server.context import ServerContext
from attonix.server.db.models import AuditEntry, AuditHead
from attonix.server.environments import create_environment


def _history(ctx: ServerContext, names: tuple[str, ...] = ("a", "b", "c", "d")) -> None:
    for name in names:
        create_environment(ctx, name=name, actor=Actor("alice", "10.0.0.1"))


def _plain(entry: AuditEntry) -> str:
    """What an insider without the key can compute: the old unkeyed SHA-256."""
    entry.keyed = False
    return audit.entry_hash(entry)


def _reseal(ctx: ServerContext, seal: Any) -> None:
    """Recompute every entry's hash and link, then the head, with ``seal``."""
    with ctx.db.session() as s:
        prev = audit.GENESIS
        for e in s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars():
            e.prev_hash = prev
            e.hash = seal(e)
            prev = e.hash
        head = s.get(AuditHead, 1)
        assert head is not None
        head.hash = prev


def _verify(ctx: ServerContext) -> audit.VerifyResult:
    with ctx.db.session() as s:
        return audit.verify(s, checkpoint_file=ctx.settings.checkpoint_path())


def _checkpoint(ctx: ServerContext) -> None:
    with ctx.db.session() as s:
        assert audit.take_checkpoint(s, path=ctx.settings.checkpoint_path()) is not None


def test_edit_and_reseal_without_the_key_is_detected(ctx: ServerContext) -> None:
    """Was: an insider edited an entry, recomputed every later hash and the head, and
    verification said "intact"."""
    _history(ctx)
    with ctx.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2"))
    _reseal(ctx, _plain)
    result = _verify(ctx)
    assert not result.ok
    assert "carry no keyed MAC" in result.problems[0]["problem"]
    # A guessed key does no better.
    _reseal(ctx, lambda e: hashlib.sha256(b"guess" + e.hash.encode()).hexdigest())
    with ctx.db.session() as s:
        s.execute(update(AuditEntry).values(keyed=True))
    result = _verify(ctx)
    assert {"seq": 1, "problem": "content was edited after it was written"} in result.problems


def test_truncation_is_detected_by_a_checkpoint(ctx: ServerContext) -> None:
    """Was: cutting off the last entries and rewriting the head went unnoticed."""
    _history(ctx)
    _checkpoint(ctx)
    assert _verify(ctx).ok and _verify(ctx).checkpoints == 1
    with ctx.db.session() as s:
        s.execute(text("DELETE FROM audit_log WHERE seq > 2"))
        last = s.get(AuditEntry, 2)
        head = s.get(AuditHead, 1)
        assert last is not None and head is not None
        head.seq, head.hash = 2, last.hash
    result = _verify(ctx)
    assert not result.ok
    assert any("the chain was cut" in p["problem"] for p in result.problems), result.problems


def test_reseal_by_a_key_holder_is_detected_by_an_earlier_checkpoint(ctx: ServerContext) -> None:
    _history(ctx)
    _checkpoint(ctx)
    with ctx.db.session() as s:
        key = audit.session_key(s)
    with ctx.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET target = 'environment/zzz' WHERE seq = 2"))
    _reseal(ctx, lambda e: audit.entry_hash(e, key))
    result = _verify(ctx)
    assert [p for p in result.problems if "re-sealed" in p["problem"]], result.problems


def test_a_forged_checkpoint_is_reported(ctx: ServerContext) -> None:
    _history(ctx)
    _checkpoint(ctx)
    path = ctx.settings.checkpoint_path()
    cp = json.loads(path.read_text().splitlines()[0])
    cp["seq"] = 2
    with path.open("a") as fh:
        fh.write(json.dumps(cp) + "\n")
    result = _verify(ctx)
    assert [p for p in result.problems if "bad signature" in p["problem"]], result.problems


def test_the_key_is_beside_the_keks_not_in_the_database(ctx: ServerContext) -> None:
    _history(ctx)
    key_file = ctx.settings.kek_path().with_name("audit.key")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    secret = key_file.read_text().strip()
    dumped = json.dumps(backup.dump(ctx))
    assert secret not in dumped
    with ctx.db.session() as s:
        assert audit.session_key(s).hex() not in dumped


def test_checkpoints_are_taken_on_a_schedule(ctx: ServerContext) -> None:
    _history(ctx, ("a",))
    assert "audit.checkpoint" in jobs.schedule_periodic(ctx)
    while jobs.run_one(ctx, "w1") is not None:
        pass
    lines = ctx.settings.checkpoint_path().read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["seq"] >= 1
    assert stat.S_IMODE(ctx.settings.checkpoint_path().stat().st_mode) == 0o600
    assert _verify(ctx).ok


def test_a_chain_from_before_keyed_chaining_is_adopted_once(ctx: ServerContext) -> None:
    _history(ctx)
    _reseal(ctx, _plain)  # as written by the previous version
    assert not _verify(ctx).ok
    with ctx.db.session() as s:
        assert audit.adopt(s, Actor("operator")) == 4
    result = _verify(ctx)
    assert result.ok, result.problems
    assert result.checked == 5  # and the adoption itself is an entry
