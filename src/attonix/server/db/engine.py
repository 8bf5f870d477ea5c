"""Engines and sessions: one ``Database`` per process, built from the settings (never at import)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
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
    kwargs: dict[str, Any] = {"pool_pre_ping": True, "future": True}
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
    return Database(engine=engine, sessions=sessionmaker(engine, expire_on_commit=False))


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
