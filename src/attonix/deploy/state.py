"""Local state of the deploy layer: where it lives, the per-target apply lock, and the key
that versions secret names.

The state directory is ``$ATTONIX_STATE_DIR``, else ``$XDG_STATE_HOME/attonix``, else
``~/.local/state/attonix``; it is created private (0700).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from attonix.deploy.base import DeployError, LockHeld

_KEY_FILE = "secret-version.key"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
# Locks this process holds: lock file -> [fd, depth, owning thread]. flock conflicts between
# two open file descriptions even inside one process, so a nested acquire by the holding
# thread (the CLI holds the lock across plan and apply, the driver takes it again in apply)
# reuses the held descriptor; any other thread is refused like another process.
_HELD: dict[Path, list[int]] = {}


def state_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The user's Attonix state directory, created with mode 0700 if missing."""
    env = os.environ if environ is None else environ
    if env.get("ATTONIX_STATE_DIR"):
        path = Path(env["ATTONIX_STATE_DIR"])
    elif env.get("XDG_STATE_HOME"):
        path = Path(env["XDG_STATE_HOME"]) / "attonix"
    else:
        path = Path.home() / ".local" / "state" / "attonix"
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise DeployError(
            f"cannot create the state directory {path}: {exc.strerror or exc}",
            hint="Set ATTONIX_STATE_DIR to a writable directory.",
        ) from None
    return path


def secret_key(directory: Path) -> bytes:
    """The local HMAC key for secret version tags, created (0600) on first use (and its
    directory, 0700, with it)."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / _KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        data = path.read_bytes()
        if len(data) >= 32:
            return data
        raise DeployError(
            f"the secret version key {path} is truncated",
            hint="Delete it; the next apply creates a new one and rotates the engine secrets.",
        ) from None
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


class TargetLock:
    """An exclusive, non-blocking lock per target and cluster (``fcntl.flock`` on a file).

    The holder writes who it is into the file so that a second apply can name it. The kernel
    drops the lock when the process dies, so a crashed apply never leaves a stale lock.
    """

    def __init__(self, directory: Path, *, target: str, cluster: str) -> None:
        name = _SAFE.sub("_", f"{target}-{cluster}")
        self.path = directory / "locks" / f"{name}.lock"
        self.target = target
        self.cluster = cluster
        self._fd: int | None = None

    def acquire(self, *, purpose: str = "apply") -> None:
        """Take the lock, or raise :class:`LockHeld` naming the current holder."""
        if self._fd is not None:
            return
        held = _HELD.get(self.path)
        if held is not None and held[2] == threading.get_ident():
            held[1] += 1
            self._fd = held[0]
            return
        if held is not None:
            raise self._held_elsewhere()
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise
            raise self._held_elsewhere() from None
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "purpose": purpose,
            "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        _HELD[self.path] = [fd, 1, threading.get_ident()]
        self._fd = fd

    def _held_elsewhere(self) -> LockHeld:
        return LockHeld(
            f"another Attonix operation on {self.target} cluster {self.cluster!r} is "
            f"running ({self.holder()})",
            hint=f"Wait for it to finish; the lock is {self.path}.",
        )

    def holder(self) -> str:
        """A description of who holds the lock, from the file's content."""
        try:
            info = json.loads(self.path.read_text(encoding="utf-8"))
            return f"{info['purpose']} by pid {info['pid']} on {info['host']} since {info['since']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "holder unknown"

    def release(self) -> None:
        """Drop the lock (idempotent); a nested holder leaves it to the outer one."""
        if self._fd is None:
            return
        self._fd = None
        held = _HELD.get(self.path)
        if held is None:
            return
        held[1] -= 1
        if held[1] > 0:
            return
        del _HELD[self.path]
        fd = held[0]
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    @contextlib.contextmanager
    def held(self, *, purpose: str = "apply") -> Iterator[TargetLock]:
        """Context manager form of :meth:`acquire` / :meth:`release`."""
        self.acquire(purpose=purpose)
        try:
            yield self
        finally:
            self.release()
