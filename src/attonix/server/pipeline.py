"""The one place the server calls the layers below: load, check, render, plan, apply.

The CLI calls the same functions of those layers; keeping the server's calls here means a
change of their signatures is one edit.

Loading, checking and rendering are pure functions of the blueprint's text, so their results
are cached by content hash (per process, least recently used first out): an identical
re-upload, the same text in another environment, and every later read of a stored version
reuse them. The key holds everything else the result depends on: the file name (it is in
every diagnostic and finding), the Attonix version, and for findings the policy
configuration (the rules, their severities and whether they can be waived) and the day
(blueprint exceptions expire). ``cache_stats`` counts what was computed and what was reused.
"""

from __future__ import annotations

import copy
import datetime as dt
import difflib
import hashlib
import io
import logging
import tarfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from attonix import __version__
from attonix.blueprint import Loaded, load_bytes
from attonix.deploy import (
    Driver,
    Outcome,
    Progress,
    SecretSource,
    cluster_for,
    get_driver,
)
from attonix.deploy import converge as converge_driver
from attonix.deploy.base import Plan, ServiceStatus
from attonix.deploy.connections import Connection, ConnectionsFile
from attonix.deploy.converging import check_connection, endpoint_of
from attonix.policy import RULES, check
from attonix.policy.components import workloads
from attonix.render.base import Artifact
from attonix.render.registry import TARGETS, render

RENDER_TARGETS = tuple(sorted(TARGETS))
__all__ = [
    "RENDER_TARGETS",
    "Loaded",
    "ServiceStatus",
    "cache_stats",
    "clear_cache",
    "cluster_of",
    "converge",
    "diff_lines",
    "driver",
    "findings",
    "load",
    "plan",
    "plan_lines",
    "render_target",
    "rotate",
    "rotation_plan",
    "status",
    "status_components",
    "tarball",
]


log = logging.getLogger(__name__)
T = TypeVar("T")


class _Lru:
    """A small thread-safe least-recently-used map that counts computations and reuses."""

    def __init__(self, kind: str, size: int) -> None:
        self.kind, self.size = kind, size
        self.items: OrderedDict[Hashable, Any] = OrderedDict()
        self.lock = threading.Lock()
        self.computed = self.reused = 0

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                self.reused += 1
                hit: T = self.items[key]
                return hit
        value = compute()  # outside the lock: a slow render must not block other keys
        with self.lock:
            self.computed += 1
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        log.debug("pipeline cache: computed %s", self.kind)
        return value


# Sizes: a loaded 10,000-service blueprint is tens of MB, its Kubernetes render a few hundred.
_LOADS = _Lru("load", 16)
_FINDINGS = _Lru("findings", 32)
_RENDERS = _Lru("render", 4)
_DIFFS = _Lru("diff", 8)


def _policy_fingerprint() -> str:
    """What of the policy configuration changes findings: each rule's id, severity, area and
    whether it can be waived (a rule's logic changes with the Attonix version, also keyed)."""
    spec = sorted((r.id, str(r.severity), str(r.area), r.waivable) for r in RULES)
    return hashlib.sha256(repr(spec).encode()).hexdigest()


def cache_stats() -> dict[str, dict[str, int]]:
    """How many loads, checks and renders were computed and how many were reused."""
    caches = (_LOADS, _FINDINGS, _RENDERS, _DIFFS)
    return {c.kind: {"computed": c.computed, "reused": c.reused} for c in caches}


def clear_cache() -> None:
    """Forget every cached result (the counters stay)."""
    for c in (_LOADS, _FINDINGS, _RENDERS, _DIFFS):
        with c.lock:
            c.items.clear()


def load(source: str | bytes, *, filename: str) -> Loaded:
    """Parse and validate blueprint text; raise ``BlueprintInvalid`` with every diagnostic.
    Cached by content hash and file name (an invalid text is not cached)."""
    data = source.encode() if isinstance(source, str) else source
    key = (__version__, filename, hashlib.sha256(data).hexdigest())
    return _LOADS.get(key, lambda: load_bytes(source, file=filename))


def _key_of(loaded: Loaded) -> Hashable | None:
    """The content key of a blueprint still in the load cache (None for any other: one
    loaded elsewhere, or evicted; its results are then computed, not cached)."""
    with _LOADS.lock:
        return next((k for k, v in _LOADS.items.items() if v is loaded), None)


def diff_lines(old: str, new: str, *, fromfile: str, tofile: str) -> list[str]:
    """The unified diff of two texts, as lines (cached by both texts' hashes and the labels:
    difflib takes minutes on two 10,000-service blueprints, so the pages of one diff must not
    each recompute it)."""
    digest = hashlib.sha256(old.encode()).hexdigest(), hashlib.sha256(new.encode()).hexdigest()
    key = (*digest, fromfile, tofile)
    return _DIFFS.get(
        key,
        lambda: _unified(
            old.splitlines(keepends=True), new.splitlines(keepends=True), fromfile, tofile
        ),
    )


