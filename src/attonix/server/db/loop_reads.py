"""Reads on the event loop, for the hottest path on PostgreSQL.

Every authenticated request reads its session, user and role bindings, and the most frequent
endpoint then reads one row. Through the synchronous engine each of those reads costs a hop to
a worker thread and back, a pool checkout with its events, and SQLAlchemy's execution and
result machinery — together more CPU than the statement itself. Here the same statements
(compiled once by SQLAlchemy) run on psycopg's asynchronous connections, in autocommit mode,
straight from the event loop.

One ``LoopReads`` belongs to one running app: opened by its lifespan on the loop that serves
it, closed at shutdown. Other engines (SQLite, MariaDB) and apps driven without a lifespan
keep the synchronous path, which gives the same answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from typing import Any

import psycopg
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.sql import Select

from attonix.server.db import engine as engine_mod

_DIALECT = make_url("postgresql+psycopg://").get_dialect()()


class Compiled:
    """A statement compiled once for psycopg, with its constant parameters."""

    def __init__(self, statement: Select[Any]) -> None:
        """Compile ``statement`` for PostgreSQL (named ``%(name)s`` placeholders)."""
        compiled = statement.compile(dialect=_DIALECT)
        self.sql = str(compiled)
        self.constants = {k: v for k, v in compiled.params.items() if v is not None}

    def params(self, **values: Any) -> dict[str, Any]:
        """The constants plus ``values``."""
        return {**self.constants, **values}


def _discard(conn: psycopg.AsyncConnection[Any]) -> None:
    """Close a connection without awaiting (it may be broken, or the task cancelled)."""
    with contextlib.suppress(Exception):
        conn.pgconn.finish()


class LoopReads:
    """At most ``size`` autocommit connections of this process, used from one event loop.

    A connection that sat idle longer than ``IDLE_PING_SECONDS`` is pinged before use and
    replaced if the server dropped it; one whose statement fails or is cancelled is dropped.
    """

    def __init__(self, conninfo: str, size: int) -> None:
        """Nothing is connected until the first read."""
        self._conninfo = conninfo
        self._idle: list[tuple[psycopg.AsyncConnection[Any], float]] = []
        self._slots = asyncio.Semaphore(size)
        self.loop = asyncio.get_running_loop()

    @classmethod
    def for_engine(cls, engine: Engine, size: int) -> LoopReads | None:
        """Reads for ``engine`` when it is PostgreSQL through psycopg, else ``None``."""
        url = engine.url
        if url.get_backend_name() != "postgresql" or url.get_driver_name() != "psycopg":
            return None
        # The dialect's own connect arguments, so that a multi-host URL (``host=a,b&port=p,q``
        # with ``target_session_attrs=read-write``) reaches the same primary as the engine.
        _, kwargs = engine.dialect.create_connect_args(url)
        kwargs.pop("context", None)
        conninfo = psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in kwargs.items()})
        return cls(conninfo, size)

    async def fetch(self, statement: Compiled, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every row of ``statement`` with ``params``, as tuples in its column order."""
        async with self._slots:
            conn = await self._checkout()
            try:
                cur = await conn.execute(statement.sql, params)
                rows = await cur.fetchall()
            except BaseException:
                _discard(conn)
                raise
            self._idle.append((conn, time.monotonic()))
            return rows

    async def _checkout(self) -> psycopg.AsyncConnection[Any]:
        while self._idle:
            conn, since = self._idle.pop()
            if time.monotonic() - since < engine_mod.IDLE_PING_SECONDS:
                return conn
            try:
                await conn.execute("SELECT 1")
            except psycopg.Error:
                _discard(conn)
                continue
            return conn
        return await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)

    async def close(self) -> None:
        """Close every idle connection (at shutdown)."""
        idle, self._idle = self._idle, []
        for conn, _ in idle:
            await conn.close()
