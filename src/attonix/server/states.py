"""The server's own state machines: deployment and job states, events and one transition table.

Every status the server writes comes from here, and every change of status goes through
:func:`DEPLOYMENT.next` / :func:`JOB.next` (or their guarded SQL form, :meth:`Machine.sources`,
used as ``WHERE status IN (…)`` so that two replicas or workers racing for the same row
cannot both move it). In short::

    deployment: planning ─planned→ awaiting_approval ─approve→ approved ─start→ applying
                planning ─plan_fail→ plan_failed      awaiting_approval ─reject→ rejected
                applying ─succeed→ succeeded          applying ─fail→ failed
                applying ─resume→ applying (a retried apply job after its worker died)
                approved ─fail→ failed (an apply job that gave up before it started)
    job:        queued ─claim→ running ─succeed→ succeeded | ─fail→ failed
                running ─requeue→ queued (worker died with attempts left, or stopped gracefully)
                running ─abandon→ failed (worker died, no attempts left)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from attonix.server.errors import Conflict


class DeploymentStatus(StrEnum):
    """Where a deployment stands."""

    PLANNING = "planning"
    PLAN_FAILED = "plan_failed"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    APPLYING = "applying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class DeploymentEvent(StrEnum):
    """What can happen to a deployment."""

    PLANNED = "planned"
    PLAN_FAIL = "plan_fail"
    APPROVE = "approve"
    REJECT = "reject"
    START = "start"
    RESUME = "resume"
    SUCCEED = "succeed"
    FAIL = "fail"
    CANCEL = "cancel"


class JobStatus(StrEnum):
    """Where a background job stands."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class JobEvent(StrEnum):
    """What can happen to a job."""

    CLAIM = "claim"
    SUCCEED = "succeed"
    FAIL = "fail"
    REQUEUE = "requeue"
    ABANDON = "abandon"


S = TypeVar("S", bound=StrEnum)
E = TypeVar("E", bound=StrEnum)


class IllegalTransition(Conflict):
    """An event that the current state does not allow (HTTP 409)."""


@dataclass(frozen=True)
class Machine(Generic[S, E]):
    """A finite state machine given by its transition table ``(state, event) → state``."""

    name: str
    initial: S
    table: Mapping[tuple[S, E], S]
    terminal: frozenset[S]

    def next(self, state: S | str, event: E) -> S:
        """The state ``event`` leads to from ``state``; :class:`IllegalTransition` if none."""
        current = self._state(state)
        try:
            return self.table[(current, event)]
        except KeyError:
            allowed = sorted(e.value for (s, e) in self.table if s == current)
            raise IllegalTransition(
                f"A {self.name} that is {current.value} cannot {event.value}.",
                hint=(
                    f"From {current.value} it can: {', '.join(allowed)}."
                    if allowed
                    else f"{current.value} is final."
                ),
            ) from None

    def sources(self, event: E) -> frozenset[S]:
        """The states from which ``event`` is allowed (the guard of a conditional UPDATE)."""
        return frozenset(s for (s, e) in self.table if e == event)

    def target(self, event: E) -> S:
        """The one state ``event`` leads to (every event here has exactly one)."""
        targets = {t for (_, e), t in self.table.items() if e == event}
        (only,) = targets
        return only

    def events(self, state: S | str) -> frozenset[E]:
        """The events allowed from ``state``."""
        current = self._state(state)
        return frozenset(e for (s, e) in self.table if s == current)

    def is_terminal(self, state: S | str) -> bool:
        """Whether nothing more happens from ``state``."""
        return self._state(state) in self.terminal

    def _state(self, state: S | str) -> S:
        cls = type(self.initial)
        try:
            return cls(state)
        except ValueError:
            raise IllegalTransition(f"{state!r} is not a {self.name} state.") from None


_D, _DE = DeploymentStatus, DeploymentEvent
DEPLOYMENT: Machine[DeploymentStatus, DeploymentEvent] = Machine(
    name="deployment",
    initial=_D.PLANNING,
    table={
        (_D.PLANNING, _DE.PLANNED): _D.AWAITING_APPROVAL,
        (_D.PLANNING, _DE.PLAN_FAIL): _D.PLAN_FAILED,
        (_D.AWAITING_APPROVAL, _DE.APPROVE): _D.APPROVED,
        (_D.AWAITING_APPROVAL, _DE.REJECT): _D.REJECTED,
        # Its requester withdraws it before anyone decides.
        (_D.AWAITING_APPROVAL, _DE.CANCEL): _D.CANCELLED,
        (_D.APPROVED, _DE.START): _D.APPLYING,
        (_D.APPROVED, _DE.FAIL): _D.FAILED,
        # A retried apply job (its first worker died) finds the deployment applying already.
        (_D.APPLYING, _DE.RESUME): _D.APPLYING,
        (_D.APPLYING, _DE.SUCCEED): _D.SUCCEEDED,
        (_D.APPLYING, _DE.FAIL): _D.FAILED,
    },
    terminal=frozenset({_D.PLAN_FAILED, _D.REJECTED, _D.SUCCEEDED, _D.FAILED, _D.CANCELLED}),
)
"""The deployment state machine."""

_J, _JE = JobStatus, JobEvent
JOB: Machine[JobStatus, JobEvent] = Machine(
    name="job",
    initial=_J.QUEUED,
    table={
        (_J.QUEUED, _JE.CLAIM): _J.RUNNING,
        (_J.RUNNING, _JE.SUCCEED): _J.SUCCEEDED,
        (_J.RUNNING, _JE.FAIL): _J.FAILED,
        (_J.RUNNING, _JE.REQUEUE): _J.QUEUED,
        (_J.RUNNING, _JE.ABANDON): _J.FAILED,
    },
    terminal=frozenset({_J.SUCCEEDED, _J.FAILED}),
)
"""The job state machine."""

#: Deployment states in which nothing runs until a person acts (or nothing runs ever again):
#: a log stream can stop there.
DEPLOYMENT_AT_REST: frozenset[DeploymentStatus] = DEPLOYMENT.terminal | {
    DeploymentStatus.AWAITING_APPROVAL
}