def _unified(a: list[str], b: list[str], fromfile: str, tofile: str, n: int = 3) -> list[str]:
    """``difflib.unified_diff`` run on what lies between the texts' common beginning and end
    (less ``n`` lines of context), its hunk headers shifted back: a one-line change of a
    10,000-service blueprint takes milliseconds instead of seconds of SequenceMatcher."""
    shortest = min(len(a), len(b))
    head = 0
    while head < shortest and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < shortest - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    skip, cut = max(0, head - n), max(0, tail - n)
    lines = list(
        difflib.unified_diff(a[skip : len(a) - cut], b[skip : len(b) - cut], fromfile, tofile, n=n)
    )
    if skip:
        lines = [_shift(line, skip) if line.startswith("@@ ") else line for line in lines]
    return lines


def _shift(header: str, by: int) -> str:
    """A hunk header ``@@ -a[,b] +c[,d] @@`` with both start lines moved down ``by``."""
    _, old, new, rest = header.split(" ", 3)

    def moved(side: str) -> str:
        start, _, length = side[1:].partition(",")
        return f"{side[0]}{int(start) + by}" + (f",{length}" if length else "")

    return f"@@ {moved(old)} {moved(new)} {rest}"


def findings(loaded: Loaded) -> list[dict[str, Any]]:
    """The policy findings of a blueprint, as JSON data (cached with the policy
    configuration and the day in the key)."""

    def compute() -> list[dict[str, Any]]:
        return [f.to_dict() for f in check(loaded, rules=RULES)]

    key = _key_of(loaded)
    if key is None:
        return compute()
    full = (key, _policy_fingerprint(), dt.date.today().isoformat())
    return copy.deepcopy(_FINDINGS.get(full, compute))


def render_target(loaded: Loaded, target: str) -> list[Artifact]:
    """The artifacts of one target (cached by content; artifacts are immutable)."""
    key = _key_of(loaded)
    if key is None:
        return render(loaded.blueprint, target)
    return list(_RENDERS.get((key, target), lambda: render(loaded.blueprint, target)))


def tarball(artifacts: list[Artifact], *, prefix: str) -> bytes:
    """A deterministic .tar.gz of ``artifacts`` under ``prefix/`` (fixed times and owners)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", compresslevel=6) as tar:
        for a in sorted(artifacts, key=lambda a: a.path):
            data = a.text().encode()
            info = tarfile.TarInfo(f"{prefix}/{a.path}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def cluster_of(loaded: Loaded, target: str, cluster: str | None = None) -> str:
    """``cluster``, checked against the blueprint, or the blueprint's only cluster of
    ``target``'s kind (``DeployError`` saying which to choose otherwise); for vSphere, an
    entry of ``storage.vsphere``."""
    return cluster_for(target, loaded.blueprint, cluster or None)


def driver(
    loaded: Loaded,
    target: str,
    *,
    secrets: SecretSource,
    cluster: str,
    connection: Connection | None,
) -> Driver:
    """The deploy driver of ``target`` for ``cluster``, reaching its engine through
    ``connection`` — None: the engine of the server's own machine, which the environment's
    stored connection names explicitly (raises ``DeployError`` if there is no such driver or
    cluster)."""
    stored = {cluster: connection} if connection is not None else {}
    return get_driver(
        target,
        loaded.blueprint,
        cluster=cluster,
        secrets=secrets,
        connections=ConnectionsFile(clusters=stored),
    )


def plan(
    loaded: Loaded,
    target: str,
    *,
    secrets: SecretSource,
    cluster: str,
    connection: Connection | None,
) -> tuple[Plan, str]:
    """What applying ``target`` would change on the cluster's engine (changes nothing), and
    that engine's endpoint in words (shown with the plan before anyone approves it). An
    unreachable engine, a wrong certificate or refused credentials fail first, naming the
    cluster."""
    drv = driver(loaded, target, secrets=secrets, cluster=cluster, connection=connection)
    check_connection(drv)
    return drv.plan(), endpoint_of(drv)


def status(
    loaded: Loaded,
    target: str,
    *,
    secrets: SecretSource,
    cluster: str,
    connection: Connection | None,
) -> list[ServiceStatus]:
    """Desired, running and healthy replicas per service, as the cluster's engine reports."""
    drv = driver(loaded, target, secrets=secrets, cluster=cluster, connection=connection)
    check_connection(drv)
    return drv.status()


def status_components(loaded: Loaded) -> dict[str, str]:
    """The components a target runs (workloads and databases): name → ``kind/name`` id."""
    out = {d.name: f"database/{d.name}" for d in loaded.blueprint.databases}
    out.update({w.name: component for _, component, w in workloads(loaded.blueprint)})
    return out


