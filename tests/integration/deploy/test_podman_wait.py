"""A Podman apply waits for, and judges, only the services it changed (real rootful Podman).

Blueprint: tests/fixtures/deploy/truth.yaml's Podman service ``pecho`` and a copy of it,
``pother``. Once both run, ``pother``'s web server is frozen (SIGSTOP from the host): the
container still runs, but its health check now hangs (Podman 4.3 does not end it at its
timeout) and, after ``retries`` failures, Podman would restart it. An apply that changes only
``pecho`` succeeds without running ``pother``'s check once: a service the apply did not touch
neither fails nor slows it, and is not restarted by it. (That a changed service which never
becomes healthy fails the apply by name is test_truth.py's ``failing-health`` case.) Status,
which does judge every service, stops the hung check and reports ``pother`` not healthy.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from attonix.blueprint import Blueprint
from attonix.deploy import EnvSecretSource, _process
from attonix.deploy.podman import CHECK_GRACE_SECONDS, Engine, PodmanDriver

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).parents[2] / "fixtures" / "deploy" / "truth.yaml"
BP = "attonix-pwait"
CLUSTER = "podman-truth"


def podman_ready() -> bool:
    try:
        return subprocess.run(["podman", "info"], capture_output=True, check=False).returncode == 0
    except FileNotFoundError:
        return False


def blueprint(release: str) -> Blueprint:
    """The fixture's Podman cluster only: ``pecho`` at ``release`` and ``pother``."""
    doc = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))
    doc["metadata"]["name"] = BP
    doc["orchestration"]["clusters"] = [
        c for c in doc["orchestration"]["clusters"] if c["name"] == CLUSTER
    ]
    pecho = next(w for w in doc["services"]["backend"] if w["name"] == "pecho")
    pecho.pop("expose", None)
    other: dict[str, Any] = copy.deepcopy(pecho)
    other["name"] = "pother"
    other["ports"] = [{"name": "http", "port": 38722}]
    other["env"] = {"PORT": "38722"}
    pecho["env"]["RELEASE"] = release
    doc["services"]["backend"] = [pecho, other]
    return Blueprint.model_validate(doc)


class Recording(PodmanDriver):
    """The Podman driver, noting every ``podman`` command it runs."""

    def __init__(self, bp: Blueprint, state: Path) -> None:
        super().__init__(
            bp,
            cluster=CLUSTER,
            secrets=EnvSecretSource(bp.security.secrets, environ={}),
            state=state,
        )
        self.commands: list[tuple[str, ...]] = []

    def _run(
        self,
        engine: Engine,
        *args: str,
        stdin: str | None = None,
        check: bool = True,
        timeout: float = _process.DEFAULT_TIMEOUT,
    ) -> _process.Completed:
        self.commands.append(args)
        return super()._run(engine, *args, stdin=stdin, check=check, timeout=timeout)

    def checked(self) -> set[str]:
        """The containers whose health check this driver ran."""
        return {c[2] for c in self.commands if c[:2] == ("healthcheck", "run")}


def inspect(service: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        ["podman", "ps", "-a", "-q", "--no-trunc",
         "--filter", f"label=app.kubernetes.io/instance={BP}-{service}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    ids = done.stdout.split()
    if not ids:
        return []
    found = subprocess.run(["podman", "inspect", *ids], capture_output=True, text=True, check=True)
    return list(json.loads(found.stdout))


def web_servers(service: str) -> list[int]:
    """Host pids of the web servers in ``service``'s containers (children of their shell)."""
    pids = []
    for c in inspect(service):
        shell = c["State"]["Pid"]
        children = Path(f"/proc/{shell}/task/{shell}/children").read_text().split()
        pids += [int(p) for p in children]
    return pids


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    if not podman_ready():
        pytest.fail("Podman does not answer: run scripts/setup.sh all")
    Recording(blueprint("1"), tmp_path).destroy()  # leftovers of an interrupted earlier run
    try:
        yield tmp_path
    finally:
        for pid in web_servers("pother"):
            os.kill(pid, signal.SIGCONT)
        result = Recording(blueprint("1"), tmp_path).destroy()
        assert result.ok, result.to_dict()


def test_apply_judges_only_the_services_it_changed(state: Path) -> None:
    first = Recording(blueprint("1"), state)
    assert first.apply(first.plan(), timeout=60).ok
    (other,) = inspect("pother")
    frozen = web_servers("pother")
    assert frozen
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)

    # a change of pecho converges; the frozen service was never judged, so never restarted
    good = Recording(blueprint("2"), state)
    plan = good.plan()
    assert [(c.name, c.action) for c in plan.pending] == [(f"{BP}-pecho", "update")]
    started = time.monotonic()
    result = good.apply(plan, timeout=60)
    took = time.monotonic() - started
    assert result.ok, result.to_dict()
    assert result.done == [f"update service {BP}-pecho", "wait for the engine to converge"]
    pecho = {c["Id"] for c in inspect("pecho")}
    assert good.checked() == pecho
    (now,) = inspect("pother")
    assert (now["Id"], now["State"]["StartedAt"]) == (other["Id"], other["State"]["StartedAt"])
    assert now["State"]["Status"] == "running"
    print(f"\napply of pecho beside the frozen pother: {took:.2f}s")

    # status judges every service: the hung check is stopped and counts as failed
    started = time.monotonic()
    statuses = {s.name: (s.running, s.healthy) for s in good.status()}
    took = time.monotonic() - started
    assert statuses == {f"{BP}-pecho": (1, 1), f"{BP}-pother": (1, 0)}
    limit = 2 * other["Config"]["Healthcheck"]["Timeout"] / 1e9 + CHECK_GRACE_SECONDS
    assert took < limit + 5, took
    print(f"status with the hung check of pother: {took:.2f}s (limit {limit:g}s)")
