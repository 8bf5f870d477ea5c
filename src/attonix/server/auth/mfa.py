"""TOTP enrolment and recovery codes; TOTP secrets are sealed with the vault's keys at rest."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from attonix.server import audit
from attonix.server.audit import Actor
from attonix.server.auth import lifecycle
from attonix.server.context import ServerContext
from attonix.server.db.models import AuthSession, RecoveryCode, User, utcnow
from attonix.server.errors import Conflict, NotFound, Unprocessable
from attonix.server.security import totp
from attonix.server.security.envelope import Sealed

RECOVERY_CODES = 10


def _aad(user: User) -> bytes:
    return f"mfa:{user.id}".encode()


@dataclass(frozen=True)
class Enrolment:
    """What the user scans or types into an authenticator app."""

    secret: str
    otpauth_uri: str
    qr_svg: str


def user_secret(ctx: ServerContext, user: User) -> str | None:
    """The user's confirmed TOTP secret, unsealed (None when MFA is not enabled)."""
    if not user.mfa_enabled or user.mfa_secret is None:
        return None
    return ctx.keyring.open(Sealed.from_bytes(user.mfa_secret), aad=_aad(user)).decode()


def enroll(ctx: ServerContext, *, user_id: int, actor: Actor) -> Enrolment:
    """Start (or restart) enrolment: a new secret, pending until confirmed with a code."""
    with ctx.db.session() as s:
        user = s.get(User, user_id)
        if user is None:
            raise NotFound("No such user.")
        if user.mfa_enabled:
            raise Conflict(
                "MFA is already enabled for this account.",
                hint="An administrator can reset it if the device was lost.",
            )
        secret = totp.new_totp_secret()
        user.mfa_pending_secret = ctx.keyring.seal(secret.encode(), aad=_aad(user)).to_bytes()
        audit.record(s, actor, "mfa.enroll", target=f"user/{user.name}")
        uri = totp.provisioning_uri(secret, account=user.name, issuer=ctx.settings.issuer)
        return Enrolment(secret=secret, otpauth_uri=uri, qr_svg=totp.qr_svg(uri))


def confirm(
    ctx: ServerContext, *, user_id: int, code: str, actor: Actor, session_id: str | None = None
) -> list[str]:
    """Enable MFA once the first code checks out; return the recovery codes (shown once).

    The confirming session (``session_id``) counts as having proved the second factor; the
    account's other sessions must sign in again where MFA is required."""
    with ctx.db.session() as s:
        user = s.get(User, user_id)
        if user is None:
            raise NotFound("No such user.")
        if user.mfa_pending_secret is None:
            raise Conflict("Start enrolment first.", hint="POST /api/v1/me/mfa/enroll")
        secret = ctx.keyring.open(Sealed.from_bytes(user.mfa_pending_secret), aad=_aad(user))
        step = totp.verify_totp(secret.decode(), code, last_used_step=None)
        if step is None:
            raise Unprocessable(
                "The code does not match.", hint="Check the device's clock; enter the current code."
            )
        user.mfa_secret, user.mfa_pending_secret = user.mfa_pending_secret, None
        user.mfa_enabled, user.mfa_last_step = True, step
        codes = totp.new_recovery_codes(RECOVERY_CODES)
        s.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        s.add_all(
            RecoveryCode(user_id=user.id, code_hash=totp.hash_recovery_code(c)) for c in codes
        )
        if session_id is not None:
            s.execute(
                update(AuthSession)
                .where(AuthSession.id == session_id, AuthSession.user_id == user.id)
                .values(mfa_verified=True)
            )
        audit.record(s, actor, "mfa.confirm", target=f"user/{user.name}")
        return codes


def reset(ctx: ServerContext, *, name: str, actor: Actor) -> None:
    """Turn MFA off for a user (an administrator's action after a lost device); every session
    and API token of the account ends, since the lost device may have opened them."""
    with ctx.db.session() as s:
        user = s.execute(select(User).where(User.name == name)).scalar_one_or_none()
        if user is None:
            raise NotFound(f"No user named {name!r}.")
        user.mfa_enabled, user.mfa_secret, user.mfa_pending_secret = False, None, None
        s.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
        ended = lifecycle.end_all_credentials(s, user, "mfa-reset")
        audit.record(s, actor, "mfa.reset", target=f"user/{name}", detail=ended)


def use_recovery_code(s: Session, user: User, code: str) -> bool:
    """Consume one unused recovery code of ``user`` if ``code`` is one."""
    rows = list(
        s.execute(
            select(RecoveryCode).where(
                RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
            )
        ).scalars()
    )
    index = totp.verify_recovery_code(code, [r.code_hash for r in rows])
    if index is None:
        return False
    rows[index].used_at = utcnow()
    return True
