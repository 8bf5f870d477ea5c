"""The caller's own account: who am I (with roles per environment), password, MFA, API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from attonix.server.auth import lifecycle, mfa, users
from attonix.server.auth.deps import Ctx, Require, actor_of
from attonix.server.auth.rbac import Permission, Principal
from attonix.server.db.models import Environment, User
from attonix.server.errors import NotFound
from attonix.server.schemas import ApiTokenCreated, ApiTokenOut
from attonix.server.security import passwords

RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]
router = APIRouter(prefix="/me", tags=["account"])
Self = Annotated[Principal, Depends(Require(Permission.SELF))]
Full = Annotated[Principal, Depends(Require(Permission.ENV_LIST))]


class EnvironmentAccess(BaseModel):
    """The caller's roles and permissions in one environment (the console hides the rest)."""

    environment: str
    roles: list[str]
    permissions: list[str]


class MeOut(BaseModel):
    """The signed-in principal."""

    name: str
    email: str
    full_name: str
    is_admin: bool
    mfa_enabled: bool
    restricted: str = Field(
        "", description="password_change or mfa_enrollment while either is pending."
    )
    environments: list[EnvironmentAccess]
    global_permissions: list[str]
    password_rules: list[str] = Field(
        default_factory=list, description="What a new password must be, in sentences."
    )


class PasswordIn(BaseModel):
    """The current and the new password."""

    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)
    keep_current_session: bool = Field(
        True, description="Keep this session signed in; every other session ends regardless."
    )


class ReauthIn(BaseModel):
    """The current password, needed when the sign-in is older than the re-authentication
    window (``reauth_seconds``)."""

    current_password: str | None = Field(None, min_length=1, max_length=1024)


class MfaEnrollOut(BaseModel):
    """A new TOTP secret to put in an authenticator app."""

    secret: str
    otpauth_uri: str
    qr_svg: str


class MfaConfirmIn(BaseModel):
    """The first code from the authenticator app."""

    code: str = Field(min_length=6, max_length=10)


class RecoveryCodesOut(BaseModel):
    """One-time recovery codes, shown this once."""

    recovery_codes: list[str]


class TokenIn(ReauthIn):
    """A new API token's name, scopes and lifetime."""

    name: str = Field(min_length=1, max_length=64)
    scopes: list[str] = Field(min_length=1, max_length=32)
    expires_days: int | None = Field(90, ge=1, le=3650)


_GLOBAL = (
    Permission.USERS_READ,
    Permission.USERS_WRITE,
    Permission.AUDIT_READ,
    Permission.ENV_CREATE,
)


@router.get("", response_model=MeOut, name="get_me")
def get_me(ctx: Ctx, p: Self) -> MeOut:
    """Who the caller is, and what they may do in each environment."""
    with ctx.db.session() as s:
        user = s.get(User, p.user_id)
        if user is None:
            raise NotFound("No such user.")
        envs = list(s.execute(select(Environment.name).order_by(Environment.name)).scalars())
        access = [
            EnvironmentAccess(
                environment=env,
                roles=sorted(["admin"] if p.is_admin else p.roles.get(env, frozenset())),
                permissions=sorted(x.value for x in p.permissions_in(env))
                if not p.restricted
                else [],
            )
            for env in envs
            if p.is_admin or env in p.roles
        ]
        return MeOut(
            name=user.name,
            email=user.email,
            full_name=user.full_name,
            is_admin=user.is_admin,
            mfa_enabled=user.mfa_enabled,
            restricted=p.restricted,
            environments=access,
            global_permissions=sorted(g.value for g in _GLOBAL if p.can(g)),
            password_rules=passwords.password_rules(ctx.settings.password_min_length),
        )


@router.post("/password", status_code=204, name="change_password")
def change_password(body: PasswordIn, request: Request, ctx: Ctx, p: Self) -> None:
    """Change the caller's password (required after a one-time password). Every other session
    of the account ends (this one too unless ``keep_current_session``); throttled."""
    users.change_password(
        ctx,
        user_id=p.user_id,
        current=body.current_password,
        new=body.new_password,
        actor=actor_of(request, p),
        session_id=p.session_id,
        keep_current_session=body.keep_current_session,
    )


@router.post("/mfa/enroll", response_model=MfaEnrollOut, name="mfa_enroll")
def mfa_enroll(request: Request, ctx: Ctx, p: Self, body: ReauthIn | None = None) -> MfaEnrollOut:
    """Start TOTP enrolment: a secret, its otpauth:// URI and a QR code (SVG). Needs a recent
    sign-in or the current password; throttled."""
    lifecycle.reauthenticate(
        ctx,
        user_id=p.user_id,
        session_id=p.session_id,
        action="mfa-enroll",
        password=body.current_password if body else None,
    )
    e = mfa.enroll(ctx, user_id=p.user_id, actor=actor_of(request, p))
    return MfaEnrollOut(secret=e.secret, otpauth_uri=e.otpauth_uri, qr_svg=e.qr_svg)


@router.post("/mfa/confirm", response_model=RecoveryCodesOut, name="mfa_confirm")
def mfa_confirm(body: MfaConfirmIn, request: Request, ctx: Ctx, p: Self) -> RecoveryCodesOut:
    """Confirm enrolment with a first code; returns recovery codes once."""
    codes = mfa.confirm(
        ctx, user_id=p.user_id, code=body.code, actor=actor_of(request, p), session_id=p.session_id
    )
    return RecoveryCodesOut(recovery_codes=codes)


@router.get("/tokens", response_model=list[ApiTokenOut], name="list_api_tokens")
def list_api_tokens(ctx: Ctx, p: Full) -> list[ApiTokenOut]:
    """The caller's API tokens (metadata only)."""
    return users.list_api_tokens(ctx, user_id=p.user_id)


@router.post("/tokens", response_model=ApiTokenCreated, status_code=201, name="create_api_token")
def create_api_token(
    body: TokenIn,
    request: Request,
    ctx: Ctx,
    p: Annotated[Principal, Depends(Require(Permission.TOKEN_CREATE))],
) -> ApiTokenCreated:
    """Create a scoped API token for automation; its value is shown only in this response.
    Needs a recent sign-in or the current password; throttled."""
    lifecycle.reauthenticate(
        ctx,
        user_id=p.user_id,
        session_id=p.session_id,
        action="api-token",
        password=body.current_password,
    )
    return users.create_api_token(
        ctx,
        user_id=p.user_id,
        name=body.name,
        scopes=body.scopes,
        expires_days=body.expires_days,
        actor=actor_of(request, p),
        mfa_verified=p.mfa_verified,
    )


@router.delete("/tokens/{token_id}", status_code=204, name="revoke_api_token")
def revoke_api_token(token_id: RowId, request: Request, ctx: Ctx, p: Full) -> None:
    """Revoke one of the caller's API tokens."""
    users.revoke_api_token(ctx, user_id=p.user_id, token_id=token_id, actor=actor_of(request, p))
