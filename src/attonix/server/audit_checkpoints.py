"""Signed checkpoints of the audit chain, kept outside the database.

A checkpoint is the chain's head — sequence number and MAC — with its time, signed with a key
derived from the audit key (which lives beside the vault's key-encryption keys, never in the
database). Checkpoints are appended to a file outside the database (``audit_checkpoint_file``,
0600, append-only by the server) and logged on the ``attonix.audit.checkpoint`` logger, so a
log shipper can carry them off the host. ``audit verify`` checks every checkpoint: its
signature, that the entry it names still carries the same MAC (edit and re-seal), and that the
chain still reaches it (truncation).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from attonix.server.db.models import AuditEntry, AuditHead

log = logging.getLogger("attonix.audit.checkpoint")


@dataclass(frozen=True)
class Checkpoint:
    """The chain's head at one moment, signed."""

    seq: int
    hash: str
    at: str
    mac: str


def _signature(key: bytes, seq: int, head: str, at: str) -> str:
    return hmac.new(key, f"checkpoint:{seq}:{head}:{at}".encode(), hashlib.sha256).hexdigest()


def take(session: Session, *, key: bytes, path: Path) -> Checkpoint | None:
    """Sign the current head and append it to ``path`` (and the log); None for an empty chain."""
    head = session.get(AuditHead, 1)
    if head is None or head.seq == 0:
        return None
    at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    cp = Checkpoint(
        seq=head.seq, hash=head.hash, at=at, mac=_signature(key, head.seq, head.hash, at)
    )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(asdict(cp), sort_keys=True) + "\n")
    log.info("audit checkpoint", extra={"checkpoint": asdict(cp)})
    return cp


def read(path: Path) -> tuple[list[Checkpoint], list[dict[str, Any]]]:
    """The checkpoints in ``path`` and a problem per unreadable line (none when it is absent)."""
    if not path.exists():
        return [], []
    found: list[Checkpoint] = []
    problems: list[dict[str, Any]] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            found.append(
                Checkpoint(
                    seq=int(raw["seq"]),
                    hash=str(raw["hash"]),
                    at=str(raw["at"]),
                    mac=str(raw["mac"]),
                )
            )
        except (ValueError, KeyError, TypeError):
            problems.append({"seq": 0, "problem": f"checkpoint line {n} of {path} is not readable"})
    return found, problems


def check(session: Session, checkpoints: list[Checkpoint], *, key: bytes) -> list[dict[str, Any]]:
    """Problems between the chain and ``checkpoints`` (forged, re-sealed, truncated)."""
    problems: list[dict[str, Any]] = []
    head = session.get(AuditHead, 1)
    last = head.seq if head is not None else 0
    wanted = {cp.seq for cp in checkpoints}
    stored = (
        dict(
            session.execute(
                select(AuditEntry.seq, AuditEntry.hash).where(AuditEntry.seq.in_(wanted))
            ).all()
        )
        if wanted
        else {}
    )
    for cp in checkpoints:
        if not hmac.compare_digest(cp.mac, _signature(key, cp.seq, cp.hash, cp.at)):
            problems.append(
                {"seq": cp.seq, "problem": f"the checkpoint of {cp.at} has a bad signature"}
            )
        elif cp.seq > last:
            problems.append(
                {
                    "seq": cp.seq,
                    "problem": f"the chain was cut: the checkpoint of {cp.at} saw entry {cp.seq}, "
                    f"the chain now ends at {last}",
                }
            )
        elif cp.seq not in stored:
            problems.append(
                {
                    "seq": cp.seq,
                    "problem": f"entry {cp.seq}, seen by the checkpoint of {cp.at}, is gone",
                }
            )
        elif not hmac.compare_digest(stored[cp.seq], cp.hash):
            problems.append(
                {
                    "seq": cp.seq,
                    "problem": f"entry {cp.seq} differs from the checkpoint of {cp.at} "
                    "(the chain was edited and re-sealed)",
                }
            )
    return problems