def plan_lines(p: Plan) -> list[str]:
    """One readable line per pending change of ``p`` (for job logs), or one saying none."""
    if p.is_empty:
        return [f"plan: nothing to change ({len(p.changes)} resource(s) up to date)"]
    return [f"plan: {c.action} {c.kind} {c.name}" for c in p.pending]


def converge(
    loaded: Loaded,
    target: str,
    *,
    secrets: SecretSource,
    approved: dict[str, Any],
    progress: Progress,
    cluster: str,
    connection: Connection | None,
) -> Outcome:
    """Apply exactly the ``approved`` plan through the one converge path the CLI uses too
    (connection check, lock, fresh plan equal to the approved one, apply, wait, verify)."""
    drv = driver(loaded, target, secrets=secrets, cluster=cluster, connection=connection)
    return converge_driver(drv, approved=approved, progress=progress)


def rotation_plan(
    loaded: Loaded, params: dict[str, Any], *, secrets: SecretSource
) -> dict[str, Any]:
    """What rotating one database login would do (changes nothing), as a plan document:
    the new login created, the consumers rolled, the old login dropped."""
    from attonix.deploy.databases import DatabaseDriver  # noqa: PLC0415
    from attonix.deploy.databases.rotation import preview  # noqa: PLC0415

    database = params["database"]
    drv = DatabaseDriver(loaded.blueprint, cluster=database, secrets=secrets)
    state = preview(drv, database=database, service=params["service"], kind=params["kind"])
    changes = [
        {"kind": "login", "name": state.new_login, "action": "create", "diff": ""},
        {"kind": "login", "name": state.old_login, "action": "delete", "diff": ""},
    ]
    return {
        "target": "rotation",
        "cluster": database,
        "empty": False,
        "counts": {"create": 1, "update": 0, "delete": 1, "unchanged": 0},
        "changes": changes,
        "rotation": {**params, **state.to_dict()},
    }


def consumer_cluster(loaded: Loaded, service: str) -> tuple[str, str] | None:
    """(target, cluster) of the engine a rotation rolls ``service`` on, or None when Attonix
    does not roll it (not a backend service, or on a cluster kind it does not drive)."""
    from attonix.deploy.consumers import ENGINES  # noqa: PLC0415

    bp = loaded.blueprint
    found = next((s for s in bp.services.backend if s.name == service), None)
    cluster = bp.clusters_by_name.get(found.cluster) if found is not None else None
    if cluster is None or cluster.kind not in ENGINES:
        return None
    return cluster.kind, cluster.name


def rotate(
    loaded: Loaded,
    approved: dict[str, Any],
    *,
    secrets: SecretSource,
    progress: Progress,
    consumer: tuple[str, Connection | None] | None = None,
) -> dict[str, Any]:
    """Run the approved rotation (or resume it): new login, consumers rolled through their
    engine, old login drained and dropped; the end state. Refuses if the live logins changed
    since the plan was approved. ``consumer`` is the consumers' cluster and the connection it
    is reached through (None: the engine of the server's own machine, which the stored
    connection names explicitly)."""
    from attonix.deploy.base import StalePlan  # noqa: PLC0415
    from attonix.deploy.consumers import switch_consumers  # noqa: PLC0415
    from attonix.deploy.databases import DatabaseDriver  # noqa: PLC0415
    from attonix.deploy.databases.rotation import load_state, preview  # noqa: PLC0415
    from attonix.deploy.databases.rotation import rotate as rotate_login  # noqa: PLC0415

    want = approved["rotation"]
    database, service, kind = want["database"], want["service"], want["kind"]
    bp = loaded.blueprint
    drv = DatabaseDriver(bp, cluster=database, secrets=secrets)
    now = load_state(drv.state_directory, want["credential"]) or preview(
        drv, database=database, service=service, kind=kind
    )
    if (now.old_login, now.new_login) != (want["old_login"], want["new_login"]):
        raise StalePlan(
            f"the logins of {service} on {database} changed since this rotation was approved "
            f"(now {now.old_login} -> {now.new_login}); nothing was done",
            hint="Request the rotation again and approve the new plan.",
        )

    stored = {consumer[0]: consumer[1]} if consumer and consumer[1] is not None else {}

    def roll(_credential: str, _values: dict[str, str]) -> None:
        switch_consumers(
            bp,
            service,
            kind,
            secrets=secrets,
            connections=ConnectionsFile(clusters=stored),
            progress=progress,
        )

    if not want.get("switch", True):
        progress(f"{service}'s replicas are not rolled (switch off): they must reread the login")
    return rotate_login(
        drv,
        database=database,
        service=service,
        kind=kind,
        switch=roll if want.get("switch", True) else None,
        progress=progress,
    ).to_dict()
