"""Sign-in, second factor, refresh-token rotation, sign-out, and resolving a request's caller.

A *session* is one sign-in and the family of its refresh tokens. Access tokens name their
session, and every request checks that the session is still live, so "sign out everywhere"
takes effect immediately. Presenting a refresh token that was already rotated revokes the
whole family (it was stolen or replayed).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, bindparam, or_, select, true, update
from sqlalchemy.orm import Session

from attonix.server import audit
from attonix.server.audit import Actor
from attonix.server.auth import mfa, throttle
from attonix.server.auth.rbac import Principal
from attonix.server.auth.roles import mfa_required, roles_of
from attonix.server.context import ServerContext
from attonix.server.db.loop_reads import Compiled, LoopReads
from attonix.server.db.models import (
    ApiToken,
    AuthSession,
    Group,
    GroupMember,
    MfaChallenge,
    RefreshToken,
    RoleBinding,
    User,
    utcnow,
)
from attonix.server.errors import TooManyRequests, Unauthorized
from attonix.server.security import passwords, totp
from attonix.server.security.errors import InvalidToken
from attonix.server.security.tokens import AccessClaims, hash_token, new_opaque_token

API_TOKEN_PREFIX = "atx"  # noqa: S105  a public prefix, not a secret
REFRESH_PREFIX = "atxr"
MFA_PREFIX = "atxm"
_BAD_CREDENTIALS = "Invalid user name or password."


@dataclass(frozen=True)
class TokenPair:
    """What a completed sign-in returns."""

    access_token: str
    refresh_token: str
    expires_in: int
    session_id: str
    restricted: str = ""


@dataclass(frozen=True)
class MfaPending:
    """A correct password for an account with MFA: the code must follow with this token."""

    mfa_token: str


def restriction(*, must_change: bool, enrol: bool, verified: bool, mfa_on: bool) -> str:
    """What a session must do first: change the password, enrol MFA, or sign in again with
    the second factor (MFA became required after it started without one); "" when nothing."""
    if must_change:
        return "password_change"
    if enrol and not verified:
        return "mfa_reauthentication" if mfa_on else "mfa_enrollment"
    return ""


def _restriction(user: User, sess: AuthSession) -> str:
    return restriction(
        must_change=user.must_change_password,
        enrol=sess.mfa_enrol_required,
        verified=sess.mfa_verified,
        mfa_on=user.mfa_enabled,
    )


def start_session(
    ctx: ServerContext,
    s: Session,
    user: User,
    actor: Actor,
    *,
    user_agent: str,
    second_factor: bool = False,
) -> TokenPair:
    """Open a session for ``user`` in the caller's transaction and issue its tokens.

    ``second_factor`` says an identity provider already checked one (its ``amr`` claim), so
    a role that requires MFA does not force a local enrolment.
    """
    now = utcnow()
    sess = AuthSession(
        id=str(uuid.uuid4()),
        user_id=user.id,
        created_at=now,
        expires_at=now + dt.timedelta(seconds=ctx.settings.refresh_ttl_seconds),
        source_ip=actor.source_ip[:64],
        user_agent=user_agent[:255],
        mfa_enrol_required=(not user.mfa_enabled) and not second_factor and mfa_required(s, user),
        mfa_verified=second_factor,
    )
    s.add(sess)
    s.flush()
    return _issue(ctx, s, user, sess)


_start_session = start_session


def _issue(ctx: ServerContext, s: Session, user: User, sess: AuthSession) -> TokenPair:
    refresh, digest = new_opaque_token(REFRESH_PREFIX)
    s.add(RefreshToken(session_id=sess.id, token_hash=digest))
    access = ctx.signer.issue_access(str(user.id), session_id=sess.id)
    return TokenPair(
        access_token=access,
        refresh_token=refresh,
        expires_in=ctx.settings.access_ttl_seconds,
        session_id=sess.id,
        restricted=_restriction(user, sess),
    )


def login(
    ctx: ServerContext, *, username: str, password: str, actor: Actor, user_agent: str = ""
) -> TokenPair | MfaPending:
    """Check a password; return tokens, or an MFA challenge; raise 401/429 otherwise.

    Failures are audited and committed before the error is raised.
    """
    throttle.check_ip(ctx.db, ctx.settings, actor.source_ip or "unknown")
    error: Unauthorized | TooManyRequests | None = None
    result: TokenPair | MfaPending | None = None
    who = Actor(name=username[:64], source_ip=actor.source_ip)
    with ctx.db.session() as s:
        now = utcnow()
        user = s.execute(select(User).where(User.name == username)).scalar_one_or_none()
        if user is None or user.disabled or user.password_hash is None:
            passwords.verify_dummy(password)
            audit.record(s, who, "auth.login", outcome="failure", detail={"reason": "unknown"})
            error = Unauthorized(_BAD_CREDENTIALS)
        elif wait := throttle.account_locked_for(user, now):
            audit.record(s, who, "auth.login", outcome="failure", detail={"reason": "locked"})
            error = TooManyRequests(
                "This account is temporarily locked after repeated failed sign-ins.",
                retry_after=wait,
                hint=f"Wait {wait} seconds, or ask an administrator to unlock it.",
            )
        elif not passwords.verify_password(user.password_hash, password):
            locked = throttle.register_failure(user, ctx.settings, now)
            audit.record(
                s,
                who,
                "auth.login",
                outcome="failure",
                detail={"reason": "password", "locked": locked},
            )
            error = Unauthorized(_BAD_CREDENTIALS)
        else:
            user.failed_logins, user.locked_until = 0, None
            if passwords.needs_rehash(user.password_hash):
                user.password_hash = passwords.hash_password(password)
            if user.mfa_enabled:
                token, digest = new_opaque_token(MFA_PREFIX)
                s.add(
                    MfaChallenge(
                        token_hash=digest,
                        user_id=user.id,
                        expires_at=now + dt.timedelta(seconds=ctx.settings.mfa_challenge_seconds),
                    )
                )
                audit.record(s, who, "auth.password_ok", detail={"mfa": True})
                result = MfaPending(mfa_token=token)
            else:
                result = _start_session(ctx, s, user, who, user_agent=user_agent)
                audit.record(s, who, "auth.login", detail={"session": result.session_id})
    if error is not None:
        raise error
    assert result is not None
    return result


def complete_mfa(
    ctx: ServerContext, *, mfa_token: str, code: str, actor: Actor, user_agent: str = ""
) -> TokenPair:
    """Check the TOTP (or a recovery code) for a pending sign-in and start the session."""
    error: Unauthorized | None = None
    pair: TokenPair | None = None
    with ctx.db.session() as s:
        now = utcnow()
        ch = s.execute(
            select(MfaChallenge)
            .where(MfaChallenge.token_hash == hash_token(mfa_token))
            .with_for_update()
        ).scalar_one_or_none()
        user = s.get(User, ch.user_id) if ch is not None else None
        if ch is None or user is None or ch.used or ch.expires_at <= now or ch.attempts >= 5:
            error = Unauthorized("The sign-in step expired; sign in again with your password.")
        else:
            who = Actor(name=user.name, source_ip=actor.source_ip)
            ch.attempts += 1
            ok = _check_second_factor(ctx, s, user, code)
            if not ok:
                audit.record(s, who, "auth.mfa", outcome="failure")
                error = Unauthorized("The code is not valid.", hint="Use the current code.")
            else:
                ch.used = True
                pair = _start_session(ctx, s, user, who, user_agent=user_agent, second_factor=True)
                audit.record(s, who, "auth.login", detail={"session": pair.session_id, "mfa": True})
    if error is not None:
        raise error
    assert pair is not None
    return pair


def _check_second_factor(ctx: ServerContext, s: Session, user: User, code: str) -> bool:
    secret = mfa.user_secret(ctx, user)
    if secret is None:
        return False
    step = totp.verify_totp(secret, code, last_used_step=user.mfa_last_step)
    if step is not None:
        user.mfa_last_step = step
        return True
    return mfa.use_recovery_code(s, user, code)


def refresh(ctx: ServerContext, *, refresh_token: str, actor: Actor) -> TokenPair:
    """Rotate a refresh token; a reused (already rotated) one revokes its whole family."""
    error: Unauthorized | None = None
    pair: TokenPair | None = None
    with ctx.db.session() as s:
        now = utcnow()
        row = s.execute(
            select(RefreshToken).where(RefreshToken.token_hash == hash_token(refresh_token))
        ).scalar_one_or_none()
        sess = s.get(AuthSession, row.session_id) if row is not None else None
        user = s.get(User, sess.user_id) if sess is not None else None
        if row is None or sess is None or user is None:
            error = Unauthorized("The refresh token is not valid; sign in again.")
        elif sess.revoked_at is not None or sess.expires_at <= now or user.disabled:
            error = Unauthorized("The session has ended; sign in again.")
        else:
            # Compare-and-set: of two concurrent uses of one token, exactly one wins.
            won = s.execute(
                update(RefreshToken)
                .where(RefreshToken.id == row.id, RefreshToken.used_at.is_(None))
                .values(used_at=now)
            )
            if getattr(won, "rowcount", 0) != 1:
                sess.revoked_at, sess.revoked_reason = now, "refresh-token-reuse"
                audit.record(
                    s,
                    Actor(name=user.name, source_ip=actor.source_ip),
                    "auth.refresh_reuse",
                    target=f"session/{sess.id}",
                    outcome="failure",
                )
                error = Unauthorized(
                    "This refresh token was already used; every session of its family is revoked.",
                    hint="Sign in again. If you did not reuse it, someone else may have it.",
                )
            else:
                pair = _issue(ctx, s, user, sess)
    if error is not None:
        raise error
    assert pair is not None
    return pair


def logout(ctx: ServerContext, principal: Principal, *, actor: Actor, everywhere: bool) -> int:
    """Revoke the caller's session (or all of its sessions); return how many were revoked."""
    with ctx.db.session() as s:
        q = update(AuthSession).where(
            AuthSession.user_id == principal.user_id, AuthSession.revoked_at.is_(None)
        )
        if not everywhere:
            q = q.where(AuthSession.id == principal.session_id)
        res = s.execute(q.values(revoked_at=utcnow(), revoked_reason="logout"))
        count = int(getattr(res, "rowcount", 0) or 0)
        audit.record(
            s, actor, "auth.logout_all" if everywhere else "auth.logout", detail={"sessions": count}
        )
    return count


