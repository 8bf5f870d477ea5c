"""Sign-in, tokens, MFA, lockout and sign-out — on every database engine."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
from fastapi.testclient import TestClient

from attonix.server.audit import Actor
from attonix.server.auth import users
from attonix.server.context import ServerContext
from attonix.server.security.totp import totp_now

API = "/api/v1"


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_login_me_and_problem_details(ctx: ServerContext, client: TestClient, kit: Any) -> None:
    kit.add_user("erin")
    me = kit.login("erin")
    r = client.get(f"{API}/me", headers=me.headers)
    assert r.status_code == 200
    assert r.json()["name"] == "erin" and r.json()["environments"] == []
    min_length = ctx.settings.password_min_length
    assert r.json()["password_rules"][0].startswith(f"At least {min_length} characters")
    bad = client.post(f"{API}/auth/login", json={"username": "erin", "password": "nope"})
    assert bad.status_code == 401
    assert bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["detail"] == "Invalid user name or password."
    assert bad.headers["x-request-id"] == bad.json()["request_id"]
    unknown = client.post(f"{API}/auth/login", json={"username": "ghost", "password": "x"})
    assert unknown.json()["detail"] == bad.json()["detail"]  # no user enumeration


def test_access_token_replay_after_logout_fails(
    ctx: ServerContext, client: TestClient, kit: Any
) -> None:
    kit.add_user("erin")
    me = kit.login("erin")
    assert client.post(f"{API}/auth/logout", headers=me.headers).json() == {"revoked_sessions": 1}
    again = client.get(f"{API}/me", headers=me.headers)
    assert again.status_code == 401
    assert "session has ended" in again.json()["detail"]
    r = client.post(f"{API}/auth/refresh", json={"refresh_token": me.refresh})
    assert r.status_code == 401


def test_logout_all_ends_every_session_at_once(
    ctx: ServerContext, client: TestClient, kit: Any
) -> None:
    kit.add_user("erin")
    a, b = kit.login("erin"), kit.login("erin")
    assert client.post(f"{API}/auth/logout-all", headers=a.headers).json()["revoked_sessions"] == 2
    assert client.get(f"{API}/me", headers=b.headers).status_code == 401


def test_reused_refresh_token_revokes_the_family(
    ctx: ServerContext, client: TestClient, kit: Any
) -> None:
    kit.add_user("erin")
    me = kit.login("erin")
    r1 = client.post(f"{API}/auth/refresh", json={"refresh_token": me.refresh})
    assert r1.status_code == 200
    new = r1.json()
    assert new["refresh_token"] != me.refresh
    # The stolen, already-rotated token is presented again: the whole family dies.
    reuse = client.post(f"{API}/auth/refresh", json={"refresh_token": me.refresh})
    assert reuse.status_code == 401 and "already used" in reuse.json()["detail"]
    assert (
        client.post(f"{API}/auth/refresh", json={"refresh_token": new["refresh_token"]}).status_code
        == 401
    )
    headers = {"Authorization": f"Bearer {new['access_token']}"}
    assert client.get(f"{API}/me", headers=headers).status_code == 401


def test_alg_none_and_wrongly_signed_tokens_are_refused(
    ctx: ServerContext, client: TestClient, kit: Any
) -> None:
    kit.add_user("erin")
    me = kit.login("erin")
    header, payload, _sig = me.token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    none_token = f"{_b64({'alg': 'none', 'typ': 'at+jwt'})}.{payload}."
    r = client.get(f"{API}/me", headers={"Authorization": f"Bearer {none_token}"})
    assert r.status_code == 401 and "algorithm" in r.json()["detail"]
    forged = jwt.encode(
        claims,
        "another-key-of-sufficient-length-000000",
        algorithm="HS256",
        headers={
            "typ": "at+jwt",
            "kid": json.loads(base64.urlsafe_b64decode(header + "=="))["kid"],
        },
    )
    r = client.get(f"{API}/me", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401 and "signature" in r.json()["detail"]
    tampered = f"{header}.{_b64({**claims, 'sub': '999'})}.{_sig}"
    assert (
        client.get(f"{API}/me", headers={"Authorization": f"Bearer {tampered}"}).status_code == 401
    )
    assert client.get(f"{API}/me").status_code == 401


def test_lockout_after_repeated_failures(ctx: ServerContext, client: TestClient, kit: Any) -> None:
    kit.add_user("erin")
    for _ in range(5):
        r = client.post(
            f"{API}/auth/login", json={"username": "erin", "password": "wrong-password"}
        )
        assert r.status_code == 401
    # Even the right password is refused while locked.
    r = client.post(f"{API}/auth/login", json={"username": "erin", "password": kit.PASSWORD})
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 200
    assert "locked" in r.json()["detail"]
    users.update_user(ctx, "erin", unlock=True, actor=Actor("test"))
    assert (
        client.post(
            f"{API}/auth/login", json={"username": "erin", "password": kit.PASSWORD}
        ).status_code
        == 200
    )


def test_per_ip_throttle(ctx: ServerContext, kit: Any) -> None:
    from attonix.server.app import create_app
    from attonix.server.context import build_context

    tight = build_context(kit.settings(login_ip_max_attempts=3), db=ctx.db)
    with TestClient(create_app(tight.settings, ctx=tight)) as c:
        codes = [
            c.post(f"{API}/auth/login", json={"username": f"u{i}", "password": "x"}).status_code
            for i in range(5)
        ]
    assert codes[:3] == [401, 401, 401]
    assert codes[3:] == [429, 429]


def test_mfa_enrolment_confirm_and_recovery_code(
    ctx: ServerContext, client: TestClient, kit: Any
) -> None:
    kit.add_user("root", admin=True)  # admins need MFA; none enrolled yet
    first = kit.login("root")
    r = client.get(f"{API}/users", headers=first.headers)
    assert r.status_code == 403 and "multi-factor" in r.json()["detail"]
    me = client.get(f"{API}/me", headers=first.headers).json()
    assert me["restricted"] == "mfa_enrollment"
    enrol = client.post(f"{API}/me/mfa/enroll", headers=first.headers).json()
    assert enrol["otpauth_uri"].startswith("otpauth://totp/") and "<svg" in enrol["qr_svg"]
    bad = client.post(f"{API}/me/mfa/confirm", headers=first.headers, json={"code": "000000"})
    assert bad.status_code == 422
    codes = client.post(
        f"{API}/me/mfa/confirm", headers=first.headers, json={"code": totp_now(enrol["secret"])}
    ).json()["recovery_codes"]
    assert len(codes) == 10
    assert client.get(f"{API}/users", headers=first.headers).status_code == 200
    # Next sign-in needs the second factor; a recovery code works once.
    body = client.post(
        f"{API}/auth/login", json={"username": "root", "password": kit.PASSWORD}
    ).json()
    assert body["mfa_required"] and body["tokens"] is None
    ok = client.post(f"{API}/auth/mfa", json={"mfa_token": body["mfa_token"], "code": codes[0]})
    assert ok.status_code == 200
    body = client.post(
        f"{API}/auth/login", json={"username": "root", "password": kit.PASSWORD}
    ).json()
    again = client.post(f"{API}/auth/mfa", json={"mfa_token": body["mfa_token"], "code": codes[0]})
    assert again.status_code == 401


def test_one_time_password_must_be_changed(
    ctx: ServerContext, client: TestClient, kit: Any, admin: Any
) -> None:
    created = client.post(f"{API}/users", headers=admin.headers, json={"name": "frank"}).json()
    otp = created["one_time_password"]
    tokens = client.post(f"{API}/auth/login", json={"username": "frank", "password": otp}).json()[
        "tokens"
    ]
    assert tokens["restricted"] == "password_change"
    h = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get(f"{API}/environments", headers=h).status_code == 403
    weak = client.post(
        f"{API}/me/password", headers=h, json={"current_password": otp, "new_password": "short"}
    )
    assert weak.status_code == 422 and "characters" in weak.json()["detail"]
    # Each broken rule sits at the field it concerns, for the console to show beside it.
    assert {tuple(e["loc"]) for e in weak.json()["errors"]} == {("body", "new_password")}
    assert any("characters" in e["msg"] for e in weak.json()["errors"])
    ok = client.post(
        f"{API}/me/password",
        headers=h,
        json={"current_password": otp, "new_password": kit.PASSWORD},
    )
    assert ok.status_code == 204
    assert client.get(f"{API}/environments", headers=h).json() == []


def test_api_token_scoped_hashed_and_revocable(
    ctx: ServerContext, client: TestClient, kit: Any, admin: Any
) -> None:
    client.post(f"{API}/environments", headers=admin.headers, json={"name": "prod"})
    r = client.post(
        f"{API}/me/tokens", headers=admin.headers, json={"name": "ci", "scopes": ["env:read"]}
    )
    assert r.status_code == 201
    token = r.json()["token"]
    h = {"Authorization": f"Bearer {token}"}
    assert client.get(f"{API}/environments/prod", headers=h).status_code == 200
    denied = client.get(f"{API}/users", headers=h)
    assert denied.status_code == 403 and "users:read" in denied.json()["detail"]
    minted = client.post(
        f"{API}/me/tokens", headers=h, json={"name": "x", "scopes": ["users:write"]}
    )
    assert minted.status_code == 403
    listed = client.get(f"{API}/me/tokens", headers=admin.headers).text
    assert token not in listed
    from sqlalchemy import text

    with ctx.db.engine.connect() as conn:
        stored = [row[0] for row in conn.execute(text("SELECT token_hash FROM api_tokens"))]
    assert token not in stored and len(stored[0]) == 64
    client.delete(f"{API}/me/tokens/{r.json()['info']['id']}", headers=admin.headers)
    assert client.get(f"{API}/environments/prod", headers=h).status_code == 401


def test_revocation_and_role_changes_apply_at_once_on_every_worker(
    ctx: ServerContext, client: TestClient, kit: Any
) -> None:
    """Two apps over one database stand for two workers; each remembers checked tokens."""
    from sqlalchemy import delete

    from attonix.server.app import create_app
    from attonix.server.context import build_context
    from attonix.server.db.models import RoleBinding
    from attonix.server.environments import create_environment

    create_environment(ctx, name="qa", actor=Actor("t"))
    me = kit.user("fay", roles={"qa": "developer"})
    other_ctx = build_context(ctx.settings, db=ctx.db)
    with TestClient(create_app(ctx.settings, ctx=other_ctx)) as other:
        for _ in range(2):  # the second call is served from the checked-token memory
            assert other.get(f"{API}/environments/qa", headers=me.headers).status_code == 200
        assert len(other_ctx.verified_tokens._claims) == 1
        with ctx.db.session() as s:
            s.execute(delete(RoleBinding).where(RoleBinding.subject == "fay"))
        assert other.get(f"{API}/environments/qa", headers=me.headers).status_code == 403
        assert client.post(f"{API}/auth/logout", headers=me.headers).status_code == 200
        refused = other.get(f"{API}/me", headers=me.headers)
        assert refused.status_code == 401 and "session has ended" in refused.json()["detail"]


def test_a_forged_token_is_refused_even_with_a_remembered_subject(
    ctx: ServerContext, client: TestClient, kit: Any
) -> None:
    kit.add_user("gus")
    me = kit.login("gus")
    assert client.get(f"{API}/me", headers=me.headers).status_code == 200
    header, payload, sig = me.token.split(".")
    flipped = sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB")
    r = client.get(f"{API}/me", headers={"Authorization": f"Bearer {header}.{payload}.{flipped}"})
    assert r.status_code == 401
