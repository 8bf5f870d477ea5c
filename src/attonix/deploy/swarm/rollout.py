"""How far a Swarm service got towards its spec, from ``docker service inspect`` and the
``docker inspect`` documents of its tasks — pure, so every engine verdict is tested offline.

The verdict is read from structured fields only:

* ``UpdateStatus.State`` — ``paused`` and ``rollback_paused`` are ``paused``;
  ``rollback_started`` and ``rollback_completed`` are ``rolled_back``; ``updating`` is still
  in progress. Its ``Message`` and the error of the task that made the update fail are the
  reason.
* the tasks of the current spec (whose copy of the spec is the service's) — ``Status.State``
  ``rejected`` is ``rejected``; three ``failed`` ones are ``failing`` (a crash loop or a
  health check that never passes); ``pending`` with an ``Err`` set by the scheduler, once no
  older task is still stopping to make room, is ``unschedulable``. ``Status.Err`` is the
  reason.

Swarm marks a task with a health check ``running`` only once it is healthy, so running tasks
of the current spec are the healthy replicas.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from attonix.deploy.base import Failure, ServiceStatus

#: Failed tasks of one spec after which a service is reported ``failing``.
FAILED_TASKS = 3
_PAUSED = ("paused", "rollback_paused")
#: Task states after which a task holds nothing on its node any more.
_TERMINAL = ("complete", "failed", "shutdown", "rejected", "orphaned", "remove")
_ROLLED_BACK = ("rollback_started", "rollback_completed")
_TIME = re.compile(r"^(?P<base>[^.Z+]+)(?:\.(?P<frac>[0-9]+))?(?P<zone>Z|[+-][0-9:]+)$")


def sortable_time(stamp: str) -> str:
    """An engine timestamp (RFC 3339, nanoseconds, trailing zeros trimmed) in a form that
    sorts as text: the fraction padded to nine digits."""
    m = _TIME.match(stamp or "")
    if m is None:
        return stamp or ""
    return f"{m['base']}.{(m['frac'] or '').ljust(9, '0')[:9]}{m['zone']}"


@dataclass(frozen=True, slots=True)
class Rollout:
    """What an apply noted about a service before changing it."""

    #: ``UpdateStatus.StartedAt`` before the apply ("" if none): an update status that still
    #: carries this start is the previous apply's, not this one's verdict.
    started: str = ""


#: Fields the engine fills in on the service spec but not on its tasks' copies of it.
_FILLED = ("Runtime", "StopGracePeriod", "Privileges", "DNSConfig", "Isolation", "Init")


def _pruned(value: Any) -> Any:
    """``value`` without empty members and engine-filled defaults (for spec equality)."""
    if isinstance(value, dict):
        out = {k: _pruned(v) for k, v in value.items() if k not in _FILLED}
        return {k: v for k, v in out.items() if v not in (None, {}, [], "", False)}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def _current(svc: dict[str, Any], tasks: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tasks that run the service's current spec (each task holds a copy of the spec it
    was created from, as Swarm's own updater compares them)."""
    want = _pruned(svc.get("Spec", {}).get("TaskTemplate", {}))
    return [t for t in _mine(svc, tasks) if _pruned(t.get("Spec", {})) == want]


