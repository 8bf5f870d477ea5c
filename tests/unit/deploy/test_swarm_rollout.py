"""The Swarm verdict from structured fields: update status and task states (no engine)."""

from __future__ import annotations

from typing import Any

from attonix.deploy.swarm.rollout import (
    Rollout,
    lost_nodes,
    service_status,
    sortable_time,
    verdict,
)

SPEC = {"ContainerSpec": {"Image": "img:2", "Env": ["A=1"]}, "Resources": {}}
OLD = {"ContainerSpec": {"Image": "img:1", "Env": ["A=1"]}}


def svc(update: dict[str, Any] | None = None, *, replicas: int = 1) -> dict[str, Any]:
    filled = {**SPEC, "ContainerSpec": {**SPEC["ContainerSpec"], "StopGracePeriod": 10**10}}
    out: dict[str, Any] = {
        "ID": "s1",
        "Spec": {
            "TaskTemplate": {**filled, "Runtime": "container"},
            "Mode": {"Replicated": {"Replicas": replicas}},
        },
    }
    if update is not None:
        out["UpdateStatus"] = update
    return out


def task(
    state: str,
    *,
    err: str = "",
    desired: str = "running",
    spec: Any = SPEC,
    at: str = "2026-01-01T00:00:01Z",
) -> dict[str, Any]:
    return {
        "ServiceID": "s1",
        "Spec": spec,
        "DesiredState": desired,
        "CreatedAt": at,
        "Status": {"State": state, "Err": err},
    }


def test_rejected_task_of_the_current_spec_is_rejected_with_the_engine_error() -> None:
    assert verdict(svc(), [task("rejected", err="No such image: img:2", desired="shutdown")]) == (
        "rejected",
        "No such image: img:2",
    )


def test_engine_filled_defaults_do_not_hide_the_current_spec() -> None:
    # the service spec carries Runtime and StopGracePeriod, the task's copy does not
    status = service_status("s", svc(), [task("running")], desired=1, orphan=False, drift=False)
    assert (status.running, status.healthy, status.converged) == (1, 1, True)


def test_a_rejected_task_of_an_older_spec_is_not_the_verdict() -> None:
    assert (
        verdict(
            svc(), [task("rejected", err="gone", desired="shutdown", spec=OLD), task("running")]
        )[0]
        is None
    )


def test_pending_with_a_scheduler_error_is_unschedulable_once_nothing_stops() -> None:
    pending = task(
        "pending", err="no suitable node (scheduling constraints not satisfied on 1 node)"
    )
    stopping = task("running", desired="shutdown", spec=OLD)
    assert verdict(svc(), [pending, stopping])[0] is None
    assert verdict(svc(), [pending])[0] == "unschedulable"


def test_three_failed_tasks_without_a_running_one_are_failing() -> None:
    failed = [
        task("failed", err="unhealthy container", desired="shutdown", at=f"2026-01-01T00:00:0{i}Z")
        for i in range(3)
    ]
    assert verdict(svc(), failed[:2])[0] is None
    assert verdict(svc(), failed) == ("failing", "unhealthy container")


def test_rolled_back_update_names_the_failed_task_error() -> None:
    update = {
        "State": "rollback_completed",
        "StartedAt": "2026-01-01T00:00:00Z",
        "Message": "rollback completed",
    }
    tasks = [task("rejected", err="No such image: img:2", desired="shutdown", spec=OLD)]
    assert verdict(svc(update), tasks) == (
        "rolled_back",
        "rollback completed; No such image: img:2",
    )
    # an apply waiting on a newer update ignores the status an earlier apply left behind
    assert verdict(svc(update), tasks, since=Rollout(started="2026-01-01T00:00:00Z"))[0] is None
    # status: rolled back to what the blueprint asks for is no failure, to another spec is
    ok = service_status("s", svc(update), [task("running")], desired=1, orphan=False, drift=False)
    bad = service_status("s", svc(update), [task("running")], desired=1, orphan=False, drift=True)
    assert ok.failure is None and ok.converged
    assert bad.failure == "rolled_back" and not bad.converged


def test_paused_and_updating() -> None:
    paused = {"State": "paused", "StartedAt": "2026-01-01T00:00:00Z", "Message": "update paused"}
    assert verdict(svc(paused), [])[0] == "paused"
    updating = {"State": "updating", "StartedAt": "2026-01-01T00:00:00Z"}
    status = service_status(
        "s", svc(updating), [task("running")], desired=1, orphan=False, drift=False
    )
    assert status.progressing and not status.converged


def test_engine_times_sort_as_text() -> None:
    assert sortable_time("2026-01-01T00:00:00.99Z") < sortable_time(
        "2026-01-01T00:00:00.990782113Z"
    )
    assert sortable_time("2026-01-01T00:00:00.99Z") == "2026-01-01T00:00:00.990000000Z"
    assert sortable_time("2026-01-01T00:00:01Z") > sortable_time("2026-01-01T00:00:00.999999999Z")


def _node(host: str, state: str, reach: str | None, zone: str) -> dict[str, Any]:
    node: dict[str, Any] = {
        "ID": f"{host}-0123456789abcdef",
        "Description": {"Hostname": host},
        "Spec": {"Labels": {"zone": zone}},
        "Status": {"State": state, "Addr": "10.79.0.11"},
    }
    if reach is not None:
        node["ManagerStatus"] = {"Reachability": reach}
    return node


def test_lost_nodes_name_down_nodes_and_unreachable_managers_only() -> None:
    nodes = [
        _node("n2", "ready", "reachable", "zone-2"),
        _node("n1", "down", "unreachable", "zone-1"),
        _node("w1", "ready", None, "zone-3"),
        _node("n3", "ready", "unreachable", "zone-3"),
    ]
    lost = lost_nodes(nodes)
    assert [s.name for s in lost] == ["node/n1", "node/n3"]
    assert all(not s.converged for s in lost)
    assert lost[0].message == (
        "node n1 (n1-012345678, zone=zone-1) is down; manager unreachable; last address 10.79.0.11"
    )
    assert lost[1].message.startswith("node n3 (n3-012345678, zone=zone-3) is ready; manager")
