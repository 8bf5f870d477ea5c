"""Every (role × endpoint) cell against the table below; a route without a row fails the test."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from attonix.server.app import api_routes, route_requirement
from attonix.server.audit import Actor
from attonix.server.auth import users
from attonix.server.context import ServerContext
from attonix.server.environments import create_environment

ROLES = ("anonymous", "admin", "env_admin", "operator", "developer", "auditor", "dev_staging")
SIGNED_IN = frozenset(ROLES) - {"anonymous"}
PUBLIC = frozenset(ROLES)
GLOBAL_ADMIN = frozenset({"admin"})
PROD_READERS = frozenset({"admin", "env_admin", "operator", "developer", "auditor"})
PROD_WRITERS = frozenset({"admin", "env_admin", "operator", "developer"})
PROD_OPERATORS = frozenset({"admin", "env_admin", "operator"})
AUDITORS = frozenset({"admin", "env_admin", "auditor"})
ENV_ADMINS = frozenset({"admin", "env_admin"})
CONNECTION_READERS = frozenset({"admin", "env_admin", "operator", "auditor"})

V = "/api/v1"
E = f"{V}/environments/{{env}}"
TABLE: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("POST", f"{V}/auth/login"): PUBLIC,
    ("POST", f"{V}/auth/mfa"): PUBLIC,
    ("POST", f"{V}/auth/refresh"): PUBLIC,
    ("POST", f"{V}/auth/oidc/start"): PUBLIC,
    ("POST", f"{V}/auth/oidc/callback"): PUBLIC,
    ("POST", f"{V}/auth/logout"): SIGNED_IN,
    ("POST", f"{V}/auth/logout-all"): SIGNED_IN,
    ("GET", f"{V}/me"): SIGNED_IN,
    ("POST", f"{V}/me/password"): SIGNED_IN,
    ("POST", f"{V}/me/mfa/enroll"): frozenset(),  # a signed-in person only, not a token
    ("POST", f"{V}/me/mfa/confirm"): SIGNED_IN,
    ("GET", f"{V}/me/tokens"): SIGNED_IN,
    ("POST", f"{V}/me/tokens"): frozenset(),  # the matrix signs in with API tokens
    ("DELETE", f"{V}/me/tokens/{{token_id}}"): SIGNED_IN,
    ("GET", f"{V}/users"): GLOBAL_ADMIN,
    ("POST", f"{V}/users"): GLOBAL_ADMIN,
    ("GET", f"{V}/users/{{name}}"): GLOBAL_ADMIN,
    ("PATCH", f"{V}/users/{{name}}"): GLOBAL_ADMIN,
    ("DELETE", f"{V}/users/{{name}}"): GLOBAL_ADMIN,
    ("POST", f"{V}/users/{{name}}/reset-password"): GLOBAL_ADMIN,
    ("POST", f"{V}/users/{{name}}/reset-mfa"): GLOBAL_ADMIN,
    ("GET", f"{V}/groups"): GLOBAL_ADMIN,
    ("POST", f"{V}/groups"): GLOBAL_ADMIN,
    ("DELETE", f"{V}/groups/{{name}}"): GLOBAL_ADMIN,
    ("GET", f"{V}/bindings"): GLOBAL_ADMIN,
    ("POST", f"{V}/bindings"): GLOBAL_ADMIN,
    ("DELETE", f"{V}/bindings/{{binding_id}}"): GLOBAL_ADMIN,
    ("GET", f"{V}/jobs"): GLOBAL_ADMIN,
    ("GET", f"{V}/jobs/{{job_id}}"): GLOBAL_ADMIN,
    ("GET", f"{V}/audit"): AUDITORS,
    ("GET", f"{V}/audit/verify"): AUDITORS,
    ("GET", f"{V}/audit/export"): AUDITORS,
    ("GET", f"{V}/environments"): SIGNED_IN,
    ("POST", f"{V}/environments"): GLOBAL_ADMIN,
    ("GET", E): PROD_READERS,
    ("GET", f"{E}/blueprints"): PROD_READERS,
    ("POST", f"{E}/blueprints"): PROD_WRITERS,
    ("GET", f"{E}/blueprints/{{version}}"): PROD_READERS,
    ("GET", f"{E}/blueprints/{{version}}/findings"): PROD_READERS,
    ("GET", f"{E}/blueprints/{{version}}/render/{{target}}"): PROD_READERS,
    ("GET", f"{E}/blueprints/{{version}}/renders/{{target}}/files"): PROD_READERS,
    ("GET", f"{E}/blueprints/{{version}}/renders/{{target}}/files/{{path:path}}"): PROD_READERS,
    ("GET", f"{E}/diff"): PROD_READERS,
    ("GET", f"{E}/identity-plans"): PROD_READERS,
    ("POST", f"{E}/identity-plans/{{plan_id}}/decision"): GLOBAL_ADMIN,
    ("GET", f"{E}/status"): PROD_READERS,
    ("GET", f"{E}/secrets"): PROD_READERS,
    ("PUT", f"{E}/secrets/{{name}}"): PROD_OPERATORS,
    ("DELETE", f"{E}/secrets/{{name}}"): PROD_OPERATORS,
    ("GET", f"{E}/connections"): CONNECTION_READERS,
    ("GET", f"{E}/connections/{{cluster}}"): CONNECTION_READERS,
    ("PUT", f"{E}/connections/{{cluster}}"): ENV_ADMINS,
    ("DELETE", f"{E}/connections/{{cluster}}"): ENV_ADMINS,
    ("POST", f"{E}/connections/{{cluster}}/check"): ENV_ADMINS,
    ("GET", f"{E}/certificates"): PROD_READERS,
    ("POST", f"{E}/certificates/rotate"): ENV_ADMINS,
    ("GET", f"{E}/deployments"): PROD_READERS,
    ("POST", f"{E}/deployments"): PROD_OPERATORS,
    ("GET", f"{E}/deployments/{{deployment_id}}"): PROD_READERS,
    ("POST", f"{E}/deployments/{{deployment_id}}/decision"): PROD_OPERATORS,
    ("POST", f"{E}/deployments/{{deployment_id}}/cancel"): PROD_OPERATORS,
    ("POST", f"{E}/deployments/{{deployment_id}}/rollback"): PROD_OPERATORS,
    ("GET", f"{E}/deployments/{{deployment_id}}/jobs"): PROD_READERS,
    ("GET", f"{E}/deployments/{{deployment_id}}/logs"): PROD_READERS,
    ("POST", f"{E}/rotations"): PROD_OPERATORS,
}

_FILL = {"env": "prod", "version": "1", "target": "nope", "name": "nobody"}


def _url(path: str) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: _FILL.get(m.group(1), "999999"), path)


def test_every_route_has_a_row_and_every_cell_holds(
    ctx: ServerContext, kit: Any, client: TestClient
) -> None:
    from attonix.server.db.models import RoleBinding, User

    actor = Actor("test")
    for env in ("prod", "staging"):
        create_environment(ctx, name=env, actor=actor)
    grants = {
        "env_admin": ("prod", "admin"),
        "operator": ("prod", "operator"),
        "developer": ("prod", "developer"),
        "auditor": ("prod", "auditor"),
        "dev_staging": ("staging", "developer"),
    }
    headers: dict[str, dict[str, str]] = {"anonymous": {}}
    # Enrolled in MFA, and tokens minted by sessions that proved it: roles requiring MFA
    # refuse tokens that were not.
    kit.add_user("admin", admin=True, mfa=True)
    for name, (env, role) in grants.items():
        kit.add_user(name.replace("_", "-"), mfa=True)
        with ctx.db.session() as s:
            s.add(
                RoleBinding(
                    role=role, environment=env, subject_kind="user", subject=name.replace("_", "-")
                )
            )
    for role in SIGNED_IN:
        with ctx.db.session() as s:
            from sqlalchemy import select

            uid = s.execute(select(User.id).where(User.name == role.replace("_", "-"))).scalar_one()
        token = users.create_api_token(
            ctx,
            user_id=uid,
            name="matrix",
            scopes=users.TOKEN_SCOPES,
            expires_days=1,
            actor=actor,
            mfa_verified=True,
        ).token
        headers[role] = {"Authorization": f"Bearer {token}"}

    routes = api_routes(client.app)  # type: ignore[arg-type]
    assert len(routes) >= 50
    seen = set()
    failures = []
    for method, path, route in routes:
        key = (method, path)
        seen.add(key)
        assert key in TABLE, f"route {method} {path} has no row in the permission table"
        assert route_requirement(route) is not None
        for role in ROLES:
            r = client.request(method, _url(path), headers=headers[role], json={})
            allowed = r.status_code not in (401, 403)
            if allowed != (role in TABLE[key]):
                failures.append(f"{method} {path} as {role}: {r.status_code} {r.text[:120]}")
            if not allowed:
                assert r.headers["content-type"] == "application/problem+json"
    assert not failures, "\n".join(failures)
    assert seen == set(TABLE), f"rows for routes that do not exist: {set(TABLE) - seen}"


def test_auditor_cannot_change_anything(ctx: ServerContext, kit: Any, client: TestClient) -> None:
    create_environment(ctx, name="prod", actor=Actor("test"))
    dave = kit.user("dave", roles={"prod": "auditor"})
    writes = [
        ("POST", f"{V}/environments/prod/blueprints", {"source": "x: 1"}),
        ("PUT", f"{V}/environments/prod/secrets/db", {"values": {"password": "p"}}),
        ("POST", f"{V}/environments/prod/deployments", {"version": 1, "target": "podman"}),
        (
            "POST",
            f"{V}/environments/prod/rotations",
            {"version": 1, "database": "d", "service": "s"},
        ),
        ("POST", f"{V}/users", {"name": "mallory"}),
        ("POST", f"{V}/environments", {"name": "evil"}),
    ]
    for method, url, body in writes:
        r = client.request(method, url, headers=dave.headers, json=body)
        assert r.status_code == 403, (url, r.status_code)
    assert client.get(f"{V}/audit/verify", headers=dave.headers).json()["ok"] is True
    assert client.get(f"{V}/environments/prod/secrets", headers=dave.headers).json() == []


def test_developer_cannot_read_another_environment(
    ctx: ServerContext, kit: Any, client: TestClient
) -> None:
    for env in ("prod", "staging"):
        create_environment(ctx, name=env, actor=Actor("test"))
    carol = kit.user("carol", roles={"staging": "developer"})
    assert client.get(f"{V}/environments/staging", headers=carol.headers).status_code == 200
    r = client.get(f"{V}/environments/prod", headers=carol.headers)
    assert r.status_code == 403 and "'prod'" in r.json()["detail"]
    assert client.get(f"{V}/environments/prod/blueprints", headers=carol.headers).status_code == 403
    names = [e["name"] for e in client.get(f"{V}/environments", headers=carol.headers).json()]
    assert names == ["staging"]
    me = client.get(f"{V}/me", headers=carol.headers).json()
    assert [e["environment"] for e in me["environments"]] == ["staging"]
    assert "blueprint:write" in me["environments"][0]["permissions"]
    assert "deploy:approve" not in me["environments"][0]["permissions"]
