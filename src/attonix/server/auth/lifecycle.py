"""Credential lifecycle: what ends, and what is restricted, when an account's state changes.

- a password change ends the account's other sessions (the current one optionally too);
- an administrator's password reset or a disable ends every session and revokes every API
  token, so re-enabling the account revives nothing;
- when a role that requires MFA reaches someone (a binding, a group, a promotion, a stricter
  policy), every live session that did not prove a second factor is restricted to enrolling
  or signing in again; API tokens minted by such sessions stop working (see
  ``sessions._api_token_principal``) until the owner creates new ones after proving it;
- sensitive self-service actions are throttled per account and need a recent sign-in or the
  current password (``reauthenticate``).
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from attonix.server.auth import throttle
from attonix.server.auth.roles import mfa_required
from attonix.server.context import ServerContext
from attonix.server.db.models import ApiToken, AuthSession, User, utcnow
from attonix.server.errors import Forbidden, Unauthorized
from attonix.server.security import passwords


def revoke_sessions(s: Session, user_id: int, reason: str, *, keep: str | None = None) -> int:
    """End every live session of ``user_id`` (but ``keep``); return how many ended."""
    q = update(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
    if keep is not None:
        q = q.where(AuthSession.id != keep)
    res = s.execute(q.values(revoked_at=utcnow(), revoked_reason=reason[:64]))
    return int(getattr(res, "rowcount", 0) or 0)


def revoke_api_tokens(s: Session, user_id: int) -> int:
    """Revoke every live API token of ``user_id``; return how many."""
    res = s.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return int(getattr(res, "rowcount", 0) or 0)


def end_all_credentials(s: Session, user: User, reason: str) -> dict[str, int]:
    """End every session and revoke every API token of ``user`` (reset, disable)."""
    return {
        "sessions": revoke_sessions(s, user.id, reason),
        "api_tokens": revoke_api_tokens(s, user.id),
    }


def disable_account(s: Session, user: User, *, reason: str) -> dict[str, int]:
    """Disable ``user`` and end all of its credentials."""
    user.disabled = True
    user.updated_at = utcnow()
    return end_all_credentials(s, user, reason)


def restrict_until_mfa(s: Session, *, user_ids: list[int] | None) -> int:
    """Restrict the live sessions without a proven second factor of the users (every user for
    ``None``) whose roles now require MFA; return how many sessions were restricted."""
    s.flush()
    q = (
        select(User)
        .join(AuthSession, AuthSession.user_id == User.id)
        .where(
            AuthSession.revoked_at.is_(None),
            AuthSession.mfa_verified.is_(False),
            AuthSession.mfa_enrol_required.is_(False),
        )
        .distinct()
    )
    if user_ids is not None:
        q = q.where(User.id.in_(user_ids))
    count = 0
    for user in list(s.execute(q).scalars()):
        if mfa_required(s, user):
            res = s.execute(
                update(AuthSession)
                .where(
                    AuthSession.user_id == user.id,
                    AuthSession.revoked_at.is_(None),
                    AuthSession.mfa_verified.is_(False),
                )
                .values(mfa_enrol_required=True)
            )
            count += int(getattr(res, "rowcount", 0) or 0)
    return count


def reauthenticate(
    ctx: ServerContext, *, user_id: int, session_id: str | None, action: str, password: str | None
) -> None:
    """Gate a sensitive self-service action: throttled per account, and allowed only from a
    sign-in younger than ``reauth_seconds`` or with the current password given again."""
    throttle.check_sensitive(ctx.db, ctx.settings, user_id, action)
    if session_id is None:
        raise Forbidden("Only a signed-in person can do this, not an API token.")
    with ctx.db.session() as s:
        sess = s.get(AuthSession, session_id)
        user = s.get(User, user_id)
        if sess is None or user is None:
            raise Unauthorized("The session does not exist; sign in again.")
        if password is not None:
            if user.password_hash is None or not passwords.verify_password(
                user.password_hash, password
            ):
                raise Unauthorized(
                    "The current password is wrong.", hint="Or sign in again, then retry."
                )
            return
        age = (utcnow() - sess.created_at).total_seconds()
        if age > ctx.settings.reauth_seconds:
            raise Unauthorized(
                "This needs a recent sign-in.",
                hint="Give current_password, or sign in again and retry within "
                f"{ctx.settings.reauth_seconds // 60} minutes.",
            )
