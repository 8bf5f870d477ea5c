"""The one protocol every live target implements, and the data it exchanges.

A driver works in two steps, like lightkube's prepare/send split: ``plan(desired)`` compares
the rendered artifacts with what the engine reports and returns a :class:`Plan` — plain data,
one :class:`Change` per resource with a readable diff — and ``apply(plan, ...)`` performs only
the I/O that plan lists. ``status()`` reports desired against running against healthy per
service; ``destroy()`` removes exactly what carries the blueprint's labels.

The DeployError branch of :mod:`attonix.errors` lives here::

    DeployError           a live system refused or failed a change (command, exit code, stderr)
    ├── EngineUnavailable the engine binary is missing or its socket/API does not answer
    ├── LockHeld          another apply to the same target and cluster is running
    ├── StalePlan         the live target changed since the plan was approved
    └── ConvergeFailed    the engine took the change but did not converge (rejected, rolled
                          back, paused, unhealthy, unschedulable, timed out), with its reason
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol

from typing_extensions import TypeVar

from attonix.errors import Error
from attonix.render.base import Artifact, dump_yaml

Action = Literal["create", "update", "delete", "unchanged"]
ACTIONS: tuple[Action, ...] = ("create", "update", "delete", "unchanged")
#: Callback receiving one human-readable line per step of an apply or destroy.
Progress = Callable[[str], None]

_STDERR_LIMIT = 2000

#: What a driver keeps in a change for its apply step: one dataclass per resource kind (a
#: union of them for a whole plan); plans of drivers that keep nothing untyped default to Any.
P = TypeVar("P", default=Any)
#: A change without a payload (typed Any so that it defaults any payload type).
_NONE: Any = None


class DeployError(Error):
    """A live system refused or failed a change.

    ``command`` is the argv (or API call) that failed, ``exit_code`` its status and ``stderr``
    its truncated error output; any of them may be empty when the failure was not a command.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str = "",
        command: Sequence[str] = (),
        exit_code: int | None = None,
        stderr: str = "",
    ) -> None:
        super().__init__(message, hint=hint)
        self.command = tuple(command)
        self.exit_code = exit_code
        self.stderr = truncate(stderr)


class EngineUnavailable(DeployError):
    """The engine (podman, dockerd, a Kubernetes API server) is missing or unreachable."""


class LockHeld(DeployError):
    """Another apply or destroy to the same target and cluster holds the lock."""


class StalePlan(DeployError):
    """The live target changed between the approved plan and the apply; nothing was applied."""


#: Why a service did not converge, as classified from the engine's structured state (task
#: states, update status, health status), never from the text of a message.
Failure = Literal[
    "rejected", "failing", "unhealthy", "unschedulable", "rolled_back", "paused", "timed_out"
]


class ConvergeFailed(DeployError):
    """The engine accepted the change but the service did not converge.

    ``service`` names it, ``failure`` says how it failed and ``reason`` is the engine's own
    explanation (a task error, the update status message, the health check output).
    """

    def __init__(self, *, service: str, failure: Failure, reason: str, hint: str = "") -> None:
        what = {
            "rejected": "the engine rejected its tasks",
            "failing": "its tasks keep failing",
            "unhealthy": "its health check fails",
            "unschedulable": "no node can run it",
            "rolled_back": "the update was rolled back",
            "paused": "the update was paused",
            "timed_out": "it did not become healthy in time",
        }[failure]
        super().__init__(
            f"service {service}: {what}" + (f": {reason}" if reason else ""),
            hint=hint
            or "Fix the cause in the blueprint or on the engine, then apply again; "
            "`attonix status` shows the service as the engine sees it.",
        )
        self.service = service
        self.failure: Failure = failure
        self.reason = truncate(reason, 1000)


def truncate(text: str, limit: int = _STDERR_LIMIT) -> str:
    """``text`` stripped and cut to ``limit`` characters, marking the cut."""
    text = text.strip()
    if len(text) <= limit:
        return text
    return text[:limit] + f"... [{len(text) - limit} more characters]"


def unified_diff(observed: Any, desired: Any, *, name: str) -> str:
    """A unified diff of two YAML-serialisable views (``None`` means absent)."""
    before = "" if observed is None else dump_yaml(observed)
    after = "" if desired is None else dump_yaml(desired)
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=f"live/{name}",
            tofile=f"blueprint/{name}",
        )
    )


@dataclass(frozen=True, slots=True)
class Change(Generic[P]):
    """What will happen to one live resource, and why (a diff of desired vs observed).

    ``desired`` and ``observed`` are the comparable views the diff was computed from; a
    driver keeps what its apply step needs in ``payload``, typed per resource kind (never a
    secret value).
    """

    kind: str
    name: str
    action: Action
    diff: str = ""
    desired: Any = None
    observed: Any = None
    payload: P = _NONE

    @property
    def key(self) -> str:
        """``kind/name``: unique inside a plan."""
        return f"{self.kind}/{self.name}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the payload stays private to the driver)."""
        return {"kind": self.kind, "name": self.name, "action": self.action, "diff": self.diff}


