"""Apply and status tell the truth on the real engines (Swarm and Podman), through both callers
of the one converge path: the `attonix` CLI and the Central Server's deployment jobs.

For each engine and each way a change can fail — an image that does not exist, a health check
that never passes, a placement no node satisfies — `attonix apply` exits non-zero with the
engine's own reason, `attonix status` exits non-zero, and a server deployment of the same
version (plan job, approval, apply job, on SQLite) ends ``failed`` with the reason in its log.
After each, applying the good blueprint converges again.

Blueprint: tests/fixtures/deploy/truth.yaml (one small service per engine).
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from attonix.blueprint import load_file
from attonix.deploy import EnvSecretSource, converge, get_driver
from attonix.server import connections, deployments, environments, jobs
from attonix.server.audit import Actor
from attonix.server.context import ServerContext, build_context
from attonix.server.db import migrate
from attonix.server.db.models import Deployment, Job, JobLog
from attonix.server.security.envelope import KeyRing
from attonix.server.settings import Settings

pytestmark = pytest.mark.integration

DOCKER_SOCKET = "unix:///var/run/docker.sock"
FIXTURE = Path(__file__).parents[2] / "fixtures" / "deploy" / "truth.yaml"
ATTONIX = [sys.executable, "-m", "attonix"]
MISSING = "localhost/attonix-test-missing:1"


def _missing_image(w: dict[str, Any]) -> None:
    w["image"] = MISSING


def _failing_health(w: dict[str, Any]) -> None:
    w["health"]["path"] = "/never-healthy"


def _impossible_placement(w: dict[str, Any]) -> None:
    w["placement"] = {"zones": ["zone-far"]}


#: case -> (change to the service, what the failure is called, the engine's words per target)
CASES: dict[str, tuple[Callable[[dict[str, Any]], None], str, dict[str, str]]] = {
    "missing-image": (
        _missing_image,
        "",
        {"swarm": f"No such image: {MISSING}", "podman": MISSING},
    ),
    "failing-health": (
        _failing_health,
        "",
        {"swarm": "unhealthy container", "podman": "404 Not Found"},
    ),
    "impossible-placement": (
        _impossible_placement,
        "no node can run it",
        {
            "swarm": "no suitable node (scheduling constraints not satisfied",
            "podman": "placement asks for zones zone-far",
        },
    ),
}
#: what apply may say for each case: Swarm rejects a task whose image is missing and rolls the
#: update back (whichever it reports first); Podman has no rollout, so its failures are the
#: play's refusal or the health verdict
VERDICT = {
    ("swarm", "missing-image"): ("the engine rejected its tasks", "the update was rolled back"),
    ("swarm", "failing-health"): ("the update was rolled back", "its tasks keep failing"),
    ("swarm", "impossible-placement"): ("no node can run it",),
    ("podman", "missing-image"): ("podman kube play",),
    ("podman", "failing-health"): ("its health check fails",),
    ("podman", "impossible-placement"): ("unschedulable",),
}


def variant(change: Callable[[dict[str, Any]], None]) -> str:
    doc = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))
    for w in doc["services"]["backend"]:
        change(w)
    return yaml.safe_dump(doc, sort_keys=False)


def engine_ready(target: str) -> bool:
    argv = {
        "swarm": ["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"],
        "podman": ["podman", "info", "--format", "{{.Host.Arch}}"],
    }[target]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return False
    return done.returncode == 0 and (target != "swarm" or done.stdout.strip() == "active")


class Cli:
    """Runs the `attonix` command with its own state directory."""

    def __init__(self, state: Path, tmp: Path) -> None:
        self.env = {**os.environ, "ATTONIX_STATE_DIR": str(state), "NO_COLOR": "1"}
        self.tmp = tmp

    def __call__(self, *args: str, source: str | None = None) -> subprocess.CompletedProcess[str]:
        path = FIXTURE
        if source is not None:
            path = self.tmp / "variant.yaml"
            path.write_text(source, encoding="utf-8")
        return subprocess.run(
            [*ATTONIX, args[0], str(path), *args[1:]],
            env={**self.env, "COLUMNS": "400"},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )


class Server:
    """The Central Server's domain services and job runner on a SQLite database."""

    def __init__(self, tmp: Path) -> None:
        settings = Settings(
            data_dir=tmp,
            signing_key="t" * 48,
            kek=KeyRing.generate_line("truth-test"),
            run_workers=False,
            auto_migrate=False,
        )
        self.ctx: ServerContext = build_context(settings)
        migrate.upgrade(self.ctx.db)
        environments.create_environment(self.ctx, name="truth", actor=Actor.system())
        # The server deploys a cluster only through its stored connection: this machine's
        # Docker and Podman, the engines the CLI reaches without a connections file.
        for cluster, body in (
            ("swarm-truth", connections.DockerIn(kind="docker", host=DOCKER_SOCKET)),
            ("podman-truth", connections.PodmanIn(kind="podman", url="local")),
        ):
            connections.put_connection(
                self.ctx, environment="truth", cluster=cluster, body=body, actor=Actor.system()
            )
        self.version = 0

    def deploy(self, source: str, target: str) -> tuple[str, list[str]]:
        """Upload ``source``, request, approve and run the jobs: (final status, job log)."""
        environments.upload(
            self.ctx,
            environment="truth",
            source=source,
            filename="truth.yaml",
            actor=Actor("olga"),
        )
        self.version += 1
        dep = deployments.request(
            self.ctx, environment="truth", version=self.version, target=target, actor=Actor("olga")
        )
        assert jobs.run_one(self.ctx, "test") is not None  # the plan job
        planned = deployments.get_deployment(self.ctx, "truth", dep.id)
        assert planned.status == "awaiting_approval", planned.plan
        deployments.decide(
            self.ctx, environment="truth", deployment_id=dep.id, approve=True, actor=Actor("ada")
        )
        assert jobs.run_one(self.ctx, "test") is not None  # the apply job
        with self.ctx.db.session() as s:
            status = s.execute(select(Deployment.status).where(Deployment.id == dep.id)).scalar()
            ids = select(Job.id).where(Job.deployment_id == dep.id)
            lines = list(
                s.execute(
                    select(JobLog.line).where(JobLog.job_id.in_(ids)).order_by(JobLog.id)
                ).scalars()
            )
        return str(status), lines


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cli, Server]]:
    tmp = tmp_path_factory.mktemp("truth")
    state = tmp / "state"
    saved = os.environ.get("ATTONIX_STATE_DIR")
    # The server's jobs and the CLI share one state directory: the same lock, the same key.
    os.environ["ATTONIX_STATE_DIR"] = str(state)
    bp = load_file(FIXTURE).blueprint
    drivers = {
        t: get_driver(t, bp, secrets=EnvSecretSource(bp.security.secrets, environ={}))
        for t in ("swarm", "podman")
        if engine_ready(t)
    }
    for d in drivers.values():
        d.destroy()  # leftovers of an interrupted earlier run
    cli = Cli(state, tmp)
    for t in drivers:
        good = cli("apply", "--target", t, "--yes", "--timeout", "90")
        assert good.returncode == 0, good.stderr
    try:
        yield cli, Server(tmp)
    finally:
        for d in drivers.values():
            d.destroy()
        if saved is None:
            os.environ.pop("ATTONIX_STATE_DIR", None)
        else:
            os.environ["ATTONIX_STATE_DIR"] = saved


