"""Telling a lost race from a fault: lock conflicts and unique-key races, by driver error code.

A deadlock, a serialisation failure or a lock wait timeout means another transaction won a
race; the right answer is to retry (or a 409), never a 500. Codes, not message text: PostgreSQL
SQLSTATE 40P01/40001/55P03, MySQL/MariaDB 1213/1205, SQLite SQLITE_BUSY/SQLITE_LOCKED.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError

T = TypeVar("T")

_PG_STATES = frozenset({"40P01", "40001", "55P03"})
_MYSQL_CODES = frozenset({1213, 1205})
_SQLITE_CODES = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED


def is_lock_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` is a database error saying a concurrent transaction won a lock race."""
    if not isinstance(exc, DBAPIError) or exc.orig is None:
        return False
    orig = exc.orig
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if state in _PG_STATES:
        return True
    if getattr(orig, "sqlite_errorcode", None) in _SQLITE_CODES:
        return True
    args: tuple[object, ...] = tuple(getattr(orig, "args", ()))
    return bool(args) and isinstance(args[0], int) and args[0] in _MYSQL_CODES


def retrying(fn: Callable[[], T], *, attempts: int = 5) -> T:
    """Run ``fn`` (one whole transaction) again when it lost a race: a lock conflict, or a
    unique-key insert that another transaction committed first (``fn`` then finds its row)."""
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except (IntegrityError, DBAPIError) as exc:
            if attempt == attempts or not (
                isinstance(exc, IntegrityError) or is_lock_conflict(exc)
            ):
                raise
    raise AssertionError("unreachable")  # pragma: no cover
