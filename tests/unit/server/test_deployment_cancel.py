"""A requester cancels their own deployment while it awaits approval; nobody else can, and
nothing that has been decided can be cancelled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from attonix.server.context import ServerContext
from attonix.server.db.models import AuditEntry, Deployment
from attonix.server.states import DEPLOYMENT, DeploymentStatus

V = "/api/v1"
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "attonixcorp.yaml"


def _awaiting(ctx: ServerContext, client: TestClient, admin: Any, kit: Any) -> tuple[int, Any]:
    client.post(f"{V}/environments", headers=admin.headers, json={"name": "prod"})
    r = client.post(
        f"{V}/environments/prod/blueprints",
        headers=admin.headers,
        json={"source": EXAMPLE.read_text(encoding="utf-8")},
    )
    assert r.status_code == 201, r.text
    bob = kit.user("bob-c", roles={"prod": "operator"})
    r = client.post(
        f"{V}/environments/prod/deployments",
        headers=bob.headers,
        json={"version": 1, "target": "podman"},
    )
    dep = int(r.json()["id"])
    with ctx.db.session() as s:  # as if the plan job had finished
        s.execute(update(Deployment).where(Deployment.id == dep).values(status="awaiting_approval"))
    return dep, bob


def test_the_requester_cancels_a_pending_deployment(
    ctx: ServerContext, client: TestClient, admin: Any, kit: Any
) -> None:
    dep, bob = _awaiting(ctx, client, admin, kit)
    url = f"{V}/environments/prod/deployments/{dep}"
    seen = client.get(url, headers=bob.headers).json()
    assert seen["can_cancel"] is True
    assert client.get(url, headers=admin.headers).json()["can_cancel"] is False
    other = client.post(f"{url}/cancel", headers=admin.headers)
    assert other.status_code == 403 and "only its requester" in other.json()["detail"]
    r = client.post(f"{url}/cancel", headers=bob.headers)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert r.json()["can_cancel"] is False
    again = client.post(f"{url}/cancel", headers=bob.headers)
    assert again.status_code == 409 and "awaiting approval" in again.json()["detail"]
    approve = client.post(f"{url}/decision", headers=admin.headers, json={"approve": True})
    assert approve.status_code == 409
    with ctx.db.session() as s:
        actions = [(e.actor, e.action) for e in s.execute(select(AuditEntry)).scalars()]
    assert ("bob-c", "deployment.cancel") in actions


def test_an_approved_deployment_cannot_be_cancelled(
    ctx: ServerContext, client: TestClient, admin: Any, kit: Any
) -> None:
    dep, bob = _awaiting(ctx, client, admin, kit)
    url = f"{V}/environments/prod/deployments/{dep}"
    assert client.post(f"{url}/decision", headers=admin.headers, json={"approve": True}).is_success
    r = client.post(f"{url}/cancel", headers=bob.headers)
    assert r.status_code == 409


def test_cancelled_is_final() -> None:
    assert DEPLOYMENT.is_terminal(DeploymentStatus.CANCELLED)
    from attonix.server.states import DeploymentEvent

    assert DEPLOYMENT.sources(DeploymentEvent.CANCEL) == {DeploymentStatus.AWAITING_APPROVAL}


def test_vsphere_is_a_deployment_target_and_an_unknown_target_is_refused(
    client: TestClient, admin: Any
) -> None:
    client.post(f"{V}/environments", headers=admin.headers, json={"name": "prod"})
    source = EXAMPLE.read_text(encoding="utf-8")
    r = client.post(
        f"{V}/environments/prod/blueprints", headers=admin.headers, json={"source": source}
    )
    assert r.status_code == 201, r.text
    url = f"{V}/environments/prod/deployments"
    r = client.post(url, headers=admin.headers, json={"version": 1, "target": "vsphere"})
    assert r.status_code == 202, r.text
    assert r.json()["target"] == "vsphere"
    r = client.post(url, headers=admin.headers, json={"version": 1, "target": "openstack"})
    assert r.status_code == 422
