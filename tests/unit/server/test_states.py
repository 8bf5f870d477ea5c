"""The typed deployment and job state machines, and that the server moves states only through
them (guarded, so a duplicated or late job cannot move a deployment twice)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from attonix.server import jobs
from attonix.server.context import ServerContext
from attonix.server.db.models import Deployment, Job
from attonix.server.states import (
    DEPLOYMENT,
    DEPLOYMENT_AT_REST,
    JOB,
    DeploymentEvent,
    DeploymentStatus,
    IllegalTransition,
    JobEvent,
    JobStatus,
    Machine,
)

V = "/api/v1"
SERVER = Path(__file__).resolve().parents[3] / "src" / "attonix" / "server"
SHOP = Path(__file__).resolve().parents[2] / "fixtures" / "deploy" / "shop.yaml"


def _reachable(machine: Machine[Any, Any], start: Any = None) -> set[Any]:
    """Every state reachable from ``start`` (default: the initial state), itself included."""
    start = machine.initial if start is None else start
    seen, todo = {start}, [start]
    while todo:
        state = todo.pop()
        for event in machine.events(state):
            nxt = machine.next(state, event)
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


@pytest.mark.parametrize("machine", [DEPLOYMENT, JOB], ids=["deployment", "job"])
def test_every_state_is_reachable_and_final_states_have_no_way_out(
    machine: Machine[Any, Any],
) -> None:
    states = set(type(machine.initial))
    assert _reachable(machine) == states
    for state in states:
        assert (not machine.events(state)) == machine.is_terminal(state), state
        # every non-final state leads to a final one
        assert machine.is_terminal(state) or _ends(machine, state)


def _ends(machine: Machine[Any, Any], start: Any) -> bool:
    return any(machine.is_terminal(s) for s in _reachable(machine, start))


def test_the_deployment_path_and_its_guards() -> None:
    s = DEPLOYMENT.initial
    assert s is DeploymentStatus.PLANNING
    for event, want in [
        (DeploymentEvent.PLANNED, "awaiting_approval"),
        (DeploymentEvent.APPROVE, "approved"),
        (DeploymentEvent.START, "applying"),
        (DeploymentEvent.RESUME, "applying"),
        (DeploymentEvent.SUCCEED, "succeeded"),
    ]:
        s = DEPLOYMENT.next(s, event)
        assert s == want
    assert DEPLOYMENT.sources(DeploymentEvent.START) == {DeploymentStatus.APPROVED}
    assert DEPLOYMENT.sources(DeploymentEvent.FAIL) == {"approved", "applying"}
    assert DEPLOYMENT.target(DeploymentEvent.REJECT) is DeploymentStatus.REJECTED
    assert DeploymentStatus.AWAITING_APPROVAL in DEPLOYMENT_AT_REST
    assert DeploymentStatus.APPLYING not in DEPLOYMENT_AT_REST


def test_an_illegal_move_is_a_409_that_says_what_is_allowed() -> None:
    with pytest.raises(IllegalTransition) as exc:
        DEPLOYMENT.next("succeeded", DeploymentEvent.START)
    assert exc.value.status == 409
    assert exc.value.message == "A deployment that is succeeded cannot start."
    assert exc.value.hint == "succeeded is final."
    with pytest.raises(IllegalTransition) as exc:
        DEPLOYMENT.next(DeploymentStatus.AWAITING_APPROVAL, DeploymentEvent.SUCCEED)
    assert exc.value.hint == "From awaiting_approval it can: approve, cancel, reject."
    with pytest.raises(IllegalTransition, match="'exploded' is not a job state"):
        JOB.next("exploded", JobEvent.CLAIM)
    assert JOB.next(JobStatus.RUNNING, JobEvent.REQUEUE) is JobStatus.QUEUED


def test_no_status_string_outside_the_state_module() -> None:
    """Statuses are written and compared only through the enums (strings in messages are
    fine: only bare constants equal to a status name are flagged)."""
    names = {s.value for s in DeploymentStatus} | {s.value for s in JobStatus}
    found = []
    for path in sorted(SERVER.rglob("*.py")):
        if path.name == "states.py" or "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in names:
                found.append(f"{path.relative_to(SERVER)}:{node.lineno}: {node.value!r}")
    assert found == []


def _deployment(ctx: ServerContext, client: TestClient, admin: Any) -> int:
    client.post(f"{V}/environments", headers=admin.headers, json={"name": "lab"})
    r = client.post(
        f"{V}/environments/lab/blueprints",
        headers=admin.headers,
        json={"source": SHOP.read_text(encoding="utf-8")},
    )
    assert r.status_code == 201, r.text
    r = client.post(
        f"{V}/environments/lab/deployments",
        headers=admin.headers,
        json={"version": 1, "target": "podman"},
    )
    assert r.status_code == 202, r.text
    return int(r.json()["id"])


def test_a_duplicated_apply_job_cannot_apply_a_finished_deployment_again(
    ctx: ServerContext, client: TestClient, admin: Any
) -> None:
    dep = _deployment(ctx, client, admin)
    with ctx.db.session() as s:
        s.execute(update(Job).values(status=JobStatus.SUCCEEDED))  # the plan job: done
        s.execute(
            update(Deployment)
            .where(Deployment.id == dep)
            .values(status=DeploymentStatus.SUCCEEDED, plan={"changes": []})
        )
        job = jobs.enqueue(s, "deploy.apply", {"deployment": dep})
        job.deployment_id = dep
    ran = jobs.run_one(ctx, "w")
    assert ran is not None and ran.kind == "deploy.apply"
    with ctx.db.session() as s:
        row = s.get(Job, ran.id)
        d = s.get(Deployment, dep)
        assert row is not None and d is not None
        assert row.status == JobStatus.FAILED
        assert row.error == "A deployment that is succeeded cannot start."
        assert d.status == DeploymentStatus.SUCCEEDED  # untouched: nothing applied again


def test_approving_twice_enqueues_one_apply(
    ctx: ServerContext, client: TestClient, admin: Any
) -> None:
    dep = _deployment(ctx, client, admin)
    with ctx.db.session() as s:
        s.execute(update(Job).values(status=JobStatus.SUCCEEDED))
        s.execute(
            update(Deployment)
            .where(Deployment.id == dep)
            .values(status=DeploymentStatus.AWAITING_APPROVAL)
        )
    url = f"{V}/environments/lab/deployments/{dep}/decision"
    first = client.post(url, headers=admin.headers, json={"approve": True})
    second = client.post(url, headers=admin.headers, json={"approve": True})
    assert first.status_code == 200 and first.json()["status"] == "approved"
    assert second.status_code == 409
    with ctx.db.session() as s:
        applies = s.query(Job).filter(Job.kind == "deploy.apply").count()
    assert applies == 1
