"""The Podman driver against real rootful Podman (scripts/setup.d/20-podman.sh, 22-images.sh).

One deployment of tests/fixtures/deploy/shop-podman.yaml is shared by the tests, which run in
file order: converge, idempotence, status, healing, secrets, drift, a half-failed apply, two
concurrent CLI applies, then destroy.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from attonix.blueprint import Blueprint, load_file
from attonix.deploy import EnvSecretSource, get_driver
from attonix.deploy.podman import PodmanDriver
from attonix.render.base import dump_yaml

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).parents[2] / "fixtures" / "deploy" / "shop-podman.yaml"
SECRETS = {
    "ATTONIX_SECRET_API_TOKEN_TOKEN": "tok-7c1e5b-never-shown",
    "ATTONIX_SECRET_DB_CREDENTIALS_USERNAME": "shop",
    "ATTONIX_SECRET_DB_CREDENTIALS_PASSWORD": "pw-29d04a-never-shown",
}
BP = "attonix-ptest"
SELECTOR = (
    "app.kubernetes.io/managed-by=attonix",
    f"attonix.io/blueprint={BP}",
    "attonix.io/environment=test",
)
ATTONIX = [sys.executable, "-m", "attonix"]


def podman(*args: str, check: bool = True, stdin: str | None = None) -> str:
    proc = subprocess.run(
        ["podman", *args], capture_output=True, text=True, check=False, input=stdin
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)}: {proc.stderr}")
    return proc.stdout


def podman_ready() -> bool:
    try:
        return subprocess.run(["podman", "info"], capture_output=True, check=False).returncode == 0
    except FileNotFoundError:
        return False


def wait_until(what: str, predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def labelled(kind: str) -> list[str]:
    """Names of the resources of ``kind`` carrying all three blueprint labels."""
    if kind == "secret":
        ids = podman("secret", "ls", "--format", "{{.ID}}").split()
        found = json.loads(podman("secret", "inspect", *ids)) if ids else []
        return [
            s["Spec"]["Name"]
            for s in found
            if set(SELECTOR) <= {f"{k}={v}" for k, v in (s["Spec"]["Labels"] or {}).items()}
        ]
    args = {
        "pod": ["pod", "ps", "--format", "{{.Name}}"],
        "container": ["ps", "-a", "--format", "{{.Names}}"],
        "volume": ["volume", "ls", "--format", "{{.Name}}"],
        "network": ["network", "ls", "--format", "{{.Name}}"],
    }[kind]
    for pair in SELECTOR:
        args += ["--filter", f"label={pair}"]
    return podman(*args).split()


def pods_of(service: str) -> list[str]:
    return sorted(
        podman(
            "pod", "ps", "--filter", f"label=app.kubernetes.io/instance={BP}-{service}",
            "--format", "{{.Name}}",
        ).split()
    )  # fmt: skip


def in_container(container: str, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", "exec", container, "sh", "-c", script],
        capture_output=True,
        text=True,
        check=False,
    )


def http(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return str(resp.read().decode()).strip()


def statuses(driver: PodmanDriver) -> dict[str, tuple[int, int, int]]:
    return {s.name: (s.desired, s.running, s.healthy) for s in driver.status()}


def variant(driver: PodmanDriver, change: Callable[[dict[str, Any]], None]) -> PodmanDriver:
    data = driver.bp.model_dump(by_alias=True)
    change(data)
    return PodmanDriver(
        Blueprint.model_validate(data),
        cluster=driver.cluster,
        secrets=EnvSecretSource(driver.bp.security.secrets, environ=SECRETS),
        state=driver._state,
    )


def every_workload(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [*data["services"]["backend"], *data["services"]["frontend"]]


CONVERGED = {f"{BP}-api": (2, 2, 2), f"{BP}-db": (1, 1, 1), f"{BP}-web": (1, 1, 1)}
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> PodmanDriver:
    if not podman_ready():
        pytest.fail("Podman does not answer: run scripts/setup.sh all")
    bp = load_file(FIXTURE).blueprint
    drv = get_driver("podman", bp, secrets=EnvSecretSource(bp.security.secrets, environ=SECRETS))
    assert isinstance(drv, PodmanDriver)
    drv._state = tmp_path_factory.mktemp("state")
    drv.destroy()  # leftovers of an interrupted earlier run
    started = time.monotonic()
    result = drv.apply(drv.plan(), timeout=90)
    TIMINGS["apply"] = time.monotonic() - started
    assert result.ok, result.to_dict()
    return drv


def test_apply_reaches_replicas_and_serves_over_http(driver: PodmanDriver) -> None:
    assert statuses(driver) == CONVERGED
    assert pods_of("api") == [f"{BP}-api-pod-0", f"{BP}-api-pod-1"]
    # published services answer on their loopback host ports
    assert http("http://127.0.0.1:38431/version") == "1"
    assert http("http://127.0.0.1:38433/version") == "1"
    # the unpublished backend answers on each pod's address on the cluster network
    for pod in pods_of("api"):
        info = json.loads(podman("inspect", f"{pod}-api"))[0]
        ip = info["NetworkSettings"]["Networks"][f"{BP}-podman-test"]["IPAddress"]
        assert http(f"http://{ip}:38432/").startswith("attonix-test-httpd version 1")
    # and by pod name from another service on the same network
    reached = in_container(
        f"{BP}-web-pod-0-web", f"wget -q -O - http://{BP}-api-pod-1:38432/version"
    )
    assert reached.stdout.strip() == "1", reached.stderr


def test_second_apply_plans_nothing(driver: PodmanDriver) -> None:
    started = time.monotonic()
    plan = driver.plan()
    TIMINGS["noop_plan"] = time.monotonic() - started
    assert plan.is_empty, [c.to_dict() for c in plan.pending]
    assert plan.counts()["unchanged"] == 6  # network, 2 secrets, 3 services
    result = driver.apply(plan)
    assert result.ok and result.done == []
    print(f"\npodman apply (3 services, 4 pods): {TIMINGS['apply']:.2f}s; "
          f"no-op plan: {TIMINGS['noop_plan']:.2f}s")  # fmt: skip


def test_status_agrees_with_podman_ps(driver: PodmanDriver) -> None:
    rows = json.loads(
        podman("ps", "-a", "--filter", f"label=attonix.io/blueprint={BP}", "--format", "json")
    )
    running: dict[str, int] = {}
    for row in rows:
        if row["Labels"].get("app.kubernetes.io/name"):
            name = f"{BP}-{row['Labels']['app.kubernetes.io/name']}"
            running[name] = running.get(name, 0) + (row["State"] == "running")
    assert running == {name: r for name, (_, r, _) in statuses(driver).items()}


def test_crashed_container_is_restarted_by_podman_and_reported(driver: PodmanDriver) -> None:
    victim = f"{BP}-api-pod-0-api"
    before = json.loads(podman("inspect", victim))[0]
    os.kill(before["State"]["Pid"], 9)  # a crash, not a stop asked of Podman
    wait_until(
        "Podman to restart the container",
        lambda: (
            json.loads(podman("inspect", victim))[0]["RestartCount"] >= 1
            and json.loads(podman("inspect", victim))[0]["State"]["Running"]
        ),
    )
    after = json.loads(podman("inspect", victim))[0]
    assert after["Id"] == before["Id"]  # the same container, restarted in place
    wait_until("status to converge", lambda: statuses(driver) == CONVERGED)
    api = next(s for s in driver.status() if s.name == f"{BP}-api")
    assert "restarted 1 time(s) by Podman" in api.message


def test_container_stopped_by_hand_stays_down_until_apply(driver: PodmanDriver) -> None:
    # Podman restarts crashed containers, never ones stopped through Podman itself.
    podman("kill", f"{BP}-api-pod-1-api")
    time.sleep(2)
    api = next(s for s in driver.status() if s.name == f"{BP}-api")
    assert (api.running, api.healthy) == (1, 1)
    assert f"{BP}-api-pod-1-api is exited" in api.message
    plan = driver.plan()
    assert [(c.key, c.action) for c in plan.pending] == [(f"service/{BP}-api", "update")]
    assert "-replicas: 1\n+replicas: 2" in plan.pending[0].diff
    assert driver.apply(plan, timeout=60).ok
    assert statuses(driver) == CONVERGED


def test_secrets_are_files_never_env_inspect_or_rendered(driver: PodmanDriver) -> None:
    api = in_container(f"{BP}-api-pod-0-api", "cat /run/secrets/api-token/token")
    assert api.stdout == SECRETS["ATTONIX_SECRET_API_TOKEN_TOKEN"]
    db = in_container(f"{BP}-db-pod-0-db", "cat /run/secrets/db/password; echo; id -u")
    assert db.stdout.split() == [SECRETS["ATTONIX_SECRET_DB_CREDENTIALS_PASSWORD"], "10001"]
    inspected = podman("inspect", f"{BP}-api-pod-0-api", f"{BP}-db-pod-0-db")
    env = json.loads(inspected)[0]["Config"]["Env"]
    assert "PORT=38432" in env
    rendered = "".join(a.text() for a in driver.desired())
    plan_json = json.dumps(driver.plan().to_dict())
    pods = podman("pod", "inspect", *pods_of("api"), *pods_of("db"))
    for name in ("ATTONIX_SECRET_API_TOKEN_TOKEN", "ATTONIX_SECRET_DB_CREDENTIALS_PASSWORD"):
        for where in (inspected, rendered, plan_json, pods):
            assert SECRETS[name] not in where


def test_drift_shows_in_plan_and_apply_repairs_it(driver: PodmanDriver, tmp_path: Path) -> None:
    podman("pod", "rm", "-f", "-t", "0", f"{BP}-api-pod-1")
    # someone replays the web YAML by hand with a changed environment
    web = next(a for a in driver.desired() if a.path.endswith("/web.yaml")).content
    web["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "DEBUG", "value": "1"})
    (tmp_path / "web.yaml").write_text(dump_yaml(web), encoding="utf-8")
    podman(
        "kube", "play", "--replace", "--network", f"{BP}-podman-test", str(tmp_path / "web.yaml")
    )
    plan = driver.plan()
    assert {c.key: c.action for c in plan.pending} == {
        f"service/{BP}-api": "update",
        f"service/{BP}-web": "update",
    }
    diffs = {c.name: c.diff for c in plan.pending}
    assert "-replicas: 1\n+replicas: 2" in diffs[f"{BP}-api"]
    assert "-  DEBUG: '1'" in diffs[f"{BP}-web"]
    assert driver.apply(plan, timeout=60).ok
    assert driver.plan().is_empty
    assert statuses(driver) == CONVERGED


def test_half_failed_apply_reports_and_rerun_converges(driver: PodmanDriver) -> None:
    def mark(data: dict[str, Any], *, db_image: str) -> None:
        for w in every_workload(data):
            w["env"]["RELEASE"] = "2"
            if w["name"] == "db":
                w["image"] = db_image

    broken = variant(driver, lambda d: mark(d, db_image="localhost/attonix-test-missing:1"))
    result = broken.apply(broken.plan(), timeout=30)
    assert not result.ok
    assert result.done == [f"update service {BP}-api"]
    assert result.not_done == [
        f"update service {BP}-db",
        f"update service {BP}-web",
        "wait for the engine to converge",
    ]
    assert result.error.startswith(f"update service {BP}-db: `podman kube play")
    assert "attonix-test-missing" in result.error
    fixed = variant(driver, lambda d: mark(d, db_image="localhost/attonix-test-httpd:1"))
    plan = fixed.plan()
    assert {c.name for c in plan.pending} == {f"{BP}-db", f"{BP}-web"}  # api is done already
    assert fixed.apply(plan, timeout=60).ok
    assert fixed.plan().is_empty
    assert statuses(fixed) == CONVERGED
    # back to the fixture's own release for the tests that follow
    assert driver.apply(driver.plan(), timeout=60).ok


def test_concurrent_cli_applies_second_is_refused(driver: PodmanDriver, tmp_path: Path) -> None:
    # The first apply waits for a health check that never passes, so it holds the lock for
    # as long as the test needs; it is interrupted once the second has been refused.
    slow = FIXTURE.read_text(encoding="utf-8").replace(
        "ports: [{name: http, port: 38431}]\n      health: {path: /healthz",
        "ports: [{name: http, port: 38431}]\n      health: {path: /never-healthy",
    )
    assert slow != FIXTURE.read_text(encoding="utf-8")
    path = tmp_path / "shop-podman.yaml"
    path.write_text(slow, encoding="utf-8")
    env = {**os.environ, **SECRETS, "ATTONIX_STATE_DIR": str(driver._state), "NO_COLOR": "1"}
    cmd = [*ATTONIX, "apply", str(path), "--target", "podman", "--yes", "--timeout", "300"]
    first = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lock = driver._state / "locks" / "podman-podman-test.lock"
    try:
        wait_until(
            "the first apply to hold the lock",
            lambda: lock.is_file() and bool(lock.read_text()),
            timeout=60,
        )
        second = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=120, check=False
        )
        assert second.returncode != 0
        message = " ".join(second.stderr.split())
        assert "another Attonix operation on podman cluster 'podman-test' is running" in message
        assert f"apply by pid {first.pid}" in message
        assert first.poll() is None  # still applying: the refusal was not a race
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert driver.apply(driver.plan(), timeout=60).ok
    assert statuses(driver) == CONVERGED


def test_destroy_removes_only_labelled_resources(driver: PodmanDriver) -> None:
    decoy_pod = f"{BP}-decoy"
    podman("pod", "rm", "-f", decoy_pod, check=False)
    podman("secret", "rm", f"{BP}-decoy", check=False)
    podman("pod", "create", "--name", decoy_pod, "--label", f"attonix.io/blueprint={BP}")
    podman("secret", "create", f"{BP}-decoy", "-", stdin="decoy")
    try:
        assert labelled("pod") and labelled("secret") and labelled("network")
        # The CLI names what it will remove before asking; without a terminal and without
        # --yes it then refuses (a usage error) and nothing is removed.
        env = {**os.environ, "ATTONIX_STATE_DIR": str(driver._state), "NO_COLOR": "1"}
        asked = subprocess.run(
            [*ATTONIX, "destroy", "-f", str(FIXTURE), "-t", "podman"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        assert asked.returncode == 2, asked.stderr
        listing = asked.stdout
        assert "destroy will remove from podman cluster podman-test:" in listing
        assert "pod(s): " in listing
        for name in labelled("secret"):
            if name != f"{BP}-decoy":
                assert f"remove secret {name}" in listing
        assert decoy_pod not in listing
        assert labelled("pod") and labelled("secret")  # still there
        result = driver.destroy()
        assert result.ok, result.to_dict()
        for kind in ("pod", "container", "secret", "volume", "network"):
            assert labelled(kind) == [], kind
        leftovers = podman("volume", "ls", "--format", "{{.Name}}").split()
        assert not [v for v in leftovers if v.startswith(f"{BP}-")]
        # the decoys carry one blueprint label, or none: not Attonix's to remove
        assert podman("pod", "exists", decoy_pod, check=False) == ""
        assert decoy_pod in podman("pod", "ps", "--format", "{{.Name}}").split()
        assert f"{BP}-decoy" in podman("secret", "ls", "--format", "{{.Name}}").split()
        assert not driver.plan().of("delete")
    finally:
        podman("pod", "rm", "-f", decoy_pod, check=False)
        podman("secret", "rm", f"{BP}-decoy", check=False)