def authenticate(ctx: ServerContext, token: str) -> Principal:
    """Resolve a bearer credential (access token or API token) to a live principal."""
    if token.startswith(API_TOKEN_PREFIX + "_"):
        return _api_token_principal(ctx, token)
    claims = _checked_claims(ctx, token)
    # One round trip on the hot path: the session, its user and every role binding.
    with ctx.db.read() as conn:
        rows = conn.execute(_AUTH_QUERY, {"sid": claims.session_id}).all()
    return _principal(claims, rows, utcnow())


def is_api_token(token: str) -> bool:
    """Whether ``token`` is an API token (not an access token)."""
    return token.startswith(API_TOKEN_PREFIX + "_")


async def authenticate_on_loop(
    ctx: ServerContext,
    reads: LoopReads,
    token: str,
    joined: Compiled | None = None,
    params: Mapping[str, Any] | None = None,
) -> tuple[Principal, tuple[Any, ...]]:
    """``authenticate`` for an access token, its query run on the event loop (PostgreSQL).

    With ``joined`` (from ``with_companion``) the route's own one-row read travels in the same
    statement; its columns come back second (all ``None`` when it found no row).
    """
    claims = _checked_claims(ctx, token)
    statement = joined or _AUTH_PG
    rows = await reads.fetch(statement, statement.params(sid=claims.session_id, **(params or {})))
    # Raw rows carry the naive UTC times that UTCDateTime would have made aware.
    principal = _principal(claims, rows, utcnow().replace(tzinfo=None))
    return principal, tuple(rows[0][_AUTH_COLUMNS:])


