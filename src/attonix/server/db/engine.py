"""Engines and sessions: one ``Database`` per process, built from the settings (never at import)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker


@dataclass
class Database:
    """An engine, its session factory, and what the engine can do."""

    engine: Engine
    sessions: sessionmaker[Session]

    @property
    def dialect(self) -> str:
        """``sqlite``, ``postgresql`` or ``mysql`` (MariaDB reports ``mysql`` or ``mariadb``)."""
        name = self.engine.dialect.name
        return "mysql" if name == "mariadb" else name

    @property
    def skip_locked(self) -> bool:
        """Whether ``SELECT … FOR UPDATE SKIP LOCKED`` is available (PostgreSQL, MariaDB ≥ 10.6)."""
        if self.dialect == "postgresql":
            return True
        if self.dialect == "mysql":
            info = getattr(self.engine.dialect, "server_version_info", None) or (0,)
            is_maria = bool(getattr(self.engine.dialect, "_is_mariadb", False))
            return (tuple(info) >= (10, 6)) if is_maria else (tuple(info) >= (8, 0))
        return False

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        with self.sessions() as s, s.begin():
            yield s

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in autocommit mode for a single read (no BEGIN/COMMIT round trips)."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            yield conn

    def ping(self) -> None:
        """Raise if the database cannot be reached."""
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def make_database(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> Database:
    """Create the engine for ``url`` with the settings each engine needs to behave."""
    parsed = make_url(url)
    # No pool_pre_ping: it costs a round trip on every checkout, i.e. on every request. A
    # connection that sat idle is pinged instead (see _ping_idle); one that dies while busy
    # fails its statement, and SQLAlchemy then invalidates the whole pool.
    kwargs: dict[str, Any] = {"future": True}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
    else:
        kwargs.update(pool_size=pool_size, max_overflow=max_overflow, pool_recycle=1800)
        if parsed.get_backend_name() == "mysql":
            # REPEATABLE READ (MariaDB's default) hides rows committed by others inside a
            # worker's polling transaction; READ COMMITTED matches PostgreSQL's behaviour.
            kwargs["isolation_level"] = "READ COMMITTED"
            kwargs["connect_args"] = {"charset": "utf8mb4"}
    engine = create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        _sqlite_tuning(engine)
    else:
        _ping_idle(engine)
    return Database(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))


#: A pooled connection idle for longer than this is pinged before use.
IDLE_PING_SECONDS = 5.0


def _ping_idle(engine: Engine) -> None:
    """Ping a pooled connection before use only if it sat idle (SQLAlchemy's custom
    pessimistic disconnect handling): a server restart or an idle timeout is noticed before
    a request fails, while a busy server pays no extra round trip per request."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
            return
        try:
            cur = dbapi_conn.cursor()
            try:
                cur.execute("SELECT 1")
                cur.fetchall()
            finally:
                cur.close()
            dbapi_conn.rollback()  # end the transaction the ping may have opened
        except Exception as exc:
            # The pool discards this connection and checks out another (up to 3 times).
            raise DisconnectionError(f"stale pooled connection: {type(exc).__name__}") from exc


def _sqlite_tuning(engine: Engine) -> None:
    """WAL, foreign keys, and BEGIN IMMEDIATE.

    SQLite has no row locks: a deferred transaction that reads then writes fails with
    "database is locked" when another writer got in between. Taking the write lock at BEGIN
    serialises writers instead (readers still proceed under WAL) — this is the documented
    fallback for job claiming and audit appends on the embedded database.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let us issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return  # single reads (Database.read) take no lock
        conn.exec_driver_sql("BEGIN IMMEDIATE")
