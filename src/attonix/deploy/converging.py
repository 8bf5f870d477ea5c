"""The one converge path, for the CLI and the Central Server's deployment jobs alike:

    lock → plan → compare with the approved plan → apply → wait → verify

* **lock** — the driver's per-target, per-cluster lock, held from the plan to the verdict: a
  plan taken while another apply runs would be stale, and a second apply is refused even when
  it would plan nothing;
* **compare** — a caller that had a plan approved (the server: a person approved it; the CLI:
  the user confirmed it on screen) applies only if the fresh plan is the same, change for
  change and diff for diff; otherwise :class:`StalePlan` and nothing is applied;
* **apply and wait** — the driver's ``apply`` performs the plan's I/O and waits until the
  engine reports the new spec converged, or raises the engine's reason (``ConvergeFailed``);
* **verify** — every service of the cluster must then be converged as ``status`` reads it
  (declared replicas healthy, the blueprint's spec running, no failed or rolled-back update),
  also when the plan was empty: "nothing to change" over a broken service is not success.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from attonix.deploy.base import (
    Driver,
    Plan,
    Progress,
    Result,
    ServiceStatus,
    StalePlan,
    no_progress,
)
from attonix.deploy.state import TargetLock, state_dir


@dataclass(slots=True)
class Outcome:
    """What one converge did: the plan it applied, the apply's result, the verified status."""

    plan: Plan
    result: Result
    statuses: list[ServiceStatus] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the apply finished and every service is converged."""
        return self.result.ok

    @property
    def error(self) -> str:
        """Why it is not ok ("" when it is)."""
        return self.result.error

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "plan": self.plan.to_dict(),
            "result": self.result.to_dict(),
            "status": [s.to_dict() for s in self.statuses],
        }


def comparable(plan: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """The part of a plan (its ``to_dict`` form) an approval covers: every change and diff."""
    return [(c["kind"], c["name"], c["action"], c.get("diff", "")) for c in plan.get("changes", [])]


def describe(status: ServiceStatus) -> str:
    """Why one service is not converged, in one line."""
    if status.failure is not None:
        what = status.failure.replace("_", " ")
        return f"service {status.name}: {what}" + (f": {status.reason}" if status.reason else "")
    counts = f"{status.healthy}/{status.desired} healthy, {status.running} running"
    return f"service {status.name}: {counts}" + (f"; {status.message}" if status.message else "")


def lock_of(driver: Driver) -> TargetLock:
    """The driver's own per-cluster lock (engine drivers), else the target's lock in the
    user's state directory: the same file either way for the same target and cluster."""
    own = getattr(driver, "lock", None)
    if callable(own):
        lock: TargetLock = own()
        return lock
    return TargetLock(state_dir(), target=driver.target, cluster=driver.cluster)


def check_connection(driver: Driver) -> None:
    """Let a driver with a cluster connection check it first: an unreachable engine, a wrong
    certificate or refused credentials then fail with the cluster's name, before any plan."""
    check = getattr(driver, "check_connection", None)
    if callable(check):
        check()


def endpoint_of(driver: Driver) -> str:
    """The endpoint a driver touches, in words ("" when the driver does not say)."""
    return str(getattr(driver, "endpoint", ""))


def _settled(driver: Driver, timeout: float) -> list[ServiceStatus]:
    """``driver.status()`` once no service is still being rolled out or back by the engine
    (an earlier apply's rollback can still run when this one finds nothing to change)."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = driver.status()
        moving = [s for s in statuses if s.progressing and s.failure is None]
        if not moving or time.monotonic() > deadline:
            return statuses
        time.sleep(1.0)


def converge(
    driver: Driver,
    *,
    approved: Mapping[str, Any] | None = None,
    show: Callable[[Plan], None] | None = None,
    confirm: Callable[[Plan], None] | None = None,
    progress: Progress = no_progress,
    timeout: float = 300,
) -> Outcome:
    """Bring ``driver``'s cluster to the blueprint, or say why not.

    ``approved`` is the plan (``Plan.to_dict()``) someone approved: the fresh plan must equal
    it. ``show`` sees the fresh plan first; ``confirm`` may raise to stop before anything
    changes (it is not called when there is nothing to change). Engine refusals and failed
    rollouts end in an :class:`Outcome` whose result carries the reason; a stale plan or a
    held lock raises.
    """
    check_connection(driver)
    with lock_of(driver).held(purpose="apply"):
        plan = driver.plan()
        if show is not None:
            show(plan)
        if approved is not None and comparable(plan.to_dict()) != comparable(approved):
            raise StalePlan(
                f"the live {plan.target} cluster {plan.cluster} changed since this plan was "
                "approved; nothing was applied",
                hint="Plan again and approve the new plan.",
            )
        if plan.is_empty:
            result = Result(plan.target, plan.cluster)
        else:
            if confirm is not None:
                confirm(plan)
            result = driver.apply(plan, progress, timeout=timeout)
        statuses: list[ServiceStatus] = []
        if result.ok:
            progress("verify that every service is converged")
            statuses = _settled(driver, timeout)
            bad = [s for s in statuses if not s.converged]
            if bad:
                result.error = "verify: " + "; ".join(describe(s) for s in bad[:3])
                result.not_done.append("verify")
            else:
                result.done.append("verify")
        return Outcome(plan, result, statuses)