def with_companion(companion: Select[Any]) -> Compiled:
    """The session check and ``companion`` (a read of at most one row) as one statement."""
    auth = _AUTH_QUERY.subquery("auth")
    other = companion.subquery("companion")
    return Compiled(select(auth, other).select_from(auth.outerjoin(other, true())))


def _checked_claims(ctx: ServerContext, token: str) -> AccessClaims:
    try:
        return ctx.verified_tokens.verify(ctx.signer, token)
    except InvalidToken as exc:
        raise Unauthorized(exc.message, hint=exc.hint) from None


def _principal(claims: AccessClaims, rows: Sequence[Any], now: dt.datetime) -> Principal:
    """The principal from the rows of ``_AUTH_QUERY`` (by position, in its column order)."""
    if not rows:
        raise Unauthorized("The session does not exist; sign in again.")
    (revoked_at, expires_at, enrol, user_id, name, is_admin, disabled, must_change, mfa_on) = rows[
        0
    ][:9]
    verified = bool(rows[0][9])
    if str(user_id) != claims.subject:
        raise Unauthorized("The access token does not match its session.")
    if revoked_at is not None or expires_at <= now or disabled:
        raise Unauthorized("The session has ended; sign in again.")
    roles: dict[str, set[str]] = {}
    for row in rows:
        if row[10] is not None:
            roles.setdefault(row[10], set()).add(row[11])
    restricted = restriction(
        must_change=bool(must_change), enrol=bool(enrol), verified=verified, mfa_on=bool(mfa_on)
    )
    return Principal(
        user_id=user_id,
        name=name,
        is_admin=is_admin,
        roles={k: frozenset(v) for k, v in roles.items()},
        session_id=claims.session_id,
        restricted=restricted,
        mfa_verified=verified,
    )


