"""A consumer's replica under a credential rotation: a bounded loop of writes that reconnects
whenever the login it should use changes, as a connection pool recycling its connections
between queries would. Subclasses say where the login comes from, how to connect and what
one write is."""

from __future__ import annotations

import threading
import time
from typing import Any


class WriteLoop(threading.Thread):
    """Counts the writes that succeeded (``ok``), the errors of those that failed
    (``failures``) and the logins it used, in order (``users``)."""

    #: The database client's errors: a write that raises one is a lost query.
    errors: tuple[type[Exception], ...] = ()
    #: Bounded even if the test never sets ``stop``.
    seconds = 60.0
    #: Pause between writes.
    interval = 0.005

    def __init__(self, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.stop = stop
        self.ok = 0
        self.failures: list[str] = []
        self.users: list[str] = []

    def login(self, last: dict[str, str] | None) -> dict[str, str] | None:
        """The login to use now (``None``: none known yet; wait)."""
        raise NotImplementedError

    def connect(self, login: dict[str, str]) -> Any:
        raise NotImplementedError

    def write(self, conn: Any) -> None:
        raise NotImplementedError

    def run(self) -> None:
        conn: Any = None
        login: dict[str, str] | None = None
        deadline = time.monotonic() + self.seconds
        try:
            while not self.stop.is_set() and time.monotonic() < deadline:
                now = self.login(login)
                if now is None:
                    time.sleep(0.05)
                    continue
                if login is None or now["username"] != login["username"]:
                    if conn is not None:
                        conn.close()  # the pool retires the old connection between queries
                    conn = self.connect(now)
                    login = now
                    self.users.append(now["username"])
                try:
                    self.write(conn)
                    self.ok += 1
                except self.errors as exc:
                    self.failures.append(str(exc))
                time.sleep(self.interval)
        finally:
            if conn is not None:
                conn.close()
