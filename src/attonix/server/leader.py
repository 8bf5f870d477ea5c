"""Leader election among workers: duties that must run in one place at a time.

Scheduling periodic jobs and requeueing the jobs of dead workers run only in the worker that
holds the leader lock. On PostgreSQL that is a session advisory lock held on a connection of
its own (named ``attonix-leader <worker>`` in ``pg_stat_activity``): when the holder dies, even
by ``kill -9``, its connection closes and the server drops the lock at once, so the next worker
to poll (every ``worker_poll_seconds``) takes over. MariaDB's ``GET_LOCK`` behaves the same.
SQLite serves one process, which always leads.

Losing the database (a failover) loses the lock with the connection: the leader notices on its
next check and every worker competes again on the new primary.
"""

from __future__ import annotations

import contextlib
import logging

from sqlalchemy import Connection, text

from attonix.server.db.engine import Database

log = logging.getLogger("attonix.server.leader")

#: The advisory lock key (PostgreSQL, a bigint) and lock name (MariaDB).
LOCK_KEY = 0x4154_584C_4541_4452  # "ATXLEADR"
LOCK_NAME = "attonix-leader"
APPLICATION_NAME = "attonix-leader"


class Leadership:
    """Whether this worker leads; call :meth:`check` before each leader-only duty."""

    def __init__(self, db: Database, worker: str) -> None:
        """Not leading until the first :meth:`check`."""
        self._db = db
        self._worker = worker
        self._conn: Connection | None = None

    @property
    def leading(self) -> bool:
        """Whether the lock was held at the last check."""
        return self._conn is not None or self._db.dialect == "sqlite"

    def check(self) -> bool:
        """Keep the lock (verifying its connection still lives) or try to take it."""
        if self._db.dialect == "sqlite":
            return True
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except Exception:
                log.warning("leader lock lost with its connection", extra={"worker": self._worker})
                self._drop()
        try:
            conn = self._db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except Exception:
            return False
        try:
            if self._db.dialect == "postgresql":
                got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY})
            else:
                got = conn.execute(text("SELECT GET_LOCK(:n, 0)"), {"n": LOCK_NAME})
            if got.scalar():
                if self._db.dialect == "postgresql":
                    # Named only once it leads (this connection never goes back to the pool).
                    conn.execute(
                        text("SELECT set_config('application_name', :n, false)"),
                        {"n": f"{APPLICATION_NAME} {self._worker}"[:63]},
                    )
                self._conn = conn
                log.warning("leading", extra={"worker": self._worker})
                return True
        except Exception:
            log.warning("leader lock attempt failed", extra={"worker": self._worker})
        with contextlib.suppress(Exception):
            conn.close()
        return False

    def release(self) -> None:
        """Give up the lock (a graceful stop): another worker leads at its next poll."""
        conn = self._conn
        if conn is not None and self._db.dialect != "sqlite":
            # Unlocked explicitly: the server ends a closed session asynchronously.
            with contextlib.suppress(Exception):
                if self._db.dialect == "postgresql":
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
                else:
                    conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": LOCK_NAME})
        self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        # Closing the connection ends the session, which releases a session-level lock; the
        # pool must not keep it (the lock would stay with the pooled session).
        with contextlib.suppress(Exception):
            conn.invalidate()
        with contextlib.suppress(Exception):
            conn.close()
