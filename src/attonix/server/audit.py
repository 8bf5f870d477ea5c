"""The audit trail: an append-only, hash-chained log written in the same transaction as the change.

Each row's ``hash`` is SHA-256 over its canonical content and the previous row's hash; the
single ``audit_head`` row holds the last sequence number and hash. Appending locks the head
row (``SELECT … FOR UPDATE``; the write lock taken at BEGIN on SQLite), so concurrent writers
never fork the chain. ``verify`` recomputes everything and names each edited, deleted or
reordered row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from attonix.server.db.models import AuditEntry, AuditHead, utcnow

GENESIS = "0" * 64


@dataclass(frozen=True)
class Actor:
    """Who did something, and from where."""

    name: str
    source_ip: str = ""

    @classmethod
    def system(cls) -> Actor:
        """The server itself (jobs, reconciliation, start-up)."""
        return cls(name="system")


def _canonical(
    *,
    seq: int,
    at: dt.datetime,
    actor: str,
    action: str,
    target: str,
    source_ip: str,
    outcome: str,
    detail: dict[str, Any],
    prev_hash: str,
) -> bytes:
    doc = {
        "seq": seq,
        "at": at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": actor,
        "action": action,
        "target": target,
        "source_ip": source_ip,
        "outcome": outcome,
        "detail": detail,
        "prev": prev_hash,
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str).encode()


def entry_hash(entry: AuditEntry) -> str:
    """Recompute the hash an entry should carry."""
    return hashlib.sha256(
        _canonical(
            seq=entry.seq,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            target=entry.target,
            source_ip=entry.source_ip,
            outcome=entry.outcome,
            detail=entry.detail or {},
            prev_hash=entry.prev_hash,
        )
    ).hexdigest()


def _jsonable(detail: dict[str, Any]) -> dict[str, Any]:
    # Round-trip now so that what is hashed equals what the JSON column gives back later.
    parsed: dict[str, Any] = json.loads(json.dumps(detail, sort_keys=True, default=str))
    return parsed


def record(
    session: Session,
    actor: Actor,
    action: str,
    *,
    target: str = "",
    outcome: str = "success",
    detail: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry in ``session``'s transaction (it commits or rolls back with the change)."""
    head = session.execute(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()
    ).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        session.add(head)
        session.flush()
    # Timestamps keep microseconds on every engine; truncate nothing, but drop sub-µs noise.
    entry = AuditEntry(
        seq=head.seq + 1,
        at=utcnow(),
        actor=actor.name,
        action=action,
        target=target[:255],
        source_ip=actor.source_ip[:64],
        outcome=outcome,
        detail=_jsonable(detail or {}),
        prev_hash=head.hash,
    )
    entry.hash = entry_hash(entry)
    session.add(entry)
    head.seq, head.hash = entry.seq, entry.hash
    session.flush()
    return entry


@dataclass
class VerifyResult:
    """The outcome of checking the whole chain."""

    ok: bool = True
    checked: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)

    def add(self, seq: int, problem: str) -> None:
        """Note a broken link at ``seq``."""
        self.ok = False
        self.problems.append({"seq": seq, "problem": problem})


def iter_entries(session: Session, *, batch: int = 1000) -> Iterator[AuditEntry]:
    """Every entry in chain order, fetched in batches."""
    last = 0
    while True:
        rows = (
            session.execute(
                select(AuditEntry)
                .where(AuditEntry.seq > last)
                .order_by(AuditEntry.seq)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def verify(session: Session) -> VerifyResult:
    """Recompute the chain; report every edited, deleted or inserted row by sequence number."""
    result = VerifyResult()
    expected_seq, prev = 1, GENESIS
    for entry in iter_entries(session):
        result.checked += 1
        if entry.seq != expected_seq:
            missing = (
                f"{expected_seq}"
                if entry.seq == expected_seq + 1
                else f"{expected_seq}–{entry.seq - 1}"
            )
            result.add(expected_seq, f"entries {missing} were deleted")
        if entry.prev_hash != prev:
            result.add(entry.seq, "does not link to the previous entry (a row before it changed)")
        if entry_hash(entry) != entry.hash:
            result.add(entry.seq, "content was edited after it was written")
        expected_seq, prev = entry.seq + 1, entry.hash
    head = session.get(AuditHead, 1)
    last_seq = expected_seq - 1
    if head is not None and (head.seq != last_seq or head.hash != prev):
        if head.seq > last_seq:
            result.add(last_seq + 1, f"the last {head.seq - last_seq} entries were deleted")
        else:
            result.add(head.seq, "the chain head does not match the last entry")
    return result


def to_dict(entry: AuditEntry) -> dict[str, Any]:
    """An entry as plain JSON data (for the API and the JSON-lines export)."""
    return {
        "seq": entry.seq,
        "at": entry.at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "source_ip": entry.source_ip,
        "outcome": entry.outcome,
        "detail": entry.detail,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }


def export_lines(session: Session) -> Iterator[str]:
    """The whole chain as JSON lines (one entry per line, newline-terminated)."""
    for entry in iter_entries(session):
        yield json.dumps(to_dict(entry), sort_keys=True) + "\n"