def _one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("target", ["swarm", "podman"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_failed_change_fails_apply_status_and_the_server_deployment(
    world: tuple[Cli, Server], target: str, case: str
) -> None:
    if not engine_ready(target):
        pytest.fail(f"{target} is not running: run scripts/setup.sh all")
    cli, server = world
    change, _, reasons = CASES[case]
    source = variant(change)

    applied = cli("apply", "--target", target, "--yes", "--timeout", "90", source=source)
    said = _one_line(applied.stderr)
    assert applied.returncode != 0, said
    assert "apply failed:" in said
    assert any(v in said for v in VERDICT[target, case]), said
    assert reasons[target] in said, said
    assert "apply complete" not in said

    status = cli("status", "--target", target, source=source)
    assert status.returncode != 0, status.stdout

    final, lines = server.deploy(source, target)
    assert final == "failed", lines
    assert any(reasons[target] in line for line in lines), lines
    assert lines[-1].startswith("error: "), lines

    again = cli("apply", "--target", target, "--yes", "--timeout", "120")
    assert again.returncode == 0, again.stderr
    assert cli("status", "--target", target).returncode == 0


@pytest.mark.parametrize("target", ["swarm", "podman"])
def test_cli_and_server_share_the_converge_path(world: tuple[Cli, Server], target: str) -> None:
    if not engine_ready(target):
        pytest.fail(f"{target} is not running: run scripts/setup.sh all")
    cli, server = world
    assert cli("apply", "--target", target, "--yes", "--timeout", "90").returncode == 0
    source = (
        FIXTURE.read_text(encoding="utf-8")
        .replace('env: {PORT: "38711"}', 'env: {PORT: "38711", RELEASE: "2"}')
        .replace('env: {PORT: "38721"}', 'env: {PORT: "38721", RELEASE: "2"}')
    )
    final, lines = server.deploy(source, target)
    assert final == "succeeded", lines
    # the plan names the cluster and the stored endpoint it touches, before anyone approves it
    endpoint = DOCKER_SOCKET if target == "swarm" else connections.LOCAL_PODMAN
    assert f"plan: {target} cluster {target}-truth through {endpoint}" in lines, lines
    assert "apply: wait for the engine to converge" in lines
    assert "apply: verify that every service is converged" in lines
    # The CLI, on the server's result, finds nothing to change and verifies the same way.
    again = cli("apply", "--target", target, "--yes", source=source)
    assert again.returncode == 0, again.stderr
    assert "No changes." in again.stdout
    assert "verify that every service is converged" in again.stderr
    # And the same function, called directly, holds the lock both callers take.
    bp = load_file(FIXTURE).blueprint
    drv = get_driver(target, bp, secrets=EnvSecretSource(bp.security.secrets, environ={}))
    with drv.lock().held():
        other = cli("apply", "--target", target, "--yes")
    assert other.returncode != 0
    assert "another Attonix operation on" in _one_line(other.stderr)
    outcome = converge(drv)
    assert outcome.ok, outcome.to_dict()
    assert not outcome.plan.is_empty  # back from RELEASE=2 to the fixture
    assert all(s.converged for s in outcome.statuses)
    assert copy.deepcopy(outcome.to_dict())["result"]["done"][-1] == "verify"
