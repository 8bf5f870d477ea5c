"""Credentials end when their owner's intent says so: password change, reset, disable,
newly required MFA; sensitive self-service is throttled and re-authenticated."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from attonix.server.audit import Actor
from attonix.server.context import ServerContext
from attonix.server.db.models import AuthSession, User
from attonix.server.environments import create_environment
from attonix.server.security import hash_password
from attonix.server.security.totp import totp_now

V = "/api/v1"
NEW_PASSWORD = "Another-Long-Passphrase-77"


def _token(client: TestClient, who: Any, **extra: Any) -> dict[str, str]:
    r = client.post(
        f"{V}/me/tokens",
        headers=who.headers,
        json={"name": "t", "scopes": ["env:read", "secret:write"], **extra},
    )
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _me(client: TestClient, headers: dict[str, str]) -> int:
    return client.get(f"{V}/environments", headers=headers).status_code


def test_password_change_ends_every_other_session(
    ctx: ServerContext, client: TestClient, kit: Any
) -> None:
    kit.add_user("erin")
    here, elsewhere = kit.login("erin"), kit.login("erin")
    r = client.post(
        f"{V}/me/password",
        headers=here.headers,
        json={"current_password": kit.PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert r.status_code == 204, r.text
    assert _me(client, here.headers) == 200  # kept by default
    assert _me(client, elsewhere.headers) == 401
    assert (
        client.post(f"{V}/auth/refresh", json={"refresh_token": elsewhere.refresh}).status_code
        == 401
    )
    # Asked not to keep it, the current session ends too.
    r = client.post(
        f"{V}/me/password",
        headers=here.headers,
        json={
            "current_password": NEW_PASSWORD,
            "new_password": "Yet-Another-Passphrase-99",
            "keep_current_session": False,
        },
    )
    assert r.status_code == 204
    assert _me(client, here.headers) == 401


def test_reset_and_disable_end_sessions_and_tokens_and_reenabling_revives_nothing(
    ctx: ServerContext, client: TestClient, kit: Any, admin: Any
) -> None:
    kit.add_user("erin")
    erin = kit.login("erin")
    token = _token(client, erin)
    assert _me(client, token) == 200
    r = client.post(f"{V}/users/erin/reset-password", headers=admin.headers)
    assert r.status_code == 200
    assert _me(client, token) == 401 and _me(client, erin.headers) == 401
    # Disable, then enable again: nothing issued before comes back.
    with ctx.db.session() as s:  # a fresh password and a fresh token, as after the reset
        s.execute(
            update(User)
            .where(User.name == "erin")
            .values(password_hash=hash_password(kit.PASSWORD), must_change_password=False)
        )
    erin = kit.login("erin")
    token = _token(client, erin)
    assert (
        client.patch(f"{V}/users/erin", headers=admin.headers, json={"disabled": True}).status_code
        == 200
    )
    assert (
        client.patch(f"{V}/users/erin", headers=admin.headers, json={"disabled": False}).status_code
        == 200
    )
    assert _me(client, token) == 401
    assert _me(client, erin.headers) == 401
    assert client.post(f"{V}/auth/refresh", json={"refresh_token": erin.refresh}).status_code == 401


def test_newly_required_mfa_restricts_existing_sessions_and_tokens(
    ctx: ServerContext, client: TestClient, kit: Any, admin: Any
) -> None:
    create_environment(ctx, name="prod", actor=Actor("t"))  # MFA required for admin
    kit.add_user("erin")
    erin, other = kit.login("erin"), kit.login("erin")
    token = _token(client, erin)
    r = client.post(
        f"{V}/bindings",
        headers=admin.headers,
        json={"role": "admin", "environment": "prod", "subject_kind": "user", "subject": "erin"},
    )
    assert r.status_code == 201
    for headers in (erin.headers, other.headers, token):
        r = client.get(f"{V}/environments/prod", headers=headers)
        assert r.status_code == 403 and "multi-factor" in r.json()["detail"], r.text
    refreshed = client.post(f"{V}/auth/refresh", json={"refresh_token": other.refresh}).json()
    assert refreshed["restricted"] == "mfa_enrollment"
    # Enrolling in one session lifts its restriction only; others must sign in again.
    secret = client.post(f"{V}/me/mfa/enroll", headers=erin.headers).json()["secret"]
    r = client.post(f"{V}/me/mfa/confirm", headers=erin.headers, json={"code": totp_now(secret)})
    assert r.status_code == 200, r.text
    assert client.get(f"{V}/environments/prod", headers=erin.headers).status_code == 200
    r = client.get(f"{V}/environments/prod", headers=other.headers)
    assert r.status_code == 403 and "Sign in again" in r.json().get("hint", ""), r.text
    assert client.get(f"{V}/environments/prod", headers=token).status_code == 403
    fresh = _token(client, erin)  # minted by the session that proved the second factor
    assert client.get(f"{V}/environments/prod", headers=fresh).status_code == 200


def test_sensitive_self_service_is_throttled_and_reauthenticated(
    ctx: ServerContext, client: TestClient, kit: Any
) -> None:
    kit.add_user("erin")
    erin = kit.login("erin")
    codes = [
        client.post(
            f"{V}/me/password",
            headers=erin.headers,
            json={"current_password": f"wrong-{i}", "new_password": NEW_PASSWORD},
        ).status_code
        for i in range(12)
    ]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}, codes
    # A sign-in older than the re-authentication window must give the password again.
    with ctx.db.session() as s:
        s.execute(
            update(AuthSession).values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2))
        )
    body = {"name": "t", "scopes": ["env:read"]}
    r = client.post(f"{V}/me/tokens", headers=erin.headers, json=body)
    assert r.status_code == 401 and "recent sign-in" in r.json()["detail"]
    r = client.post(f"{V}/me/tokens", headers=erin.headers, json={**body, "current_password": "no"})
    assert r.status_code == 401
    r = client.post(
        f"{V}/me/tokens", headers=erin.headers, json={**body, "current_password": kit.PASSWORD}
    )
    assert r.status_code == 201