def _newest(tasks: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(tasks, key=lambda t: sortable_time(t.get("CreatedAt", "")), reverse=True)


def _err(task: dict[str, Any]) -> str:
    return str(task.get("Status", {}).get("Err", "")).strip()


def verdict(
    svc: dict[str, Any], tasks: Sequence[dict[str, Any]], *, since: Rollout | None = None
) -> tuple[Failure | None, str]:
    """How the engine gave up on ``svc`` (or None) and its reason, from structured fields.

    ``since`` (while an apply waits) hides an update status left by an earlier apply.
    """
    update = svc.get("UpdateStatus") or {}
    state = update.get("State", "")
    fresh = since is None or update.get("StartedAt", "") != since.started
    current = _current(svc, tasks)
    errors = [_err(t) for t in _newest(current) if _err(t)]
    if fresh and state in (*_PAUSED, *_ROLLED_BACK):
        failure: Failure = "paused" if state in _PAUSED else "rolled_back"
        # The task that failed the update ran the new spec: its error is the real reason.
        task_errors = [_err(t) for t in _newest(_mine(svc, tasks)) if _err(t)]
        parts = [str(update.get("Message", "")).strip(), *task_errors[:1]]
        return failure, "; ".join(p for p in parts if p)
    live = [t for t in current if t.get("DesiredState") in ("running", "ready")]
    # While an old task still stops, the scheduler waits for the room (a host port, memory)
    # it frees: a pending error then is not yet the verdict.
    stopping = [
        t
        for t in _mine(svc, tasks)
        if t.get("DesiredState") in ("shutdown", "remove")
        and t["Status"].get("State") not in _TERMINAL
    ]
    for t in _newest(live):
        if t["Status"].get("State") == "pending" and _err(t) and not stopping:
            return "unschedulable", _err(t)
    rejected = [t for t in current if t["Status"].get("State") == "rejected"]
    if rejected:
        return "rejected", _err(_newest(rejected)[0])
    failed = [t for t in current if t["Status"].get("State") == "failed"]
    running = [t for t in live if t["Status"].get("State") == "running"]
    if len(failed) >= FAILED_TASKS and not running:
        return "failing", _err(_newest(failed)[0])
    return None, errors[0] if errors else ""


def _mine(svc: dict[str, Any], tasks: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for t in tasks if t.get("ServiceID") == svc.get("ID")]


def updating(svc: dict[str, Any], *, since: Rollout | None = None) -> bool:
    """True while the engine is still rolling out (or back) this apply's update."""
    update = svc.get("UpdateStatus") or {}
    if since is not None and update.get("StartedAt", "") == since.started:
        return False
    return update.get("State") in ("updating", "rollback_started")


def service_status(
    name: str,
    svc: dict[str, Any],
    tasks: Sequence[dict[str, Any]],
    *,
    desired: int,
    orphan: bool,
    drift: bool,
    since: Rollout | None = None,
) -> ServiceStatus:
    """The status of one live service: counts of the current spec's tasks and the verdict."""
    current = [t for t in _current(svc, tasks) if t.get("DesiredState") == "running"]
    running = sum(1 for t in current if t["Status"]["State"] in ("starting", "running"))
    healthy = sum(1 for t in current if t["Status"]["State"] == "running")
    spec_replicas = svc["Spec"].get("Mode", {}).get("Replicated", {}).get("Replicas", 0)
    failure, reason = verdict(svc, tasks, since=since)
    if failure == "rolled_back" and not drift and since is None:
        # Rolled back to exactly what the blueprint asks for: nothing is wrong any more.
        failure, reason = None, ""
    notes: list[str] = []
    if updating(svc, since=since):
        notes.append("update in progress")
    if orphan:
        notes.append("not in the blueprint (will be removed)")
    elif desired != spec_replicas:
        notes.append(f"engine wants {spec_replicas} replicas (drift)")
    elif drift:
        notes.append("the engine runs another spec than the blueprint (drift)")
    if reason and failure is None and healthy < desired:
        notes.append(reason)
    image = svc["Spec"]["TaskTemplate"]["ContainerSpec"].get("Image", "").split("@", 1)[0]
    return ServiceStatus(
        name,
        desired,
        running,
        healthy,
        image=image,
        message="; ".join(notes),
        failure=failure,
        reason=reason,
        drift=drift and not orphan,
        progressing=updating(svc, since=since),
    )


def lost_nodes(nodes: Sequence[dict[str, Any]]) -> list[ServiceStatus]:
    """One entry per node the swarm has lost, from ``docker node inspect``: its
    ``Status.State`` is not ``ready``, or it is a manager whose
    ``ManagerStatus.Reachability`` is not ``reachable``. Named ``node/<host name>`` and never
    converged, so that ``status`` names the lost node and exits non-zero."""
    out = []
    for node in sorted(nodes, key=lambda n: n.get("Description", {}).get("Hostname", "")):
        state = (node.get("Status") or {}).get("State", "unknown")
        manager = node.get("ManagerStatus")
        reach = (manager or {}).get("Reachability", "")
        if state == "ready" and (manager is None or reach == "reachable"):
            continue
        host = (node.get("Description") or {}).get("Hostname", "") or node.get("ID", "")[:12]
        labels = (node.get("Spec") or {}).get("Labels") or {}
        where = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
        what = [
            f"node {host} ({node.get('ID', '')[:12]}{', ' + where if where else ''}) is {state}"
        ]
        if manager is not None:
            what.append(f"manager {reach or 'unknown'}")
        addr = (node.get("Status") or {}).get("Addr", "")
        out.append(
            ServiceStatus(
                name=f"node/{host}",
                desired=1,
                running=0,
                healthy=0,
                message="; ".join(what) + (f"; last address {addr}" if addr else ""),
            )
        )
    return out
