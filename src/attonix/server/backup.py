"""Backup and restore: one encrypted, checksummed archive of the whole server state.

The archive (``security.archive``: passphrase-derived key, authenticated encryption) holds
every table as JSON rows, including the vault's sealed secrets with their wrapped data keys
and the audit chain with its hashes, plus the SHA-256 of that JSON. Restoring into an empty
database of any engine gives back the same rows, so the audit chain verifies there too; the
vault's values open only with the same key-encryption keys. The archive is written 0600.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import LargeBinary, delete, func, select, text
from sqlalchemy.sql.schema import Table

from attonix.server import audit
from attonix.server.context import ServerContext
from attonix.server.db import migrate
from attonix.server.db.models import AuditHead, Base, UTCDateTime
from attonix.server.errors import BadRequest, Conflict
from attonix.server.security.archive import open_archive, seal_archive

FORMAT = "attonix-backup/1"


def _is_blob(col: Any) -> bool:
    return isinstance(col.type, LargeBinary) or "BLOB" in type(col.type).__name__.upper()


def _encode(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for col in table.columns:
        value = row[col.name]
        if value is not None and isinstance(col.type, UTCDateTime):
            value = value.astimezone(dt.UTC).isoformat()
        elif value is not None and _is_blob(col):
            value = base64.b64encode(value).decode()
        out[col.name] = value
    return out


def _decode(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for col in table.columns:
        value = row.get(col.name)
        if value is not None and isinstance(col.type, UTCDateTime):
            value = dt.datetime.fromisoformat(value)
        elif value is not None and _is_blob(col):
            value = base64.b64decode(value)
        out[col.name] = value
    return out


def dump(ctx: ServerContext) -> dict[str, Any]:
    """Every table's rows as JSON data, in one consistent read."""
    tables: dict[str, list[dict[str, Any]]] = {}
    with ctx.db.session() as s:
        for table in Base.metadata.sorted_tables:
            pk = list(table.primary_key.columns)
            rows = s.execute(select(table).order_by(*pk)).mappings()
            tables[table.name] = [_encode(table, dict(r)) for r in rows]
    return {
        "format": FORMAT,
        "revision": migrate.head_revision(),
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "tables": tables,
    }


def backup(ctx: ServerContext, *, output: Path, passphrase: str) -> str:
    """Write the encrypted archive to ``output``; return a one-line summary."""
    data = dump(ctx)
    body = json.dumps(data, sort_keys=True).encode()
    envelope = json.dumps({"sha256": hashlib.sha256(body).hexdigest(), "data": data}).encode()
    _write_private(output, seal_archive(envelope, passphrase=passphrase))
    counts = {k: len(v) for k, v in data["tables"].items() if v}
    return f"{sum(counts.values())} rows in {len(counts)} tables"


def _write_private(path: Path, data: bytes) -> None:
    """Write ``path`` readable by its owner only (0600), atomically: a temporary file created
    0600 beside it, then renamed over it, so no reader ever sees a wider or partial file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load(archive: Path, *, passphrase: str) -> dict[str, Any]:
    """Decrypt and check an archive; return its data."""
    envelope = json.loads(open_archive(archive.read_bytes(), passphrase=passphrase))
    data: dict[str, Any] = envelope["data"]
    body = json.dumps(data, sort_keys=True).encode()
    if hashlib.sha256(body).hexdigest() != envelope.get("sha256"):
        raise BadRequest("The archive's checksum does not match its content.")
    if data.get("format") != FORMAT:
        raise BadRequest(f"Unknown archive format {data.get('format')!r}.")
    return data


def restore(ctx: ServerContext, *, archive: Path, passphrase: str) -> str:
    """Load an archive into this (empty, current) database; verify the audit chain after."""
    data = load(archive, passphrase=passphrase)
    if data["revision"] != migrate.head_revision():
        raise BadRequest(
            f"The archive is at schema {data['revision']}, this server at "
            f"{migrate.head_revision()}.",
            hint="Restore with the Attonix version that wrote it, then upgrade.",
        )
    with ctx.db.session() as s:
        for table in Base.metadata.sorted_tables:
            if table.name == AuditHead.__tablename__:
                continue
            if s.execute(select(func.count()).select_from(table)).scalar():
                raise Conflict(
                    f"The database is not empty (table {table.name} has rows).",
                    hint="Restore into a freshly migrated, empty database.",
                )
        s.execute(delete(AuditHead))
        total = 0
        for table in Base.metadata.sorted_tables:
            rows = [_decode(table, r) for r in data["tables"].get(table.name, [])]
            if rows:
                s.execute(table.insert(), rows)
                total += len(rows)
        if ctx.db.dialect == "postgresql":
            _reset_sequences(s)
    with ctx.db.session() as s:
        result = audit.verify(s)
    if not result.ok:
        raise Conflict(f"Restored, but the audit chain does not verify: {result.problems[:3]}")
    return f"{total} rows; audit chain intact ({result.checked} entries)"


def _reset_sequences(s: Any) -> None:
    # Explicit ids were inserted; move each serial sequence past them (names come from our
    # own metadata, never from input).
    for table in Base.metadata.sorted_tables:
        cols = list(table.primary_key.columns)
        if len(cols) != 1 or cols[0].autoincrement is False or cols[0].type.python_type is not int:
            continue
        name, col = table.name, cols[0].name
        s.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{name}', '{col}'), "  # noqa: S608
                f"COALESCE((SELECT MAX({col}) FROM {name}), 0) + 1, false)"
            )
        )
