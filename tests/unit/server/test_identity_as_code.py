"""Identity as code, scoped: an upload into E plans changes for E only, applies nothing itself,
returns no passwords, and an identity administrator approves (two-person rule in prod).

Each escalation found by the hostile review has its regression test here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import select

from attonix.server.audit import Actor
from attonix.server.context import ServerContext
from attonix.server.db.models import Environment, Group, RoleBinding, User
from attonix.server.environments import create_environment

V = "/api/v1"
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "attonixcorp.yaml"


def blueprint(
    *,
    bindings: list[dict[str, Any]] | None = None,
    groups: list[dict[str, Any]] | None = None,
    accounts: list[dict[str, Any]] | None = None,
    mfa: list[str] | None = None,
) -> str:
    """The example with its identity sections replaced."""
    doc = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    ac = doc["security"]["access_control"]
    if accounts is not None:  # the example's bindings and groups name its own accounts
        bindings = [] if bindings is None else bindings
        groups = [] if groups is None else groups
    if bindings is not None:
        ac["bindings"] = bindings
    if mfa is not None:
        ac["mfa_required_for"] = mfa
    if groups is not None:
        doc["users"]["groups"] = groups
    if accounts is not None:
        doc["users"]["accounts"] = accounts
    return yaml.safe_dump(doc, sort_keys=False)


def _upload(client: TestClient, headers: dict[str, str], source: str, env: str) -> Any:
    r = client.post(f"{V}/environments/{env}/blueprints", headers=headers, json={"source": source})
    assert r.status_code == 201, r.text
    return r.json()


def _decide(client: TestClient, headers: dict[str, str], env: str, plan: int, ok: bool) -> Any:
    return client.post(
        f"{V}/environments/{env}/identity-plans/{plan}/decision",
        headers=headers,
        json={"approve": ok},
    )


def _user(ctx: ServerContext, name: str) -> User | None:
    with ctx.db.session() as s:
        return s.execute(select(User).where(User.name == name)).scalar_one_or_none()


def _bindings(ctx: ServerContext, env: str) -> set[tuple[str, str, str, bool]]:
    with ctx.db.session() as s:
        return {
            (b.role, b.subject_kind, b.subject, b.disabled)
            for b in s.execute(select(RoleBinding).where(RoleBinding.environment == env)).scalars()
        }


@pytest.fixture
def envs(ctx: ServerContext) -> None:
    for name in ("prod", "qa"):
        create_environment(ctx, name=name, actor=Actor("t"))


@pytest.fixture
def second_admin(kit: Any) -> Any:
    secret = kit.add_user("other-admin", admin=True, mfa=True)
    return kit.login("other-admin", secret=secret)


def test_upload_plans_and_approval_applies_identity_for_its_environment_only(
    ctx: ServerContext, client: TestClient, admin: Any, second_admin: Any, envs: None
) -> None:
    source = EXAMPLE.read_text(encoding="utf-8")
    out = _upload(client, admin.headers, source, "prod")
    ident, plan = out["identity"], out["identity_plan"]
    assert "one_time_passwords" not in ident and "password" not in str(out).lower()
    assert {"user/alice", "user/bob", "group/platform"} <= set(ident["created"])
    assert "binding/prod/operator/user:bob" in ident["created"]
    assert "binding/staging/operator/user:bob" in ident["ignored"]
    assert plan["status"] == "pending" and plan["two_person_rule"] is True
    assert _user(ctx, "alice") is None  # nothing applied by the upload
    # The uploader may not approve in prod (two-person rule); another administrator may.
    r = _decide(client, admin.headers, "prod", plan["id"], True)
    assert r.status_code == 403 and "two-person" in r.json()["detail"]
    r = _decide(client, second_admin.headers, "prod", plan["id"], True)
    assert r.status_code == 200 and r.json()["status"] == "applied", r.text
    alice = _user(ctx, "alice")
    assert alice is not None and alice.password_hash is None and alice.source == "blueprint"
    assert ("operator", "user", "bob", False) in _bindings(ctx, "prod")
    assert _bindings(ctx, "staging") == set()  # never touched by a prod upload
    # A decided plan cannot be decided again.
    assert _decide(client, second_admin.headers, "prod", plan["id"], False).status_code == 409
    # dave leaves, bob's binding goes: reported and disabled on approval, never deleted.
    text = source.replace(
        "    - {name: dave, email: dave@attonixcorp.com, "
        "full_name: Dave Auditor, groups: [auditors]}\n",
        "",
    ).replace("      - {role: operator, environments: [prod, staging], users: [bob]}\n", "")
    second = _upload(client, admin.headers, text, "prod")
    assert second["identity"]["not_in_blueprint"] == ["user/dave"]
    assert "binding/prod/operator/user:bob" in second["identity"]["disabled"]
    plan2 = second["identity_plan"]["id"]
    assert _decide(client, second_admin.headers, "prod", plan2, True).status_code == 200
    assert ("operator", "user", "bob", True) in _bindings(ctx, "prod")
    dave = _user(ctx, "dave")
    assert dave is not None and dave.disabled is False
    audit = client.get(f"{V}/audit?action=identity.approve", headers=admin.headers).json()
    assert [e["actor"] for e in audit] == ["other-admin", "other-admin"]


def test_a_stale_plan_is_superseded_not_applied(
    ctx: ServerContext, client: TestClient, admin: Any, second_admin: Any, envs: None
) -> None:
    out = _upload(client, admin.headers, EXAMPLE.read_text(encoding="utf-8"), "prod")
    with ctx.db.session() as s:  # the state moves on before anyone decides
        s.add(Group(name="platform", description="made by hand"))
    r = _decide(client, second_admin.headers, "prod", out["identity_plan"]["id"], True)
    assert r.status_code == 409 and "superseded" in r.json()["detail"]
    assert _user(ctx, "alice") is None


def test_blueprint_writer_token_cannot_create_a_prod_admin(
    ctx: ServerContext, client: TestClient, admin: Any, envs: None
) -> None:
    """Was: a token that may only write blueprints uploaded into qa an account bound admin in
    prod, got its one-time password back, and used it."""
    r = client.post(
        f"{V}/me/tokens",
        headers=admin.headers,
        json={"name": "ci-qa", "scopes": ["blueprint:write"]},
    )
    assert r.status_code == 201, r.text
    ci = {"Authorization": f"Bearer {r.json()['token']}"}
    evil = blueprint(
        accounts=[{"name": "mallory", "email": "m@example.test"}],
        bindings=[{"role": "admin", "environments": ["prod", "qa"], "users": ["mallory"]}],
    )
    out = _upload(client, ci, evil, "qa")
    assert "password" not in str(out).lower()
    assert _user(ctx, "mallory") is None
    assert "binding/prod/admin/user:mallory" in out["identity"]["ignored"]
    plan = out["identity_plan"]["id"]
    # The blueprint writer cannot approve its own identity changes.
    assert _decide(client, ci, "qa", plan, True).status_code == 403
    # Even an identity administrator's approval creates nothing in prod.
    assert _decide(client, admin.headers, "qa", plan, True).status_code == 200
    assert _bindings(ctx, "prod") == set()
    mallory = _user(ctx, "mallory")
    assert mallory is not None and mallory.password_hash is None  # no password to sign in


def test_an_upload_cannot_disable_a_global_administrator(
    ctx: ServerContext, client: TestClient, admin: Any, kit: Any, envs: None
) -> None:
    kit.user("dev", roles={"qa": "developer"})
    dev = kit.login("dev")
    out = _upload(
        client,
        admin.headers,  # even a global admin's upload only plans it
        blueprint(accounts=[{"name": "root-admin", "email": "r@example.test", "disabled": True}]),
        "qa",
    )
    assert "user/root-admin (global administrator)" in out["identity"]["disabled"]
    out = _upload(
        client,
        dev.headers,
        blueprint(accounts=[{"name": "root-admin", "email": "r@example.test", "disabled": True}]),
        "qa",
    )
    root = _user(ctx, "root-admin")
    assert root is not None and root.disabled is False
    assert client.get(f"{V}/me", headers=admin.headers).status_code == 200


def test_an_upload_cannot_promote_through_a_group(
    ctx: ServerContext, client: TestClient, admin: Any, kit: Any, second_admin: Any, envs: None
) -> None:
    with ctx.db.session() as s:
        s.add(Group(name="platform"))
        s.add(
            RoleBinding(role="admin", environment="prod", subject_kind="group", subject="platform")
        )
    dev = kit.user("dev", roles={"qa": "developer"})
    out = _upload(
        client,
        dev.headers,
        blueprint(
            groups=[{"name": "platform"}],
            accounts=[{"name": "dev", "email": "dev@example.test", "groups": ["platform"]}],
            bindings=[{"role": "developer", "environments": ["qa"], "users": ["dev"]}],
        ),
        "qa",
    )
    assert out["identity_plan"]["status"] == "pending"
    assert any(
        "joins group/platform, which holds roles in prod" in w for w in out["identity"]["warnings"]
    )
    assert client.get(f"{V}/environments/prod/secrets", headers=dev.headers).status_code == 403
    with ctx.db.session() as s:
        assert s.execute(select(Group).where(Group.name == "platform")).scalar_one().members == []


def test_a_qa_upload_never_removes_prod_bindings(
    ctx: ServerContext, client: TestClient, admin: Any, second_admin: Any, envs: None
) -> None:
    out = _upload(client, admin.headers, EXAMPLE.read_text(encoding="utf-8"), "prod")
    assert (
        _decide(client, second_admin.headers, "prod", out["identity_plan"]["id"], True).status_code
        == 200
    )
    before = _bindings(ctx, "prod")
    assert ("operator", "user", "bob", False) in before
    out = _upload(client, admin.headers, blueprint(bindings=[]), "qa")
    if out["identity_plan"] is not None:
        assert (
            _decide(client, admin.headers, "qa", out["identity_plan"]["id"], True).status_code
            == 200
        )
    assert _bindings(ctx, "prod") == before


def test_a_developer_upload_cannot_weaken_mfa(
    ctx: ServerContext, client: TestClient, admin: Any, kit: Any, envs: None
) -> None:
    """Was: a developer's upload into qa dropped operator from mfa_required_for, and a new
    operator signed in there without a second factor."""
    _upload(client, admin.headers, blueprint(mfa=["admin", "operator"]), "qa")
    with ctx.db.session() as s:  # a stricter policy applies at once
        env = s.execute(select(Environment).where(Environment.name == "qa")).scalar_one()
        assert sorted(env.mfa_required_for) == ["admin", "operator"]
    dev = kit.user("dev", roles={"qa": "developer"})
    out = _upload(client, dev.headers, blueprint(mfa=["admin"]), "qa")
    assert any("mfa_required_for" in u for u in out["identity"]["updated"])
    assert out["identity_plan"]["status"] == "pending"
    kit.add_user("op")
    with ctx.db.session() as s:
        s.add(RoleBinding(role="operator", environment="qa", subject_kind="user", subject="op"))
    r = client.post(f"{V}/auth/login", json={"username": "op", "password": kit.PASSWORD})
    assert r.json()["tokens"]["restricted"] == "mfa_enrollment"
