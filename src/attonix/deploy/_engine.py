"""What the drivers that drive an engine through its CLI share: who they deploy for, where
their state and lock live, and how their engine says it cannot be reached."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from attonix.blueprint.model import Blueprint
from attonix.deploy import _process
from attonix.deploy.secrets import SecretSource
from attonix.deploy.state import TargetLock, secret_key, state_dir


class EngineDriver:
    """Base of the Swarm, Podman and Kubernetes drivers (one cluster of one blueprint)."""

    target: ClassVar[str]
    #: stderr fragments by which the engine's CLI says it could not reach the engine.
    down_markers: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        blueprint: Blueprint,
        *,
        cluster: str,
        secrets: SecretSource,
        state: Path | None = None,
    ) -> None:
        self.bp = blueprint
        self.cluster = cluster
        self._secrets = secrets
        self._state = state

    def _state_dir(self) -> Path:
        return self._state or state_dir()

    def _lock(self) -> TargetLock:
        """The lock that keeps two applies (or an apply and a destroy) of this cluster apart."""
        return TargetLock(self._state_dir(), target=self.target, cluster=self.cluster)

    def _secret_key(self) -> bytes:
        """This machine's key for the keyed tags in versioned secret names."""
        return secret_key(self._state_dir())

    @classmethod
    def _engine_down(cls, done: _process.Completed) -> bool:
        return any(m in done.stderr for m in cls.down_markers)
