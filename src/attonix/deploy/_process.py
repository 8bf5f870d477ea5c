"""The only place in Attonix that starts processes.

Drivers call :func:`run` with an argv (never a shell string). A command that cannot be found
raises :class:`EngineUnavailable`; one that fails raises :class:`DeployError` naming the command,
its exit code and its truncated stderr. Standard input can carry a secret value: it is passed
through a pipe, never on the command line, and never appears in an error.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attonix.deploy.base import DeployError, EngineUnavailable, truncate

DEFAULT_TIMEOUT = 600.0

# What to do when an engine's CLI cannot reach its engine, by CLI name.
_UNREACHABLE_HINTS = {
    "docker": "Start dockerd (or fix DOCKER_HOST / its socket), then retry.",
    "podman": "Check that `podman info` works as this user, then retry.",
    "kubectl": "Point kubectl at the cluster (KUBECONFIG or --kubeconfig) and check that it "
    "answers (`kubectl version`), then retry.",
}


class TimedOut(DeployError):
    """A command did not finish within its time limit (it was killed)."""


@dataclass(frozen=True, slots=True)
class Completed:
    """What a finished command printed and returned."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout parsed as JSON, or as JSON lines when it holds one document per line."""
        text = self.stdout.strip()
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            try:
                return [json.loads(line) for line in text.splitlines() if line.strip()]
            except ValueError:
                raise DeployError(
                    f"`{shown(self.argv)}` printed output that is not JSON",
                    hint="The engine version may be unsupported; check its --format output.",
                    command=self.argv,
                    exit_code=self.returncode,
                    stderr=self.stdout,
                ) from None


def shown(argv: Sequence[str], limit: int = 160) -> str:
    """A command line for messages, shortened."""
    text = " ".join(argv)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def which(binary: str) -> str:
    """The absolute path of ``binary``, or :class:`EngineUnavailable` saying to install it."""
    path = shutil.which(binary)
    if path is None:
        raise EngineUnavailable(
            f"`{binary}` is not installed (not found on PATH)",
            hint=f"Install {binary} on this machine, or run Attonix where it is available.",
        )
    return path


def run(
    argv: Sequence[str],
    *,
    stdin: str | None = None,
    check: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    env: Mapping[str, str] | None = None,
    unavailable: Callable[[Completed], bool] | None = None,
) -> Completed:
    """Run ``argv`` and return its output; raise :class:`DeployError` if it fails and ``check``.

    ``unavailable`` recognises failures that mean the engine itself is down (an unreachable
    socket); those raise :class:`EngineUnavailable` instead, whatever ``check`` says.
    """
    args = tuple(argv)
    full_env = None if env is None else {**os.environ, **env}
    try:
        proc = subprocess.run(  # noqa: S603 - argv lists only, never a shell
            args,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
            check=False,
        )
    except FileNotFoundError:
        raise EngineUnavailable(
            f"`{args[0]}` is not installed (not found on PATH)",
            hint=f"Install {args[0]} on this machine, or run Attonix where it is available.",
            command=args,
        ) from None
    except subprocess.TimeoutExpired:
        raise TimedOut(
            f"`{shown(args)}` did not finish within {timeout:g} seconds",
            hint="The engine may be overloaded or hung; check it, then retry.",
            command=args,
        ) from None
    done = Completed(args, proc.returncode, proc.stdout, proc.stderr)
    if proc.returncode != 0 and unavailable is not None and unavailable(done):
        raise EngineUnavailable(
            f"`{args[0]}` cannot reach its engine: {last_line(proc.stderr)}",
            hint=_UNREACHABLE_HINTS.get(
                Path(args[0]).name, f"Start the {args[0]} engine (or fix its socket), then retry."
            ),
            command=args,
            exit_code=proc.returncode,
            stderr=proc.stderr,
        )
    if check and proc.returncode != 0:
        raise DeployError(
            f"`{shown(args)}` failed with exit code {proc.returncode}: "
            f"{truncate(last_line(proc.stderr) or last_line(proc.stdout), 400)}",
            command=args,
            exit_code=proc.returncode,
            stderr=proc.stderr,
        )
    return done


def last_line(text: str) -> str:
    """The last non-empty line of ``text``: engines print notices first and the reason last."""
    for line in reversed(text.splitlines()):
        if line.strip():
            return line.strip()
    return ""
