"""Pure parts of the deploy layer: plan building, secret sources, the apply lock, the views
that make Swarm state comparable, and the process runner's error reporting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from attonix.blueprint import load_file
from attonix.blueprint.model import Secret, secret_env_var
from attonix.deploy import _process
from attonix.deploy.base import DeployError, EngineUnavailable, LockHeld, Plan, compare
from attonix.deploy.secrets import (
    ChainSecretSource,
    EnvSecretSource,
    FileSecretSource,
    SecretMissing,
    version_tag,
)
from attonix.deploy.state import TargetLock, secret_key
from attonix.deploy.swarm import views
from attonix.render import render
from attonix.render.desired import SecretKeyRef, SecretMount, Workload
from attonix.render.swarm import container_spec, memory_bytes, seconds

SHOP = Path(__file__).parents[2] / "fixtures" / "deploy" / "shop.yaml"
NOTICE_THEN_FAIL = (
    "import sys; e = sys.stderr; e.write('notice\\nboom: no such image\\n'); sys.exit(4)"
)
DAEMON_DOWN = "import sys; sys.stderr.write('Cannot connect to the Docker daemon'); sys.exit(1)"
DECLARED = [Secret(name="pg-creds", keys=["username", "password"])]


# ---------------------------------------------------------------- plan


def test_compare_classifies_each_action_with_a_diff() -> None:
    assert compare("service", "a", desired={"replicas": 2}, observed=None).action == "create"
    assert compare("service", "a", desired=None, observed={"replicas": 2}).action == "delete"
    same = compare("service", "a", desired={"replicas": 2}, observed={"replicas": 2})
    assert same.action == "unchanged" and same.diff == ""
    changed = compare("service", "a", desired={"replicas": 2}, observed={"replicas": 3})
    assert changed.action == "update"
    assert "-replicas: 3\n+replicas: 2" in changed.diff
    assert "--- live/service/a" in changed.diff


def test_plan_summary_and_json() -> None:
    plan = Plan(
        "swarm",
        "c1",
        (
            compare("secret", "s", desired={"labels": {}}, observed=None),
            compare("service", "a", desired={"x": 1}, observed={"x": 1}, payload={"private": 1}),
            compare("service", "b", desired=None, observed={"x": 1}),
        ),
    )
    assert not plan.is_empty
    assert [c.key for c in plan.pending] == ["secret/s", "service/b"]
    data = plan.to_dict()
    assert data["counts"] == {"create": 1, "update": 0, "delete": 1, "unchanged": 1}
    assert json.loads(json.dumps(data)) == data
    assert "payload" not in data["changes"][1] and "private" not in json.dumps(data)
    assert Plan("swarm", "c1", (plan.changes[1],)).is_empty


def _service_spec(**over: object) -> dict:  # type: ignore[type-arg]
    spec = {
        "Name": "st_api",
        "Labels": {"attonix.io/blueprint": "b", "com.docker.stack.namespace": "st"},
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": "img:1@sha256:abc",
                "Env": ["PORT=80"],
                "User": "1:1",
                "ReadOnly": True,
                "CapabilityDrop": ["ALL"],
                "Secrets": [{"File": {"Name": "/run/s/k"}, "SecretName": "b-s-k-123"}],
                "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 1000000000},
            },
            "Resources": {"Limits": {"NanoCPUs": 200000000, "MemoryBytes": 67108864}},
            "Networks": [{"Target": "n1"}],
        },
        "Mode": {"Replicated": {"Replicas": 2}},
        "UpdateConfig": {"Order": "start-first"},
    }
    spec.update(over)
    return spec


def _compose_service() -> dict:  # type: ignore[type-arg]
    return {
        "image": "img:1",
        "environment": {"PORT": "80"},
        "user": "1:1",
        "read_only": True,
        "cap_drop": ["ALL"],
        "healthcheck": {"test": ["CMD-SHELL", "true"], "interval": "1s"},
        "networks": ["net"],
        "secrets": [{"source": "s_k", "target": "/run/s/k"}],
        "labels": {},
        "deploy": {
            "replicas": 2,
            "labels": {"attonix.io/blueprint": "b"},
            "update_config": {"order": "start-first"},
            "resources": {"limits": {"cpus": "0.2", "memory": "64m"}},
        },
    }


def _workload() -> Workload:
    ref = SecretKeyRef("s", "k", "s_k", "b-s-k")
    return Workload(
        key="api",
        name="st_api",
        replicas=2,
        secrets=(SecretMount(ref, "/run/s/k", 1),),
        networks=("st_net",),
        container=container_spec(_compose_service()),
    )


def test_views_of_desired_state_and_inspect_agree_then_show_drift() -> None:
    w = _workload()
    ref = w.secrets[0].ref
    desired = views.service_view(w, secret_names={ref: "b-s-k-123"})
    live = views.service_from_inspect(_service_spec(), networks={"n1": "st_net"})
    assert desired == live
    scaled = _service_spec(Mode={"Replicated": {"Replicas": 5}})
    change = compare(
        "service",
        "st_api",
        desired=desired,
        observed=views.service_from_inspect(scaled, networks={"n1": "st_net"}),
    )
    assert change.action == "update" and "-replicas: 5" in change.diff
    rotated = views.service_view(w, secret_names={ref: "b-s-k-456"})
    assert compare("service", "st_api", desired=rotated, observed=live).action == "update"


def test_durations_and_memory() -> None:
    assert seconds("500ms") == 0.5
    assert seconds("2m") == 120
    assert memory_bytes("64m") == 64 << 20
    with pytest.raises(ValueError):
        memory_bytes("lots")


# ---------------------------------------------------------------- secrets


def test_env_source_reads_declared_keys() -> None:
    env = {
        secret_env_var("pg-creds", "username"): "app",
        secret_env_var("pg-creds", "password"): "s3",
    }
    assert secret_env_var("pg-creds", "password") == "ATTONIX_SECRET_PG_CREDS_PASSWORD"
    assert EnvSecretSource(DECLARED, environ=env).get("pg-creds") == {
        "username": "app",
        "password": "s3",
    }


def test_env_source_names_missing_variables_never_values() -> None:
    env = {secret_env_var("pg-creds", "username"): "topsecret-user"}
    with pytest.raises(SecretMissing) as exc:
        EnvSecretSource(DECLARED, environ=env).get("pg-creds")
    assert "ATTONIX_SECRET_PG_CREDS_PASSWORD" in exc.value.message
    assert "topsecret-user" not in exc.value.message
    with pytest.raises(SecretMissing, match="not declared"):
        EnvSecretSource(DECLARED, environ=env).get("other")


def test_file_source_and_permissions(tmp_path: Path) -> None:
    path = tmp_path / "secrets.yaml"
    path.write_text("pg-creds: {username: app, password: hunter2-xyz}\n")
    path.chmod(0o600)
    assert FileSecretSource(path, DECLARED).get("pg-creds") == {
        "username": "app",
        "password": "hunter2-xyz",
    }
    path.chmod(0o640)
    with pytest.raises(SecretMissing, match="accessible by group or others") as exc:
        FileSecretSource(path, DECLARED).get("pg-creds")
    assert "chmod 600" in exc.value.hint
    assert "hunter2" not in exc.value.message + exc.value.hint


def test_file_source_errors_do_not_quote_values(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("pg-creds: {username: app, password: 'unterminated-s3cr3t\n")
    path.chmod(0o600)
    with pytest.raises(SecretMissing) as exc:
        FileSecretSource(path).get("pg-creds")
    assert "s3cr3t" not in str(exc.value)
    path.write_text("pg-creds: {username: app}\n")
    with pytest.raises(SecretMissing, match="lacks key"):
        FileSecretSource(path, DECLARED).get("pg-creds")
    with pytest.raises(SecretMissing, match="cannot read"):
        FileSecretSource(tmp_path / "missing.yaml").get("pg-creds")


def test_chain_falls_through_and_reports_every_place(tmp_path: Path) -> None:
    env = {secret_env_var("pg-creds", "username"): "u", secret_env_var("pg-creds", "password"): "p"}
    empty = tmp_path / "s.json"
    empty.write_text("{}")
    empty.chmod(0o600)
    chain = ChainSecretSource(
        FileSecretSource(empty, DECLARED), EnvSecretSource(DECLARED, environ=env)
    )
    assert chain.get("pg-creds") == {"username": "u", "password": "p"}
    with pytest.raises(SecretMissing) as exc:
        ChainSecretSource(FileSecretSource(empty), EnvSecretSource(DECLARED, environ={})).get(
            "pg-creds"
        )
    assert (
        str(empty) in exc.value.message and "ATTONIX_SECRET_PG_CREDS_USERNAME" in exc.value.message
    )


def test_version_tag_is_keyed_and_changes_with_value() -> None:
    a = version_tag({"": "v1"}, key=b"k" * 32)
    assert a == version_tag({"": "v1"}, key=b"k" * 32)
    assert a != version_tag({"": "v2"}, key=b"k" * 32)
    assert a != version_tag({"": "v1"}, key=b"j" * 32)
    assert len(a) == 10 and "v1" not in a


def test_secret_key_is_created_private_and_reused(tmp_path: Path) -> None:
    key = secret_key(tmp_path)
    assert len(key) == 32 and secret_key(tmp_path) == key
    assert (tmp_path / "secret-version.key").stat().st_mode & 0o777 == 0o600


# ---------------------------------------------------------------- lock


def test_lock_is_exclusive_across_processes_and_names_holder(tmp_path: Path) -> None:
    lock = TargetLock(tmp_path, target="swarm", cluster="c1")
    with lock.held(purpose="apply"):
        code = (
            "import sys; from pathlib import Path; from attonix.deploy.state import TargetLock\n"
            "from attonix.deploy.base import LockHeld\n"
            f"l = TargetLock(Path({str(tmp_path)!r}), target='swarm', cluster='c1')\n"
            "try:\n    l.acquire()\nexcept LockHeld as e:\n    print(e.message); sys.exit(3)\n"
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert proc.returncode == 3, proc.stderr
        assert f"apply by pid {os.getpid()}" in proc.stdout
        # another cluster is a different lock
        other = TargetLock(tmp_path, target="swarm", cluster="c2")
        other.acquire()
        other.release()
    again = TargetLock(tmp_path, target="swarm", cluster="c1")
    again.acquire()
    refused: list[BaseException] = []

    def other_thread() -> None:
        try:
            TargetLock(tmp_path, target="swarm", cluster="c1").acquire()
        except LockHeld as exc:
            refused.append(exc)

    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join(10)
    assert len(refused) == 1 and "is running" in str(refused[0])
    again.release()


def test_the_holding_thread_may_nest_and_the_outer_release_frees(tmp_path: Path) -> None:
    outer = TargetLock(tmp_path, target="podman", cluster="c1")
    with outer.held():
        inner = TargetLock(tmp_path, target="podman", cluster="c1")
        inner.acquire()  # e.g. the driver's apply inside the CLI's plan-to-apply lock
        inner.release()
        inner.release()  # idempotent: does not drop the outer hold
        code = (
            "import sys; from pathlib import Path; from attonix.deploy.state import TargetLock\n"
            "from attonix.deploy.base import LockHeld\n"
            f"l = TargetLock(Path({str(tmp_path)!r}), target='podman', cluster='c1')\n"
            "try:\n    l.acquire()\nexcept LockHeld:\n    sys.exit(3)\n"
        )
        still = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert still.returncode == 3, still.stderr
    free = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert free.returncode == 0, free.stderr


# ---------------------------------------------------------------- processes


def test_failing_command_names_command_code_and_stderr() -> None:
    with pytest.raises(DeployError) as exc:
        _process.run(
            [
                sys.executable,
                "-c",
                NOTICE_THEN_FAIL,
            ]
        )
    err = exc.value
    assert err.exit_code == 4
    assert "boom: no such image" in err.message and "exit code 4" in err.message
    assert err.command[0] == sys.executable


def test_missing_binary_and_unreachable_engine_are_one_sentence() -> None:
    with pytest.raises(EngineUnavailable, match="not installed"):
        _process.run(["attonix-no-such-engine", "info"])
    with pytest.raises(EngineUnavailable, match="cannot reach its engine"):
        _process.run(
            [
                sys.executable,
                "-c",
                DAEMON_DOWN,
            ],
            unavailable=lambda done: "Cannot connect" in done.stderr,
        )


def test_swarm_driver_reports_dockerd_down(tmp_path: Path) -> None:
    from attonix.deploy.swarm import SwarmDriver

    bp = load_file(SHOP).blueprint
    drv = SwarmDriver(
        bp, cluster="swarm-test", secrets=EnvSecretSource([], environ={}), state=tmp_path
    )
    drv._docker = "attonix-no-such-docker"
    with pytest.raises(EngineUnavailable):
        drv.status()
    assert render(bp, "swarm")  # pure part still works without an engine
