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
    count_attempt(
        db,
        settings,
        f"login-ip:{source_ip}",
        limit=settings.login_ip_max_attempts,
        message="Too many sign-in attempts from this address.",
    )


def check_sensitive(db: Database, settings: Settings, user_id: int, action: str) -> None:
    """Count one attempt at a sensitive self-service action (password change, API token,
    MFA enrolment) by ``user_id``; raise 429 beyond ``sensitive_max_attempts`` per window."""
    count_attempt(
        db,
        settings,
        f"self:{user_id}:{action}",
        limit=settings.sensitive_max_attempts,
        message="Too many attempts at this action; it is paused for a while.",
    )


def count_attempt(db: Database, settings: Settings, key: str, *, limit: int, message: str) -> None:
    """Count one attempt under ``key`` in its own transaction; raise 429 beyond ``limit``."""
    key = key[:128]
    try:
        _count(db, settings, key, limit, message)
    except IntegrityError:
        # Two first attempts raced to insert the row; the second now finds it.
        _count(db, settings, key, limit, message)


def _count(db: Database, settings: Settings, key: str, limit: int, message: str) -> None:
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
        if row.count > limit:
            retry = int((row.window_start + window - now).total_seconds()) + 1
            raise TooManyRequests(
                message,
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