def compare(kind: str, name: str, *, desired: Any, observed: Any, payload: P = _NONE) -> Change[P]:
    """The change turning ``observed`` into ``desired``; either may be ``None`` (absent)."""
    if desired is None and observed is None:
        raise ValueError("compare() needs a desired or an observed view")
    if observed is None:
        action: Action = "create"
    elif desired is None:
        action = "delete"
    elif desired == observed:
        action = "unchanged"
    else:
        action = "update"
    diff = "" if action == "unchanged" else unified_diff(observed, desired, name=f"{kind}/{name}")
    return Change(
        kind=kind,
        name=name,
        action=action,
        diff=diff,
        desired=desired,
        observed=observed,
        payload=payload,
    )


@dataclass(frozen=True, slots=True)
class Plan(Generic[P]):
    """Every change a driver would make to converge ``target`` (and ``cluster``); ``P`` is
    the type of the changes' payloads."""

    target: str
    cluster: str
    changes: tuple[Change[P], ...] = ()

    @property
    def is_empty(self) -> bool:
        """True when nothing would change."""
        return all(c.action == "unchanged" for c in self.changes)

    @property
    def pending(self) -> list[Change[P]]:
        """The changes that are not ``unchanged``, in plan order."""
        return [c for c in self.changes if c.action != "unchanged"]

    def counts(self) -> dict[str, int]:
        """How many resources per action."""
        out: dict[str, int] = dict.fromkeys(ACTIONS, 0)
        for c in self.changes:
            out[c.action] += 1
        return out

    def of(self, action: Action, kind: str | None = None) -> list[Change[P]]:
        """The changes with ``action`` (and ``kind`` if given)."""
        return [c for c in self.changes if c.action == action and kind in (None, c.kind)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, stable for storage and display."""
        return {
            "target": self.target,
            "cluster": self.cluster,
            "empty": self.is_empty,
            "counts": self.counts(),
            "changes": [c.to_dict() for c in self.changes],
        }


@dataclass(slots=True)
class Result:
    """What an apply or destroy did, and what it did not get to (so a rerun can finish)."""

    target: str
    cluster: str
    done: list[str] = field(default_factory=list)
    not_done: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        """True when every step finished."""
        return not self.error and not self.not_done

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "target": self.target,
            "cluster": self.cluster,
            "ok": self.ok,
            "done": list(self.done),
            "not_done": list(self.not_done),
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """One service as the engine reports it: desired, running and healthy replicas."""

    name: str
    desired: int
    running: int
    healthy: int
    image: str = ""
    message: str = ""
    #: How the engine gave up on the service, if it did; ``reason`` is the engine's words.
    failure: Failure | None = None
    reason: str = ""
    #: True when the engine runs another spec than the blueprint asks for.
    drift: bool = False
    #: True while the engine is still rolling the spec out (or back).
    progressing: bool = False

    @property
    def converged(self) -> bool:
        """True when every desired replica runs healthy the blueprint's spec, and the engine
        reports no failed, paused or rolled-back update."""
        return (
            self.running == self.desired
            and self.healthy == self.desired
            and self.failure is None
            and not self.drift
            and not self.progressing
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "desired": self.desired,
            "running": self.running,
            "healthy": self.healthy,
            "image": self.image,
            "converged": self.converged,
            "message": self.message,
            "failure": self.failure,
            "reason": self.reason,
            "drift": self.drift,
            "progressing": self.progressing,
        }


def no_progress(message: str) -> None:
    """A progress callback that ignores every message."""


#: One step of an apply or destroy: a label for progress and results, and the action.
Step = tuple[str, Callable[[], object]]


def run_steps(target: str, cluster: str, steps: Sequence[Step], progress: Progress) -> Result:
    """Run labelled steps in order; on the first failure record it and what was not done."""
    result = Result(target, cluster)
    for i, (label, step) in enumerate(steps):
        progress(label)
        try:
            step()
        except DeployError as exc:
            result.error = f"{label}: {exc.message}"
            result.not_done = [lbl for lbl, _ in steps[i:]]
            return result
        result.done.append(label)
    return result


class Driver(Protocol):
    """One live target (and cluster): plan, apply, status, destroy."""

    target: str
    cluster: str

    def desired(self) -> list[Artifact]:
        """The rendered artifacts this driver converges towards (pure)."""
        ...

    def plan(self) -> Plan:
        """Compare :meth:`desired` with the engine; change nothing."""
        ...

    def apply(
        self, plan: Plan, progress: Progress = no_progress, *, timeout: float = 300
    ) -> Result:
        """Carry out ``plan``, then wait up to ``timeout`` seconds for healthy replicas."""
        ...

    def status(self) -> list[ServiceStatus]:
        """Desired, running and healthy replicas of every service of the blueprint."""
        ...

    def removals(self) -> list[str]:
        """What :meth:`destroy` would remove now, one line each (reads only), so that the
        CLI can list it before asking."""
        ...

    def destroy(self, progress: Progress = no_progress) -> Result:
        """Remove every resource carrying the blueprint's labels, and nothing else."""
        ...
