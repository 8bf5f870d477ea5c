"""Login throttling per source address, kept in the database so every replica shares it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from attonix.server.db.engine import Database
from attonix.server.db.models import Throttle, User, utcnow
from attonix.server.errors import TooManyRequests
from attonix.server.settings import Settings


def check_ip(db: Database, settings: Settings, source_ip: str) -> None:
    """Count one login attempt from ``source_ip``; raise 429 when over the window's limit.

    Counted in its own short transaction, before any password work, so a storm of logins
    costs the server one row update each and is turned away before the expensive hash.
    """
    key = f"login-ip:{source_ip}"[:128]
    try:
        _count(db, settings, key)
    except IntegrityError:
        # Two first attempts raced to insert the row; the second now finds it.
        _count(db, settings, key)


def _count(db: Database, settings: Settings, key: str) -> None:
    now = utcnow()
    window = dt.timedelta(seconds=settings.login_ip_window_seconds)
    with db.session() as s:
        row = s.execute(select(Throttle).where(Throttle.key == key).with_for_update()).scalar()
        if row is None:
            s.add(Throttle(key=key, window_start=now, count=1))
            return
        if now - row.window_start >= window:
            row.window_start, row.count = now, 1
            return
        row.count += 1
        if row.count > settings.login_ip_max_attempts:
            retry = int((row.window_start + window - now).total_seconds()) + 1
            raise TooManyRequests(
                "Too many sign-in attempts from this address.",
                retry_after=retry,
                hint=f"Wait {retry} seconds before trying again.",
            )


def account_locked_for(user: User, now: dt.datetime) -> int:
    """Seconds until ``user``'s lockout ends (0 when not locked)."""
    if user.locked_until is None or user.locked_until <= now:
        return 0
    return int((user.locked_until - now).total_seconds()) + 1


def register_failure(user: User, settings: Settings, now: dt.datetime) -> bool:
    """Count a failed password for ``user``; return True when this failure locks the account."""
    user.failed_logins += 1
    if user.failed_logins >= settings.login_max_failures:
        user.locked_until = now + dt.timedelta(seconds=settings.login_lockout_seconds)
        user.failed_logins = 0
        return True
    return False


def prune(session: Session, settings: Settings) -> int:
    """Delete throttle rows whose window ended (a periodic job keeps the table small)."""
    cutoff = utcnow() - dt.timedelta(seconds=settings.login_ip_window_seconds)
    result = session.execute(delete(Throttle).where(Throttle.window_start < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
