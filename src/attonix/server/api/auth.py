"""Sign-in: password, second factor, refresh-token rotation, sign-out (here and everywhere)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from attonix.server.auth import oidc, sessions
from attonix.server.auth.deps import Ctx, Require, actor_of, anonymous_actor
from attonix.server.auth.rbac import Permission, Principal

router = APIRouter(prefix="/auth", tags=["auth"])

_public = [Depends(Require(Permission.PUBLIC))]


class LoginIn(BaseModel):
    """User name and password."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class MfaIn(BaseModel):
    """The token from the password step and a TOTP or recovery code."""

    mfa_token: str = Field(min_length=1, max_length=256)
    code: str = Field(min_length=6, max_length=64)


class RefreshIn(BaseModel):
    """A refresh token (each is usable once)."""

    refresh_token: str = Field(min_length=1, max_length=256)


class TokensOut(BaseModel):
    """A signed-in session's tokens.

    ``restricted`` is non-empty when the account must first change its one-time password
    (``password_change``) or enrol a second factor (``mfa_enrollment``).
    """

    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105
    expires_in: int
    restricted: str = ""


class LoginOut(BaseModel):
    """Either tokens, or ``mfa_required`` with the token for POST /auth/mfa."""

    mfa_required: bool = False
    mfa_token: str | None = None
    tokens: TokensOut | None = None


class LogoutOut(BaseModel):
    """How many sessions were ended."""

    revoked_sessions: int


def _tokens(pair: sessions.TokenPair) -> TokensOut:
    return TokensOut(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        expires_in=pair.expires_in,
        restricted=pair.restricted,
    )


@router.post("/login", response_model=LoginOut, name="login", dependencies=_public)
def login(body: LoginIn, request: Request, ctx: Ctx) -> LoginOut:
    """Check a user name and password; answer tokens or a second-factor challenge."""
    result = sessions.login(
        ctx,
        username=body.username,
        password=body.password,
        actor=anonymous_actor(request),
        user_agent=request.headers.get("user-agent", ""),
    )
    if isinstance(result, sessions.MfaPending):
        return LoginOut(mfa_required=True, mfa_token=result.mfa_token)
    return LoginOut(tokens=_tokens(result))


@router.post("/mfa", response_model=TokensOut, name="login_mfa", dependencies=_public)
def login_mfa(body: MfaIn, request: Request, ctx: Ctx) -> TokensOut:
    """Complete a sign-in with a TOTP code (or a one-time recovery code)."""
    return _tokens(
        sessions.complete_mfa(
            ctx,
            mfa_token=body.mfa_token,
            code=body.code,
            actor=anonymous_actor(request),
            user_agent=request.headers.get("user-agent", ""),
        )
    )


@router.post("/refresh", response_model=TokensOut, name="refresh", dependencies=_public)
def refresh(body: RefreshIn, request: Request, ctx: Ctx) -> TokensOut:
    """Exchange a refresh token for new tokens; reusing an old one ends the whole session."""
    return _tokens(
        sessions.refresh(ctx, refresh_token=body.refresh_token, actor=anonymous_actor(request))
    )


@router.post("/logout", response_model=LogoutOut, name="logout")
def logout(
    request: Request, ctx: Ctx, p: Annotated[Principal, Depends(Require(Permission.SELF))]
) -> LogoutOut:
    """End this session: its access and refresh tokens stop working at once."""
    n = sessions.logout(ctx, p, actor=actor_of(request, p), everywhere=False)
    return LogoutOut(revoked_sessions=n)


@router.post("/logout-all", response_model=LogoutOut, name="logout_all")
def logout_all(
    request: Request, ctx: Ctx, p: Annotated[Principal, Depends(Require(Permission.SELF))]
) -> LogoutOut:
    """Sign out everywhere: every session of the caller ends at once."""
    n = sessions.logout(ctx, p, actor=actor_of(request, p), everywhere=True)
    return LogoutOut(revoked_sessions=n)


class OidcStartOut(BaseModel):
    """Where to send the browser for single sign-on, and the state to post back."""

    authorization_url: str
    state: str


class OidcCallbackIn(BaseModel):
    """What the identity provider appended to the console's callback URL."""

    code: str = Field(min_length=1, max_length=4096)
    state: str = Field(min_length=1, max_length=4096)


@router.post("/oidc/start", response_model=OidcStartOut, name="oidc_start", dependencies=_public)
def oidc_start(ctx: Ctx) -> OidcStartOut:
    """Begin single sign-on (OpenID Connect, authorization code with PKCE)."""
    start = oidc.begin(ctx)
    return OidcStartOut(authorization_url=start.authorization_url, state=start.state)


@router.post("/oidc/callback", response_model=LoginOut, name="oidc_callback", dependencies=_public)
def oidc_callback(body: OidcCallbackIn, request: Request, ctx: Ctx) -> LoginOut:
    """Finish single sign-on: tokens, or a second-factor challenge as after a password."""
    result = oidc.complete(
        ctx,
        code=body.code,
        state=body.state,
        actor=anonymous_actor(request),
        user_agent=request.headers.get("user-agent", ""),
    )
    if isinstance(result, sessions.MfaPending):
        return LoginOut(mfa_required=True, mfa_token=result.mfa_token)
    return LoginOut(tokens=_tokens(result))
