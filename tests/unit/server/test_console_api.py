"""What the console reads: component health, rendered files, audit filters, typed plans and
findings, and whether the caller may approve a deployment."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from attonix.deploy import EngineUnavailable
from attonix.deploy.base import ServiceStatus
from attonix.server import connections, jobs, pipeline, status
from attonix.server.app import openapi_document
from attonix.server.audit import Actor
from attonix.server.context import ServerContext
from attonix.server.db.models import AuditEntry, Deployment

V = "/api/v1"
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "attonixcorp.yaml"


@pytest.fixture
def prod(client: TestClient, admin: Any) -> Any:
    """Environment prod with the example blueprint as version 1."""
    client.post(f"{V}/environments", headers=admin.headers, json={"name": "prod"})
    r = client.post(
        f"{V}/environments/prod/blueprints",
        headers=admin.headers,
        json={"source": EXAMPLE.read_text(encoding="utf-8")},
    )
    assert r.status_code == 201, r.text
    return admin


def _deploy(
    ctx: ServerContext, client: TestClient, headers: dict[str, str], status: str, env: str = "prod"
) -> int:
    r = client.post(
        f"{V}/environments/{env}/deployments",
        headers=headers,
        json={"version": 1, "target": "podman"},
    )
    assert r.status_code == 202, r.text
    dep = int(r.json()["id"])
    with ctx.db.session() as s:
        s.execute(update(Deployment).where(Deployment.id == dep).values(status=status))
    # The status read goes through the cluster's stored connection (the driver is faked).
    connections.put_connection(
        ctx,
        environment=env,
        cluster="podman-tools",
        body=connections.PodmanIn(kind="podman", url="unix:///run/podman/podman.sock"),
        actor=Actor("test"),
    )
    return dep


class FakeDriver:
    """A driver whose engine reports fixed services, fails, or hangs."""

    def __init__(self, services: list[ServiceStatus], *, fail: bool = False, hang: float = 0):
        self.services, self.fail, self.hang = services, fail, hang

    def status(self) -> list[ServiceStatus]:
        if self.hang:
            time.sleep(self.hang)
        if self.fail:
            raise EngineUnavailable("podman does not answer", stderr="token=hunter2")
        return self.services


def _fake(monkeypatch: pytest.MonkeyPatch, driver: FakeDriver) -> list[str]:
    calls: list[str] = []

    def fake_driver(loaded: Any, target: str, **kw: Any) -> FakeDriver:
        calls.append(target)
        return driver

    monkeypatch.setattr(pipeline, "driver", fake_driver)
    return calls


# ------------------------------------------------------------------ component status


def test_status_is_unknown_for_every_component_until_a_deployment_succeeded(
    ctx: ServerContext, client: TestClient, prod: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _fake(monkeypatch, FakeDriver([]))
    _deploy(ctx, client, prod.headers, "failed")
    r = client.get(f"{V}/environments/prod/status", headers=prod.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["deployment_id"] is None and body["reachable"] is False
    states = {c["component"]: c["state"] for c in body["components"]}
    assert {"service/attonix-server", "frontend/attonix-console", "database/pg-main"} <= set(states)
    assert set(states.values()) == {"unknown"}
    assert calls == []  # nothing deployed: the engine is not asked


def test_status_maps_engine_services_to_components_and_states(
    ctx: ServerContext, client: TestClient, prod: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bp = "attonixcorp"
    calls = _fake(
        monkeypatch,
        FakeDriver(
            [
                ServiceStatus(f"{bp}-attonix-server", 3, 3, 3),  # podman naming
                ServiceStatus("stack_orders-api", 3, 3, 1),  # swarm naming
                ServiceStatus("Deployment/prod/attonix-console", 2, 0, 0, message="crash"),
                ServiceStatus("pg-main", 0, 0, 0),
                ServiceStatus("something-else", 1, 1, 1),
            ]
        ),
    )
    name = pipeline.load(EXAMPLE.read_text(), filename="x.yaml").blueprint.metadata.name
    assert name == bp
    dep = _deploy(ctx, client, prod.headers, "succeeded")
    body = client.get(f"{V}/environments/prod/status", headers=prod.headers).json()
    assert calls == ["podman"]
    assert body["deployment_id"] == dep and body["target"] == "podman" and body["version"] == 1
    assert body["reachable"] is True
    by = {c["component"]: c for c in body["components"]}
    assert by["service/attonix-server"] | {"message": ""} == {
        "component": "service/attonix-server",
        "state": "healthy",
        "desired": 3,
        "running": 3,
        "healthy": 3,
        "message": "",
    }
    assert by["service/orders-api"]["state"] == "degraded"
    assert by["frontend/attonix-console"]["state"] == "down"
    assert by["frontend/attonix-console"]["message"] == "crash"
    assert by["database/pg-main"]["state"] == "unknown"
    assert by["service/analytics-api"]["state"] == "unknown"
    assert "not reported by podman" in by["service/analytics-api"]["message"]
    assert not any(c.endswith("something-else") for c in by)


def test_status_without_a_stored_connection_says_so_and_asks_no_engine(
    ctx: ServerContext, client: TestClient, prod: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _fake(monkeypatch, FakeDriver([ServiceStatus("attonix-server", 1, 1, 1)]))
    _deploy(ctx, client, prod.headers, "succeeded")
    connections.delete_connection(
        ctx, environment="prod", cluster="podman-tools", actor=Actor("test")
    )
    body = client.get(f"{V}/environments/prod/status", headers=prod.headers).json()
    assert body["reachable"] is False and calls == []
    assert "cluster 'podman-tools' has no connection in environment 'prod'" in body["message"]


def test_status_of_an_unreachable_target_is_unknown_with_the_reason_never_a_500(
    ctx: ServerContext, client: TestClient, prod: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake(monkeypatch, FakeDriver([], fail=True))
    _deploy(ctx, client, prod.headers, "succeeded")
    r = client.get(f"{V}/environments/prod/status", headers=prod.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["reachable"] is False
    assert "podman does not answer" in body["message"]
    assert "hunter2" not in r.text  # the engine's stderr is not echoed
    assert {c["state"] for c in body["components"]} == {"unknown"}


def test_status_read_is_bounded_in_time(
    ctx: ServerContext, client: TestClient, prod: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake(monkeypatch, FakeDriver([ServiceStatus("attonix-server", 1, 1, 1)], hang=1.5))
    monkeypatch.setattr(status, "STATUS_TIMEOUT_SECONDS", 0.2)
    _deploy(ctx, client, prod.headers, "succeeded")
    started = time.monotonic()
    r = client.get(f"{V}/environments/prod/status", headers=prod.headers)
    assert time.monotonic() - started < 1.2
    body = r.json()
    assert r.status_code == 200 and body["reachable"] is False
    assert "did not answer within 0.2 s" in body["message"]
    assert {c["state"] for c in body["components"]} == {"unknown"}


def test_health_of_a_service() -> None:
    assert status.health_of(ServiceStatus("a", 2, 2, 2)) == "healthy"
    assert status.health_of(ServiceStatus("a", 2, 2, 1)) == "degraded"
    assert status.health_of(ServiceStatus("a", 2, 1, 1)) == "degraded"
    assert status.health_of(ServiceStatus("a", 2, 2, 0)) == "down"
    assert status.health_of(ServiceStatus("a", 0, 1, 1)) == "unknown"


# ------------------------------------------------------------------ rendered files


def test_rendered_files_list_their_component_size_and_digest(client: TestClient, prod: Any) -> None:
    base = f"{V}/environments/prod/blueprints/1/renders/kubernetes/files"
    r = client.get(base, headers=prod.headers)
    assert r.status_code == 200, r.text
    files = r.json()
    assert [f["path"] for f in files] == sorted(f["path"] for f in files)
    mine = [f for f in files if f["component"] == "database/pg-main"]
    assert any(f["path"].endswith("cluster-pg-main.yaml") for f in mine)
    assert any(f["component"] == "service/attonix-server" for f in files)
    assert any(f["component"] == "" for f in files)  # shared files name no component
    one = mine[0]
    got = client.get(f"{base}/{one['path']}", headers=prod.headers)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["path"] == one["path"] and body["component"] == "database/pg-main"
    assert body["size"] == one["size"] == len(body["text"].encode())
    assert body["sha256"] == one["sha256"] == hashlib.sha256(body["text"].encode()).hexdigest()
    assert "pg-main" in body["text"]
    missing = client.get(f"{base}/nope/../../etc/passwd", headers=prod.headers)
    assert missing.status_code == 404
    bad = client.get(f"{V}/environments/prod/blueprints/1/renders/nope/files", headers=prod.headers)
    assert bad.status_code == 400 and "kubernetes" in bad.json()["hint"]
    absent = client.get(
        f"{V}/environments/prod/blueprints/9/renders/kubernetes/files", headers=prod.headers
    )
    assert absent.status_code == 404


# ------------------------------------------------------------------ audit filters


def test_audit_filters_by_actor_action_target_and_time_with_paging(
    ctx: ServerContext, kit: Any, client: TestClient, prod: Any
) -> None:
    bob = kit.user("zed-op", roles={"prod": "operator"})
    _deploy(ctx, client, bob.headers, "awaiting_approval")
    _deploy(ctx, client, bob.headers, "awaiting_approval")
    h = prod.headers

    def get(**params: Any) -> list[dict[str, Any]]:
        r = client.get(f"{V}/audit", headers=h, params=params)
        assert r.status_code == 200, r.text
        return list(r.json())

    everything = get(limit=1000)
    assert len(everything) >= 5
    by_bob = get(actor="zed-op")
    assert by_bob and {e["actor"] for e in by_bob} == {"zed-op"}
    assert {e["action"] for e in by_bob} >= {"deployment.request"}
    assert get(actor="zed-o") == []  # exact, not a substring
    req = get(actor="zed-op", action="deployment.request")
    assert len(req) == 2 and {e["action"] for e in req} == {"deployment.request"}
    assert all(e["target"].startswith("deployment/") for e in get(target="deployment/"))
    assert get(target="deployment_") == []  # wildcards are literal
    assert get(target="environment/prod")[0]["action"] in ("environment.create", "blueprint.upload")

    # Time range: at or after ``since``, before ``until``.
    middle = everything[len(everything) // 2]
    at = dt.datetime.fromisoformat(middle["at"].replace("Z", "+00:00"))
    later = get(since=middle["at"], limit=1000)
    assert later[0]["seq"] == middle["seq"] and all(e["seq"] >= middle["seq"] for e in later)
    earlier = get(until=at.replace(tzinfo=None).isoformat(), limit=1000)
    assert earlier and earlier[-1]["seq"] == middle["seq"] - 1

    # Paging forwards (chain order) and backwards (newest first), with filters kept.
    page1 = get(limit=2)
    page2 = get(limit=2, after=page1[-1]["seq"])
    assert [e["seq"] for e in page1 + page2] == [e["seq"] for e in everything[:4]]
    newest = get(limit=2, order="desc")
    assert [e["seq"] for e in newest] == [everything[-1]["seq"], everything[-2]["seq"]]
    older = get(limit=2, order="desc", before=newest[-1]["seq"])
    assert [e["seq"] for e in older] == [everything[-3]["seq"], everything[-4]["seq"]]
    assert client.get(f"{V}/audit?order=sideways", headers=h).status_code == 422
    with ctx.db.session() as s:
        total = len(s.execute(select(AuditEntry.seq)).all())
    assert total == len(everything)


# ------------------------------------------------------------------ approval, typed shapes


def test_can_approve_follows_status_permission_and_the_two_person_rule(
    ctx: ServerContext, kit: Any, client: TestClient, prod: Any
) -> None:
    bob = kit.user("zed-op", roles={"prod": "operator"})
    dave = kit.user("zed-aud", roles={"prod": "auditor"})
    dep = _deploy(ctx, client, bob.headers, "awaiting_approval")
    url = f"{V}/environments/prod/deployments/{dep}"

    def view(who: Any) -> dict[str, Any]:
        return dict(client.get(url, headers=who.headers).json())

    assert view(bob)["two_person_rule"] is True
    assert view(bob)["can_approve"] is False  # the requester, in a two-person-rule env
    assert view(prod)["can_approve"] is True  # another operator or administrator
    assert view(dave)["can_approve"] is False  # no approve permission
    listed = client.get(f"{V}/environments/prod/deployments", headers=prod.headers).json()
    assert listed[0]["id"] == dep and listed[0]["can_approve"] is True
    # The server still refuses the requester whatever the console shows.
    r = client.post(f"{url}/decision", headers=bob.headers, json={"approve": True})
    assert r.status_code == 403 and "two-person rule" in r.json()["detail"]
    ok = client.post(f"{url}/decision", headers=prod.headers, json={"approve": True})
    assert ok.status_code == 200 and ok.json()["can_approve"] is False


def test_without_the_two_person_rule_the_requester_may_approve(
    ctx: ServerContext, client: TestClient, prod: Any
) -> None:
    assert "dev" not in ctx.settings.two_person_rule
    client.post(f"{V}/environments", headers=prod.headers, json={"name": "dev"})
    source = EXAMPLE.read_text(encoding="utf-8")
    client.post(f"{V}/environments/dev/blueprints", headers=prod.headers, json={"source": source})
    dep = _deploy(ctx, client, prod.headers, "awaiting_approval", env="dev")
    got = client.get(f"{V}/environments/dev/deployments/{dep}", headers=prod.headers).json()
    assert got["two_person_rule"] is False and got["can_approve"] is True


def test_plans_and_findings_are_typed(ctx: ServerContext, client: TestClient, prod: Any) -> None:
    dep = _deploy(ctx, client, prod.headers, "planning")
    with ctx.db.session() as s:
        s.execute(update(Deployment).where(Deployment.id == dep).values(status="planning"))
    planning = client.get(f"{V}/environments/prod/deployments/{dep}", headers=prod.headers).json()
    assert planning["plan"]["counts"] is None and planning["plan"]["changes"] == []
    job = jobs.run_one(ctx, "w")  # no podman here: the plan fails with the driver's sentence
    assert job is not None
    got = client.get(f"{V}/environments/prod/deployments/{dep}", headers=prod.headers).json()
    if got["status"] == "plan_failed":
        assert got["plan"]["error"] and got["plan"]["changes"] == []
    else:
        assert set(got["plan"]["counts"]) == {"create", "update", "delete", "unchanged"}
        assert all(set(c) == {"kind", "name", "action", "diff"} for c in got["plan"]["changes"])
    risky = EXAMPLE.read_text().replace("synchronous_replicas: 1", "synchronous_replicas: 0", 1)
    up = client.post(
        f"{V}/environments/prod/blueprints", headers=prod.headers, json={"source": risky}
    )
    found = up.json()["version"]["findings"]
    f = next(f for f in found if f["rule"] == "ATX002")
    assert f["severity"] == "high" and f["component"] == "database/pg-main"
    assert f["path"].startswith("databases[0]") and f["line"] > 0 and f["hint"]
    assert f["suppressed"] is False and f["suppression"] is None
    schemas = openapi_document()["components"]["schemas"]
    dep_props = schemas["DeploymentOut"]["properties"]
    assert dep_props["plan"]["$ref"].endswith("/PlanOut")
    assert dep_props["findings"]["items"]["$ref"].endswith("/FindingOut")
    assert schemas["VersionOut"]["properties"]["findings"]["items"]["$ref"].endswith("/FindingOut")
    problem = schemas["Problem"]["properties"]
    assert problem["diagnostics"]["items"]["$ref"] == "#/components/schemas/Diagnostic"
    assert "Diagnostic" in schemas and "FieldError" in schemas


def test_a_rejected_blueprint_problem_has_typed_diagnostics(client: TestClient, admin: Any) -> None:
    client.post(f"{V}/environments", headers=admin.headers, json={"name": "prod"})
    r = client.post(
        f"{V}/environments/prod/blueprints", headers=admin.headers, json={"source": "metadata: 3\n"}
    )
    assert r.status_code == 422
    diags = r.json()["diagnostics"]
    assert diags and {"code", "severity", "message", "line", "col", "path"} <= set(diags[0])
