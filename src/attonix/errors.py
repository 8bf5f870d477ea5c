"""The root of every error Attonix raises on purpose.

The tree, as users meet it::

    Error
    ├── BlueprintInvalid      the blueprint cannot be loaded (carries every diagnostic)
    ├── RenderError           a renderer produced something its target would refuse
    ├── DeployError           a live system refused or failed a change
    │   ├── EngineUnavailable the engine (podman, dockerd, API server) is missing or unreachable
    │   └── LockHeld          another apply to the same target is running
    └── ServerError           a Central Server operation failed (mapped to HTTP in one place)

Anything else escaping to the CLI is a bug, and is reported as one.
"""

from __future__ import annotations


class Error(Exception):
    """Base of every error Attonix raises deliberately; its message is meant for users."""

    #: One sentence on what to do about it, shown after the message.
    hint: str = ""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        if hint:
            self.hint = hint

    @property
    def message(self) -> str:
        """The user-facing message, without the hint."""
        return str(self.args[0]) if self.args else ""
