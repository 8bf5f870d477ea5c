"""The audit trail: an append-only, MAC-chained log written in the same transaction as the change.

Each row's ``hash`` is an HMAC-SHA-256, under a key derived from the audit key, over its
canonical content and the previous row's ``hash``; the single ``audit_head`` row holds the last
sequence number and MAC. The audit key lives beside the vault's key-encryption keys, never in
the database, so someone who can only write the database cannot re-seal an edited chain.
Appending locks the head row (``SELECT … FOR UPDATE``; the write lock taken at BEGIN on
SQLite), so concurrent writers never fork the chain. ``verify`` recomputes everything, names
each edited, deleted or reordered row, and checks the signed checkpoints kept outside the
database (``audit_checkpoints``), which reveal truncation and re-sealing by a key holder.

Rows written before keyed chaining (``keyed`` false) carry a plain SHA-256; they are accepted
only as the chain's prefix and reported as a warning.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Select, select, text, type_coerce
from sqlalchemy.orm import Session

from attonix.errors import Error
from attonix.server import audit_checkpoints
from attonix.server.db.models import AuditEntry, AuditHead, utcnow

GENESIS = "0" * 64
#: Where ``Database`` sessions carry the audit key (set once by ``build_context``).
KEY_INFO = "audit_key"


class AuditKeyMissing(Error):
    """A session without the audit key tried to write or check the chain."""


def chain_key(master: bytes) -> bytes:
    """The key entries are chained with (derived, so checkpoints use another)."""
    return hmac.new(master, b"attonix-audit-chain", hashlib.sha256).digest()


def checkpoint_key(master: bytes) -> bytes:
    """The key checkpoints are signed with."""
    return hmac.new(master, b"attonix-audit-checkpoint", hashlib.sha256).digest()


def session_key(session: Session) -> bytes:
    """The audit key the session was opened with."""
    key = session.info.get(KEY_INFO)
    if callable(key):
        key = key()
    if not isinstance(key, bytes):
        raise AuditKeyMissing(
            "this database session has no audit key", hint="Open it through build_context."
        )
    return key


@dataclass(frozen=True)
class Actor:
    """Who did something, and from where."""

    name: str
    source_ip: str = ""

    @classmethod
    def system(cls) -> Actor:
        """The server itself (jobs, reconciliation, start-up)."""
        return cls(name="system")


#: JSON string quoting exactly as ``json.dumps`` does it (ASCII-only, the C speed-up if present).
_quote = json.encoder.encode_basestring_ascii
#: The detail's JSON, as it is nested in the canonical document (one encoder, built once).
_detail_json = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str).encode


def canonical(
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
    """The bytes an entry's MAC is taken over: the entry as compact JSON with sorted keys
    (byte for byte ``json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)``,
    written out by hand because ``verify`` does this a million times). ``at`` is aware, or
    naive UTC."""
    if at.tzinfo is not None:
        at = at.astimezone(dt.UTC).replace(tzinfo=None)
    # isoformat with microseconds is strftime("%Y-%m-%dT%H:%M:%S.%f") for years 1000-9999.
    return (
        f'{{"action":{_quote(action)},"actor":{_quote(actor)},'
        f'"at":"{at.isoformat(timespec="microseconds")}Z","detail":{_detail_json(detail)},'
        f'"outcome":{_quote(outcome)},"prev":{_quote(prev_hash)},"seq":{seq:d},'
        f'"source_ip":{_quote(source_ip)},"target":{_quote(target)}}}'
    ).encode()


#: Targets whose second segment is an environment's name ("environment/prod/v3", "secret/prod/db").
_ENVIRONMENT_TARGETS = ("environment/", "secret/")


def environment_of(target: str, detail: dict[str, Any]) -> str:
    """The environment an entry concerns ("" for none), from its target or its detail.

    Derived, never given: ``verify`` recomputes it, so an edited ``environment`` column (one
    that hid an entry from the environment filter) is reported like any other edit."""
    if target.startswith(_ENVIRONMENT_TARGETS):
        name = target.split("/", 2)[1]
        return name[:64]
    named = detail.get("environment")
    return named[:64] if isinstance(named, str) else ""


def entry_hash(entry: AuditEntry, key: bytes | None = None) -> str:
    """Recompute the MAC an entry should carry (a plain SHA-256 for a pre-keyed entry)."""
    return _mac(entry, chain_key(key) if key is not None else None)


def _mac(entry: Any, chained: bytes | None) -> str:
    """``entry_hash`` with the chain key already derived (``entry``: a row or an entity)."""
    content = canonical(
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
    if not entry.keyed:
        return hashlib.sha256(content).hexdigest()
    if chained is None:
        raise AuditKeyMissing("a keyed audit entry needs the audit key to be checked")
    return hmac.new(chained, content, hashlib.sha256).hexdigest()


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
    key = session_key(session)
    head = session.execute(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()
    ).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, seq=0, hash=GENESIS)
        session.add(head)
        session.flush()
    # Timestamps keep microseconds on every engine; truncate nothing, but drop sub-µs noise.
    target = target[:255]
    detail = _jsonable(detail or {})
    entry = AuditEntry(
        seq=head.seq + 1,
        at=utcnow(),
        actor=actor.name,
        action=action,
        target=target,
        source_ip=actor.source_ip[:64],
        outcome=outcome,
        detail=detail,
        prev_hash=head.hash,
        keyed=True,
        environment=environment_of(target, detail),
    )
    entry.hash = entry_hash(entry, key)
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
    warnings: list[str] = field(default_factory=list)
    checkpoints: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        """Entries checked per second."""
        return self.checked / self.seconds if self.seconds > 0 else 0.0

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


#: The columns ``verify`` reads (plain rows: no ORM identity map, so memory stays bounded;
#: ``at`` as the naive UTC the column stores, without the aware-datetime conversion).
_CHECKED = (
    AuditEntry.seq,
    type_coerce(AuditEntry.at, DateTime()).label("at"),
    AuditEntry.actor,
    AuditEntry.action,
    AuditEntry.target,
    AuditEntry.source_ip,
    AuditEntry.outcome,
    AuditEntry.detail,
    AuditEntry.prev_hash,
    AuditEntry.hash,
    AuditEntry.keyed,
    AuditEntry.environment,
)


def _iter_rows(session: Session, *, batch: int = 5000) -> Iterator[Any]:
    """Every entry as a plain row in chain order, a keyset page at a time (bounded memory on
    every engine: only one page is held, whatever the log's length)."""
    last = 0
    while True:
        rows = session.execute(
            select(*_CHECKED).where(AuditEntry.seq > last).order_by(AuditEntry.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def verify(session: Session, *, checkpoint_file: Path | None = None) -> VerifyResult:
    """Recompute the chain; report every edited, deleted or inserted row by sequence number,
    and every disagreement with the signed checkpoints in ``checkpoint_file``. Streams the log
    a page at a time; ``seconds`` and ``rate`` say how long it took."""
    started = time.perf_counter()
    key = session_key(session)
    chained = chain_key(key)
    result = VerifyResult()
    expected_seq, prev = 1, GENESIS
    unkeyed, first_unkeyed = 0, 0
    for entry in _iter_rows(session):
        result.checked += 1
        if not entry.keyed:
            unkeyed += 1
            first_unkeyed = first_unkeyed or entry.seq
        if entry.seq != expected_seq:
            missing = (
                f"{expected_seq}"
                if entry.seq == expected_seq + 1
                else f"{expected_seq}–{entry.seq - 1}"
            )
            result.add(expected_seq, f"entries {missing} were deleted")
        if entry.prev_hash != prev:
            result.add(entry.seq, "does not link to the previous entry (a row before it changed)")
        if not hmac.compare_digest(_mac(entry, chained), entry.hash):
            result.add(entry.seq, "content was edited after it was written")
        elif entry.environment != environment_of(entry.target, entry.detail or {}):
            result.add(entry.seq, "its environment was edited after it was written")
        expected_seq, prev = entry.seq + 1, entry.hash
    head = session.get(AuditHead, 1)
    last_seq = expected_seq - 1
    if head is not None and (head.seq != last_seq or head.hash != prev):
        if head.seq > last_seq:
            result.add(last_seq + 1, f"the last {head.seq - last_seq} entries were deleted")
        else:
            result.add(head.seq, "the chain head does not match the last entry")
    if unkeyed:
        # Anyone can compute a plain hash: such an entry proves nothing.
        result.add(
            first_unkeyed,
            f"{unkeyed} entries carry no keyed MAC (written before keyed chaining, or "
            "re-sealed without the key); if they predate the upgrade, run `attonix audit adopt`",
        )
    if checkpoint_file is not None:
        found, unreadable = audit_checkpoints.read(checkpoint_file)
        result.checkpoints = len(found)
        for p in unreadable + audit_checkpoints.check(session, found, key=checkpoint_key(key)):
            result.add(p["seq"], p["problem"])
        if not found:
            result.warnings.append(f"no checkpoint in {checkpoint_file} yet")
    result.seconds = time.perf_counter() - started
    return result


def adopt(session: Session, actor: Actor) -> int:
    """Re-seal a chain written before keyed chaining with the audit key, once, after checking
    it is intact; return how many entries were re-sealed. Refused when the chain is broken."""
    key = session_key(session)
    before = verify(session)
    broken = [p for p in before.problems if "keyed MAC" not in p["problem"]]
    if broken:
        raise AuditBroken(f"the chain is broken; nothing was re-sealed: {broken[:3]}")
    count, prev = 0, GENESIS
    legacy_head = ""
    for entry in iter_entries(session):
        if not entry.keyed:
            legacy_head = entry.hash
        entry.prev_hash, entry.keyed = prev, True
        entry.hash = entry_hash(entry, key)
        prev = entry.hash
        count += 1
    head = session.get(AuditHead, 1)
    if head is not None:
        head.hash = prev
    session.flush()
    record(session, actor, "audit.adopt", detail={"entries": count, "legacy_head": legacy_head})
    return count


class AuditBroken(Error):
    """The audit chain does not verify."""


def take_checkpoint(session: Session, *, path: Path) -> audit_checkpoints.Checkpoint | None:
    """Sign the chain's head and append it to ``path`` (outside the database) and the log."""
    return audit_checkpoints.take(session, key=checkpoint_key(session_key(session)), path=path)


def select_entries(
    *,
    after: int = 0,
    before: int = 0,
    order: str = "asc",
    limit: int = 100,
    action: str | None = None,
    actor: str | None = None,
    target: str | None = None,
    environment: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> Select[AuditEntry]:
    """A page of entries matching every filter given, keyset-paged by sequence number (pass
    a page's last ``seq`` as ``after`` in asc order, ``before`` in desc order). Each equality
    filter has an index ending in ``seq``, so a page costs the same however deep it is."""
    q = select(AuditEntry).where(AuditEntry.seq > after)
    if before:
        q = q.where(AuditEntry.seq < before)
    if action:
        q = q.where(AuditEntry.action == action)
    if actor:
        q = q.where(AuditEntry.actor == actor)
    if target:
        q = q.where(AuditEntry.target.startswith(target, autoescape=True))
    if environment:
        q = q.where(AuditEntry.environment == environment)
    if since is not None:
        q = q.where(AuditEntry.at >= since)
    if until is not None:
        q = q.where(AuditEntry.at < until)
    seq = AuditEntry.seq.desc() if order == "desc" else AuditEntry.seq
    return q.order_by(seq).limit(limit)


def read_page(session: Session, query: Select[AuditEntry]) -> list[AuditEntry]:
    """The entries of a ``select_entries`` page, planned for the values asked for.

    On PostgreSQL the plan is made for this call's values (a custom plan). psycopg prepares a
    statement once it has run five times, and PostgreSQL may then reuse a generic plan, blind
    to the values: for a one-day range below a cursor it walked the primary key backwards
    from the cursor, filtering on the time (0.07–0.35 s at 1,000,000 entries, and a whole-log
    scan when the range holds nothing) where the time index reads the day's ~900 rows in
    about a millisecond. Audit filters are skewed (the server itself writes a third of the
    entries, a user a thousandth), exactly the case a generic plan gets wrong. The setting is
    local to this transaction."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    return list(session.execute(query).scalars())


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
        "environment": entry.environment,
    }


def export_lines(session: Session) -> Iterator[str]:
    """The whole chain as JSON lines (one entry per line, newline-terminated)."""
    for entry in iter_entries(session):
        yield json.dumps(to_dict(entry), sort_keys=True) + "\n"