def _auth_query() -> Any:  # a Select of twelve columns
    group_names = (
        select(Group.name)
        .join(GroupMember, GroupMember.group_id == Group.id)
        .where(GroupMember.user_id == User.id)
    )
    binding = and_(
        RoleBinding.disabled.is_(False),
        or_(
            and_(RoleBinding.subject_kind == "user", RoleBinding.subject == User.name),
            and_(RoleBinding.subject_kind == "group", RoleBinding.subject.in_(group_names)),
        ),
    )
    return (
        select(
            AuthSession.revoked_at,
            AuthSession.expires_at,
            AuthSession.mfa_enrol_required,
            User.id.label("user_id"),
            User.name,
            User.is_admin,
            User.disabled,
            User.must_change_password,
            User.mfa_enabled,
            AuthSession.mfa_verified,
            RoleBinding.environment,
            RoleBinding.role,
        )
        .join(User, User.id == AuthSession.user_id)
        .outerjoin(RoleBinding, binding)
        .where(AuthSession.id == bindparam("sid"))
    )


_AUTH_QUERY = _auth_query()
_AUTH_PG = Compiled(_AUTH_QUERY)
_AUTH_COLUMNS = 12


def _api_token_principal(ctx: ServerContext, token: str) -> Principal:
    with ctx.db.session() as s:
        row = s.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == hash_token(token))
        ).first()
        now = utcnow()
        if row is None:
            raise Unauthorized("The API token is not valid.")
        tok, user = row
        if tok.revoked_at is not None or user.disabled:
            raise Unauthorized("The API token was revoked.")
        if tok.expires_at is not None and tok.expires_at <= now:
            raise Unauthorized("The API token has expired.", hint="Create a new one.")
        tok.last_used_at = now
        # A token minted before MFA was required (or by a session that did not prove it)
        # stops working while the owner's roles require MFA.
        restricted = ""
        if user.must_change_password:
            restricted = "password_change"
        elif not (tok.mfa_verified and user.mfa_enabled) and mfa_required(s, user):
            restricted = "mfa_reauthentication" if user.mfa_enabled else "mfa_enrollment"
        return Principal(
            user_id=user.id,
            name=user.name,
            is_admin=user.is_admin,
            roles=roles_of(s, user),
            scopes=frozenset(tok.scopes),
            restricted=restricted,
            mfa_verified=bool(tok.mfa_verified),
        )
