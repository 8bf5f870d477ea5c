"""What the drivers that drive an engine through its CLI share: who they deploy for, where
their state and lock live, how their engine says it cannot be reached, how secrets get their
versioned engine names, the locked apply and destroy around each driver's own steps, and how
an apply waits until the engine reports the new spec converged (or says why it will not)."""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from attonix.blueprint.model import Blueprint
from attonix.deploy import _process
from attonix.deploy.base import (
    ConvergeFailed,
    DeployError,
    Failure,
    Plan,
    Progress,
    Result,
    ServiceStatus,
    Step,
    no_progress,
    run_steps,
)
from attonix.deploy.connections import Connection, describe, probe
from attonix.deploy.credentials import ConsumerCredentials, FileCredentialStore
from attonix.deploy.secrets import SecretSource, version_tag
from attonix.deploy.state import TargetLock, secret_key, state_dir
from attonix.render.desired import SecretKeyRef

#: Failures an apply believes only when two looks in a row report them.
_SECOND_LOOK = ("unschedulable", "unhealthy")


class EngineDriver:
    """Base of the Swarm, Podman and Kubernetes drivers (one cluster of one blueprint)."""

    target: ClassVar[str]
    #: Seconds between two looks at the engine while waiting.
    poll_seconds: ClassVar[float] = 1.0
    #: stderr fragments by which the engine's CLI says it could not reach the engine.
    down_markers: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        blueprint: Blueprint,
        *,
        cluster: str,
        secrets: SecretSource,
        state: Path | None = None,
        connection: Connection | None = None,
    ) -> None:
        self.bp = blueprint
        self.cluster = cluster
        self._state = state
        self._given_secrets = secrets
        self.connection = connection

    @property
    def endpoint(self) -> str:
        """The engine endpoint this driver touches, in words (for plans, logs, the console)."""
        return describe(self.connection, target=self.target)

    def check_connection(self) -> None:
        """Raise a clear error naming the cluster when its engine is unreachable or refuses
        the connection's credentials (nothing to check for the local engine)."""
        probe(self.connection, cluster=self.cluster)

    def _state_dir(self) -> Path:
        return self._state or state_dir()

    @property
    def _secrets(self) -> SecretSource:
        """The given secret source, except that a service's database mount gets the service's
        own login from the credential store in the state directory."""
        store = FileCredentialStore(self._state_dir() / "credentials")
        return ConsumerCredentials(self.bp, self._given_secrets, store)

    def lock(self) -> TargetLock:
        """The lock that keeps two applies (or an apply and a destroy) of this cluster apart."""
        return TargetLock(self._state_dir(), target=self.target, cluster=self.cluster)

    def _secret_key(self) -> bytes:
        """This machine's key for the keyed tags in versioned secret names."""
        return secret_key(self._state_dir())

    @classmethod
    def _engine_down(cls, done: _process.Completed) -> bool:
        return any(m in done.stderr for m in cls.down_markers)

    # ------------------------------------------------------------------ secret versions

    def versioned(self, base: str, values: Mapping[str, str]) -> str:
        """The engine name of a secret holding ``values``: ``<base>-<tag>``, where the tag is
        keyed by this machine's key, so a changed value gets a new name (engine secrets are
        immutable or replaced whole) and the name does not reveal the value."""
        return f"{base}-{version_tag(values, key=self._secret_key())}"

    def key_value(self, ref: SecretKeyRef, cache: dict[str, dict[str, str]] | None = None) -> str:
        """The value of one key of a declared secret, from the secret source (``cache`` keeps
        each secret's values for one plan)."""
        values = cache.get(ref.secret) if cache is not None else None
        if values is None:
            values = self._secrets.get(ref.secret)
            if cache is not None:
                cache[ref.secret] = values
        value = values.get(ref.key)
        if value is None:
            raise DeployError(
                f"secret {ref.secret!r} has no key {ref.key!r} in the secret source",
                hint="Every key the blueprint declares for a secret needs a value.",
            )
        return value

    def versioned_keys(self, refs: Iterable[SecretKeyRef]) -> dict[SecretKeyRef, str]:
        """The versioned engine name of each secret key (one engine secret per key)."""
        cache: dict[str, dict[str, str]] = {}
        return {r: self.versioned(r.base, {"": self.key_value(r, cache)}) for r in refs}

    def key_for_apply(self, ref: SecretKeyRef, planned: str) -> str:
        """The value of ``ref`` to store under the name the plan gave it; raise when the
        value changed since the plan was made (its name would no longer be ``planned``)."""
        value = self.key_value(ref)
        if self.versioned(ref.base, {"": value}) != planned:
            raise DeployError(
                f"secret {ref.secret!r} changed after the plan was made",
                hint="Plan again, then apply the new plan.",
            )
        return value

    # ------------------------------------------------------------------ apply and destroy

    def apply(
        self, plan: Plan, progress: Progress = no_progress, *, timeout: float = 300
    ) -> Result:
        """Carry out ``plan`` under the cluster's lock: the driver's steps, in order, the
        first failure recorded with what was not done."""
        with self.lock().held(purpose="apply"):
            steps = self._apply_steps(plan, timeout=timeout)
            return run_steps(self.target, self.cluster, steps, progress)

    def _apply_steps(self, plan: Plan, *, timeout: float) -> list[Step]:
        """The labelled steps carrying out ``plan`` (the driver's own), taken under the lock."""
        raise NotImplementedError

    def removals(self) -> list[str]:
        """What :meth:`destroy` would remove now, one line each (reads only)."""
        return [label for label, _ in self._removal_steps() if not label.startswith("wait ")]

    def destroy(self, progress: Progress = no_progress) -> Result:
        """Remove every resource labelled for this cluster, under the cluster's lock."""
        with self.lock().held(purpose="destroy"):
            return run_steps(self.target, self.cluster, self._removal_steps(), progress)

    def _removal_steps(self) -> list[Step]:
        """What :meth:`destroy` would do now, one labelled step per resource (reads only)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ waiting

    def status(self) -> list[ServiceStatus]:
        """Desired, running and healthy replicas of every service (the driver's own)."""
        raise NotImplementedError

    def _rollout(self, names: Collection[str], since: Any) -> list[ServiceStatus]:
        """The status of ``names`` while an apply waits for them; ``since`` is what the
        driver noted before it changed the engine (so it can ignore older engine state)."""
        return [s for s in self.status() if s.name in names]

    def wait(self, names: Collection[str], *, timeout: float, since: Any = None) -> None:
        """Return once every service in ``names`` has converged; else raise
        :class:`ConvergeFailed` with the engine's reason.

        ``unschedulable`` and ``unhealthy`` must be reported by two looks in a row: a
        scheduler sets a passing error while it retries (a node briefly not ready), and on a
        busy host a few health checks in a row can time out before one passes and resets the
        streak. Every other failure (a rejected task, a rollback) is the engine's final word.
        """
        deadline = time.monotonic() + timeout
        seen: dict[str, Failure] = {}
        while True:
            statuses = self._rollout(names, since)
            now: dict[str, Failure] = {}
            for s in statuses:
                if s.failure is None:
                    continue
                if s.failure not in _SECOND_LOOK or seen.get(s.name) == s.failure:
                    raise ConvergeFailed(service=s.name, failure=s.failure, reason=s.reason)
                now[s.name] = s.failure
            seen = now
            pending = [s for s in statuses if not s.converged]
            if not pending and not now:
                return
            if time.monotonic() > deadline:
                s = pending[0]
                raise ConvergeFailed(
                    service=s.name,
                    failure="timed_out",
                    reason=f"{s.healthy}/{s.desired} healthy replicas after {timeout:g}s"
                    + (f"; {s.reason or s.message}" if s.reason or s.message else ""),
                    hint="Check `attonix status`; raise --timeout if the service starts slowly.",
                )
            time.sleep(self.poll_seconds)
