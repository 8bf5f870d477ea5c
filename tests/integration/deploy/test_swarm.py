"""The Swarm driver against a real single-node Docker Swarm (scripts/setup.d/21-docker.sh).

One stack is deployed per module and shared by the tests, which run in file order: converge,
idempotence, secrets, firewall flows, healing, drift, rolling update, then destroy.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from attonix.blueprint import Blueprint, load_file
from attonix.deploy import EnvSecretSource, get_driver
from attonix.deploy.swarm import SwarmDriver
from attonix.render.labels import selector

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).parents[2] / "fixtures" / "deploy" / "shop.yaml"
SECRETS = {
    "ATTONIX_SECRET_API_TOKEN_TOKEN": "tok-4f9a1c-never-shown",
    "ATTONIX_SECRET_DB_CREDENTIALS_USERNAME": "shop",
    "ATTONIX_SECRET_DB_CREDENTIALS_PASSWORD": "pw-83b2e7-never-shown",
}
STACK = "attonix-dtest-swarm-test"
DECOY = "attonix-dtest-decoy"


def docker(*args: str, check: bool = True, stdin: str | None = None) -> str:
    proc = subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=False, input=stdin
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {proc.stderr}")
    return proc.stdout


def swarm_ready() -> bool:
    try:
        out = docker("info", "--format", "{{.Swarm.LocalNodeState}}", check=False)
    except FileNotFoundError:
        return False
    return out.strip() == "active"


def containers(service: str) -> list[str]:
    return docker(
        "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={STACK}_{service}"
    ).split()


def in_container(
    service: str, script: str, *, check: bool = False
) -> subprocess.CompletedProcess[str]:
    cid = containers(service)[0]
    return subprocess.run(
        ["docker", "exec", cid, "sh", "-c", script], capture_output=True, text=True, check=check
    )


def wait_until(what: str, predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def labelled(kind: str) -> list[str]:
    args = [kind, "ls", "-q"]
    if kind == "ps":
        args = ["ps", "-aq"]
    for pair in selector(load_file(FIXTURE).blueprint).split(","):
        args += ["--filter", f"label={pair}"]
    return docker(*args).split()


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> SwarmDriver:
    if not swarm_ready():
        pytest.fail("Docker Swarm is not running: run scripts/setup.sh all")
    bp = load_file(FIXTURE).blueprint
    state = tmp_path_factory.mktemp("state")
    drv = get_driver("swarm", bp, secrets=EnvSecretSource(bp.security.secrets, environ=SECRETS))
    assert isinstance(drv, SwarmDriver)
    drv._state = state
    drv.destroy()  # leftovers of an interrupted earlier run
    docker("service", "rm", DECOY, check=False)
    result = drv.apply(drv.plan(), timeout=120)
    assert result.ok, result.to_dict()
    return drv


def test_apply_reaches_declared_replicas_and_serves(driver: SwarmDriver) -> None:
    statuses = {s.name: s for s in driver.status()}
    assert {n: (s.desired, s.running, s.healthy) for n, s in statuses.items()} == {
        f"{STACK}_api": (2, 2, 2),
        f"{STACK}_db": (1, 1, 1),
        f"{STACK}_web": (1, 1, 1),
    }
    # status agrees with the engine's own count
    engine = json.loads(
        "["
        + ",".join(
            docker(
                "service",
                "ls",
                "--format",
                "{{json .}}",
                "--filter",
                f"label=com.docker.stack.namespace={STACK}",
            ).split("\n")[:-1]
        )
        + "]"
    )
    assert {e["Name"]: e["Replicas"] for e in engine} == {
        f"{STACK}_api": "2/2",
        f"{STACK}_db": "1/1",
        f"{STACK}_web": "1/1",
    }
    with urllib.request.urlopen("http://127.0.0.1:38411/version", timeout=5) as resp:
        assert resp.read().decode().strip() == "1"
    assert in_container("api", "wget -q -O - http://127.0.0.1:38412/").stdout.startswith(
        "attonix-test-httpd version 1"
    )


def test_second_apply_plans_nothing(driver: SwarmDriver) -> None:
    plan = driver.plan()
    assert plan.is_empty, [c.to_dict() for c in plan.pending]
    assert plan.counts()["unchanged"] == 8  # 3 secrets, 2 networks, 3 services


def test_editing_desired_files_leaves_the_plan_unchanged(driver: SwarmDriver) -> None:
    before = driver.plan()
    stack = next(c.payload for c in before.changes if c.kind == "service")
    rendered = json.dumps(stack.file.content, sort_keys=True)
    handed = driver.desired()
    services = handed[0].content["services"]
    for svc in services.values():
        svc["image"] = "localhost/attonix-test-missing:1"
        svc["deploy"]["replicas"] = 9
    services["intruder"] = {"image": "localhost/attonix-test-httpd:1"}
    handed.clear()
    after = driver.plan()
    assert after.is_empty, [c.to_dict() for c in after.pending]
    assert after.to_dict() == before.to_dict()
    stack = next(c.payload for c in after.changes if c.kind == "service")
    assert json.dumps(stack.file.content, sort_keys=True) == rendered
    assert "intruder" not in rendered and "attonix-test-missing" not in rendered
    assert driver.desired()[0].content["services"].keys() == {"api", "db", "web"}


def test_secrets_are_files_never_env_nor_rendered(driver: SwarmDriver) -> None:
    assert (
        in_container("api", "cat /run/secrets/api-token/token").stdout
        == SECRETS["ATTONIX_SECRET_API_TOKEN_TOKEN"]
    )
    assert (
        in_container("db", "cat /run/secrets/db/password").stdout
        == SECRETS["ATTONIX_SECRET_DB_CREDENTIALS_PASSWORD"]
    )
    inspected = docker("inspect", *containers("api"), *containers("db"))
    service_specs = docker("service", "inspect", f"{STACK}_api", f"{STACK}_db")
    rendered = "".join(a.text() for a in driver.desired())
    plan_json = json.dumps(driver.plan().to_dict())
    for value in (
        SECRETS["ATTONIX_SECRET_API_TOKEN_TOKEN"],
        SECRETS["ATTONIX_SECRET_DB_CREDENTIALS_PASSWORD"],
    ):
        for where in (inspected, service_specs, rendered, plan_json):
            assert value not in where
    env = json.loads(inspected)[0]["Config"]["Env"]
    assert "PORT=38412" in env or "PORT=38413" in env


def test_firewall_flows_hold(driver: SwarmDriver) -> None:
    # declared: web -> app, app -> data
    assert in_container("web", "wget -q -O - http://api:38412/version").stdout.strip() == "1"
    assert in_container("api", "wget -q -O - http://db:38413/version").stdout.strip() == "1"
    # undeclared: web -> data (no shared network: the name does not even resolve)
    blocked = in_container("web", "busybox timeout 5 wget -q -O - http://db:38413/version")
    assert blocked.returncode != 0
    answer = in_container("api", "busybox nslookup db").stdout
    db_ip = [line.split()[-1] for line in answer.splitlines() if line.startswith("Address")][-1]
    assert db_ip.count(".") == 3
    assert in_container("api", f"busybox timeout 4 nc {db_ip} 38413 </dev/null").returncode == 0
    by_ip = in_container("web", f"busybox timeout 4 nc {db_ip} 38413 </dev/null")
    assert by_ip.returncode != 0
    # undeclared reverse direction to another zone: data -> web
    assert in_container("db", "busybox timeout 5 wget -q -O - http://web:38411/").returncode != 0


def test_killed_container_is_healed_and_reported(driver: SwarmDriver) -> None:
    victim = containers("api")[0]
    docker("kill", victim)
    seen: list[tuple[int, int]] = []

    def degraded() -> bool:
        s = next(x for x in driver.status() if x.name == f"{STACK}_api")
        seen.append((s.running, s.healthy))
        return s.healthy < s.desired

    wait_until("status to report the killed task", degraded, timeout=15)
    wait_until(
        "the engine to heal the service",
        lambda: next(x for x in driver.status() if x.name == f"{STACK}_api").converged,
        timeout=60,
    )
    assert victim not in containers("api")
    assert any(h < 2 for _, h in seen)


def test_drift_shows_in_plan_and_apply_repairs_it(driver: SwarmDriver) -> None:
    docker("service", "scale", "-d", f"{STACK}_db=2")
    docker("service", "update", "-d", "--env-add", "PORT=38499", f"{STACK}_web")
    labels = selector(driver.bp).split(",")
    args = ["service", "create", "-d", "--name", f"{STACK}_extra"]
    for pair in labels:
        args += ["--label", pair]
    docker(*args, "localhost/attonix-test-httpd:1")
    plan = driver.plan()
    actions = {c.key: c.action for c in plan.pending}
    assert actions == {
        f"service/{STACK}_db": "update",
        f"service/{STACK}_web": "update",
        f"service/{STACK}_extra": "delete",
    }
    db_change = next(c for c in plan.pending if c.name == f"{STACK}_db")
    assert "-replicas: 2\n+replicas: 1" in db_change.diff
    web_change = next(c for c in plan.pending if c.name == f"{STACK}_web")
    assert "-  PORT: '38499'" in web_change.diff
    result = driver.apply(plan, timeout=120)
    assert result.ok, result.to_dict()
    assert driver.plan().is_empty


def test_rolling_update_serves_without_errors(driver: SwarmDriver) -> None:
    bp = driver.bp
    data = bp.model_dump(by_alias=True)
    next(s for s in data["services"]["backend"] if s["name"] == "api")["image"] = (
        "localhost/attonix-test-httpd:2"
    )
    updated = SwarmDriver(
        Blueprint.model_validate(data),
        cluster=driver.cluster,
        secrets=EnvSecretSource(bp.security.secrets, environ=SECRETS),
        state=driver._state,
    )
    plan = updated.plan()
    assert [c.key for c in plan.pending] == [f"service/{STACK}_api"]
    # A bounded loop of requests from the frontend (the only zone allowed to call the API).
    cid = containers("web")[0]
    loop = subprocess.Popen(
        [
            "docker",
            "exec",
            cid,
            "sh",
            "-c",
            "i=0; f=0; v2=0; while [ $i -lt 300 ]; do "
            "v=$(wget -q -O - http://api:38412/version) || f=$((f+1)); "
            '[ "$v" = 2 ] && v2=$((v2+1)); i=$((i+1)); busybox usleep 50000; done; '
            "echo $f $v2",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(1)
    result = updated.apply(plan, timeout=120)
    assert result.ok, result.to_dict()
    out, _ = loop.communicate(timeout=90)
    failures, served_v2 = (int(x) for x in out.split())
    assert failures == 0
    assert served_v2 > 0
    assert updated.plan().is_empty
    statuses = {s.name: s for s in updated.status()}
    assert statuses[f"{STACK}_api"].image == "localhost/attonix-test-httpd:2"


def test_destroy_removes_only_labelled_resources(driver: SwarmDriver) -> None:
    docker(
        "service",
        "create",
        "-d",
        "--name",
        DECOY,
        "--label",
        "attonix.io/blueprint=attonix-dtest",
        "localhost/attonix-test-httpd:1",
    )
    try:
        result = driver.destroy()
        assert result.ok, result.to_dict()
        for kind in ("service", "network", "secret", "volume", "ps"):
            assert labelled(kind) == [], kind
        # the decoy carries only one of the three blueprint labels: not Attonix's
        assert docker("service", "inspect", DECOY, "--format", "{{.Spec.Name}}").strip() == DECOY
        assert not driver.plan().of("delete")
    finally:
        docker("service", "rm", DECOY, check=False)
