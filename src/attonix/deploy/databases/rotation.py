"""Coordinated credential rotation: a new login first, consumers switched, the old one last.

One rotation replaces the login of one service's kind (owner, app or readonly) on one declared
database, in four persisted steps:

1. ``created``  — a new password is stored as a pending version, then a login of the next
   generation is created with the same group membership and verified by logging in with it;
2. ``switched`` — the pending version becomes current in the credential store and the
   optional ``switch`` hook runs (the CLI's: :func:`attonix.deploy.consumers.switch_consumers`,
   a rolling update of the consuming service through its Swarm, Podman or Kubernetes
   cluster): consumers that open a connection from now on use the new login. If the hook
   fails the rotation stops before this step is recorded, and a rerun repeats it;
3. ``drained``  — the old login holds no session any more (polled until ``drain_timeout``;
   at the timeout the rotation stops here, nothing is dropped, and a rerun resumes);
4. ``dropped``  — the old login is dropped and its credential versions forgotten.

The step reached is written (atomically, 0600) to ``rotations/<credential>.json`` under the
state directory after every step, so an interrupted rotation resumes where it stopped instead
of creating a third login; the file is removed once the rotation is done. Both logins are
valid between steps 1 and 4, which is what makes the switch lossless.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from attonix.deploy.base import Change, DeployError, Progress, no_progress
from attonix.deploy.credentials import credential_name
from attonix.deploy.databases._scram import new_password
from attonix.deploy.databases.desired import KINDS, DatabaseSpec
from attonix.deploy.databases.driver import DatabaseDriver, Server
from attonix.deploy.databases.engine import Adapter, Observed, Snapshot, Wanted, Work
from attonix.deploy.state import TargetLock

#: Called with the credential's name and its new values once the new version is current.
Switch = Callable[[str, dict[str, str]], None]


@dataclass
class RotationState:
    """Where one rotation stands (persisted after every step; never holds a password)."""

    credential: str
    database: str
    service: str
    kind: str
    old_login: str
    new_login: str
    generation: int
    version: int
    #: started, then created, switched, drained, dropped (the last step done).
    step: str = "started"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


class RotationStopped(DeployError):
    """A rotation stopped before its end; running it again resumes from ``state.step``."""

    def __init__(self, message: str, *, state: RotationState, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.state = state


def _state_path(directory: Path, credential: str) -> Path:
    return directory / "rotations" / f"{credential}.json"


def load_state(directory: Path, credential: str) -> RotationState | None:
    """The persisted state of an unfinished rotation, or ``None``."""
    path = _state_path(directory, credential)
    try:
        return RotationState(**json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        raise DeployError(
            f"the rotation state {path} cannot be read ({exc.__class__.__name__})",
            hint="Inspect it; delete it only if no rotation of this credential is under way.",
        ) from None


def _save(directory: Path, state: RotationState) -> None:
    path = _state_path(directory, state.credential)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(state.to_dict(), fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _find(driver: DatabaseDriver, database: str) -> tuple[Server, DatabaseSpec]:
    for server in driver.servers():
        for spec in server.specs:
            if spec.declared == database:
                return server, spec
    raise DeployError(
        f"database {database!r} is not declared, or no server is configured for it",
        hint="Check the blueprint's databases and the connections file.",
    )


def _wanted_login(
    adapter: Adapter, spec: DatabaseSpec, snapshot: Snapshot, service: str, kind: str, gen: int
) -> Wanted:
    """The desired login of ``gen`` (the adapter derives names and views, as for apply)."""
    label = spec.label(service=service, kind=kind, gen=gen)
    fake = Snapshot(dict(snapshot.objects))
    fake.objects[("login", f"generation-{gen}")] = Observed("login", "", {}, label)
    for want in adapter.wanted(spec, fake):
        if want.kind == "login" and want.label == label:
            return want
    raise DeployError(f"service {service!r} does not use database {spec.declared!r}")


def _credential(driver: DatabaseDriver, database: str, service: str, kind: str) -> str:
    """The credential a rotation replaces, after checking that the blueprint has it."""
    if kind not in KINDS:
        raise DeployError(f"unknown login kind {kind!r}", hint=f"One of: {', '.join(KINDS)}.")
    bp = driver.bp
    if service not in {s.name for s in bp.services.backend if database in s.databases}:
        raise DeployError(
            f"service {service!r} does not declare database {database!r}",
            hint="Rotate a login of a service listed under the database's consumers.",
        )
    return credential_name(bp, database, service, kind)


def preview(driver: DatabaseDriver, *, database: str, service: str, kind: str) -> RotationState:
    """What :func:`rotate` would do now, changing nothing: the login it replaces and the one it
    creates (or, if a rotation of this login stopped, where it would resume)."""
    credential = _credential(driver, database, service, kind)
    saved = load_state(driver.state_directory, credential)
    if saved is not None:
        return saved
    server, spec = _find(driver, database)
    with driver.adapters([server]) as adapters:
        adapter = adapters[server.key]
        snapshot = adapter.snapshot([spec])
        logins = snapshot.logins_of(spec.label(service=service, kind=kind))
        if not logins or logins[-1].label is None:
            raise DeployError(
                f"{service}'s {kind} login on {database!r} does not exist yet",
                hint="Apply the databases target first; rotation replaces a login.",
            )
        gen = logins[-1].label.generation + 1
        new = _wanted_login(adapter, spec, snapshot, service, kind, gen).name
    return RotationState(credential, database, service, kind, logins[-1].name, new, gen, 0)


def rotate(
    driver: DatabaseDriver,
    *,
    database: str,
    service: str,
    kind: str,
    progress: Progress = no_progress,
    switch: Switch | None = None,
    drain_timeout: float = 60.0,
    poll: float = 0.2,
) -> RotationState:
    """Rotate one login (starting, or resuming an interrupted rotation); return its end state."""
    credential = _credential(driver, database, service, kind)
    directory = driver.state_directory
    store = driver.credentials
    server, spec = _find(driver, database)
    lock = TargetLock(directory, target="databases", cluster=f"rotate-{credential}")
    with lock.held(purpose="rotate"), driver.adapters([server]) as adapters:
        adapter = adapters[server.key]
        snapshot = adapter.snapshot([spec])
        state = load_state(directory, credential)
        if state is None:
            logins = snapshot.logins_of(spec.label(service=service, kind=kind))
            if not logins or logins[-1].label is None:
                raise DeployError(
                    f"{service}'s {kind} login on {database!r} does not exist yet",
                    hint="Run `attonix apply -t databases` first; rotation replaces a login.",
                )
            gen = logins[-1].label.generation + 1
            want = _wanted_login(adapter, spec, snapshot, service, kind, gen)
            password = new_password()
            values = driver.credential_values(server.endpoint, spec, want.name, password)
            version = store.put(credential, values)
            state = RotationState(
                credential, database, service, kind, logins[-1].name, want.name, gen, version
            )
            _save(directory, state)
            progress(f"rotation of {credential}: new login {want.name} (generation {gen})")
        else:
            progress(f"resuming the rotation of {credential} after step {state.step!r}")
        _run(driver, adapter, server, spec, snapshot, state, progress, switch, drain_timeout, poll)
        return state


def _run(
    driver: DatabaseDriver,
    adapter: Adapter,
    server: Server,
    spec: DatabaseSpec,
    snapshot: Snapshot,
    state: RotationState,
    progress: Progress,
    switch: Switch | None,
    drain_timeout: float,
    poll: float,
) -> None:
    directory = driver.state_directory
    store = driver.credentials
    values = store.read(state.credential, state.version)
    if values is None:
        raise RotationStopped(
            f"the new version {state.version} of {state.credential} is missing from the store",
            state=state,
            hint="Restore the credential store, or drop the new login by hand and delete "
            f"{_state_path(directory, state.credential)} to start over.",
        )

    def step(name: str, message: str) -> None:
        state.step = name
        _save(directory, state)
        progress(message)

    if state.step == "started":
        if ("login", state.new_login) not in snapshot.objects:
            want = _wanted_login(
                adapter, spec, snapshot, state.service, state.kind, state.generation
            )
            change = Change("login", want.name, "create", payload=Work(server.key, want))
            adapter.execute(change, password=values["password"])
        adapter.check_login(spec, values["username"], values["password"])
        step("created", f"created and verified {state.new_login}")
    if state.step == "created":
        store.promote(state.credential, state.version)
        if switch is not None:
            try:
                switch(state.credential, values)
            except DeployError as exc:
                raise RotationStopped(
                    f"the consumers were not switched to {state.new_login}: {exc.message}",
                    state=state,
                    hint=exc.hint or "Run the same rotation again: it resumes at the switch.",
                ) from None
        step("switched", f"consumers switched to {state.new_login}")
    if state.step == "switched":
        deadline = time.monotonic() + drain_timeout
        while (left := adapter.sessions(state.old_login)) > 0:
            if time.monotonic() >= deadline:
                raise RotationStopped(
                    f"{left} session(s) still use the old login {state.old_login} after "
                    f"{drain_timeout:g} s; it was not dropped",
                    state=state,
                    hint="Restart or recycle the consumers' connections, then run the same "
                    "rotation again: it resumes here.",
                )
            time.sleep(poll)
        step("drained", f"no session uses {state.old_login} any more")
    if state.step == "drained":
        adapter.drop_login(state.old_login, spec=spec)
        store.forget(state.credential, keep=state.version)
        step("dropped", f"dropped {state.old_login}")
    with contextlib.suppress(FileNotFoundError):
        _state_path(directory, state.credential).unlink()
