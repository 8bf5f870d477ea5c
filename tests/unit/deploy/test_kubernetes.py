"""The Kubernetes driver without an API server: command construction, recorded ``kubectl
diff`` and ``kubectl get -o json`` output, prune selection, status, secrets kept off argv and
logs. Full cycles run ``tests/fixtures/deploy/kubectl/fake-kubectl``, which records every argv
and stdin it receives and answers from the recorded output."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from attonix.blueprint import load_file
from attonix.deploy import EnvSecretSource, LockHeld, get_driver
from attonix.deploy.kubernetes import SECRET_VERSIONS, KubernetesDriver
from attonix.deploy.kubernetes.parsing import (
    ObjectKey,
    parse_diff,
    parse_object_file,
    prune_candidates,
    workload_status,
)
from attonix.deploy.state import TargetLock
from attonix.render.desired import SecretObject
from attonix.render.kubernetes import secret_objects

FIXTURES = Path(__file__).parents[2] / "fixtures" / "deploy"
BLUEPRINT = FIXTURES / "shop-kubernetes.yaml"
KUBECTL = FIXTURES / "kubectl"
SECRETS = {
    "ATTONIX_SECRET_API_TOKEN_TOKEN": "tok-k8s-51e0c2-never-shown",
    "ATTONIX_SECRET_DB_CREDENTIALS_USERNAME": "shop",
    "ATTONIX_SECRET_DB_CREDENTIALS_PASSWORD": "pw-k8s-a77f31-never-shown",
}
VALUES = [v for k, v in SECRETS.items() if "USERNAME" not in k]
NS = "attonix-ktest"


def _live() -> list[dict[str, Any]]:
    return list(json.loads((KUBECTL / "get-labelled.json").read_text())["items"])


@pytest.fixture
def calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    log = tmp_path / "kubectl.jsonl"
    monkeypatch.setenv("FAKE_KUBECTL_LOG", str(log))
    return log


def _recorded(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.fixture
def driver(tmp_path: Path, calls: Path) -> KubernetesDriver:
    bp = load_file(BLUEPRINT).blueprint
    return KubernetesDriver(
        bp,
        cluster="kube-test",
        secrets=EnvSecretSource(bp.security.secrets, environ=SECRETS),
        kubectl=str(KUBECTL / "fake-kubectl"),
        kubeconfig="/etc/attonix/kubeconfig",
        state=tmp_path / "state",
    )


def test_registry_returns_the_kubernetes_driver() -> None:
    bp = load_file(BLUEPRINT).blueprint
    drv = get_driver("kubernetes", bp, secrets=EnvSecretSource(bp.security.secrets, environ={}))
    assert isinstance(drv, KubernetesDriver)
    assert drv.cluster == "kube-test"


def test_commands_use_server_side_apply_with_the_attonix_field_manager(
    driver: KubernetesDriver,
) -> None:
    kube = [str(KUBECTL / "fake-kubectl"), "--kubeconfig", "/etc/attonix/kubeconfig"]
    ssa = ["--server-side", "--field-manager=attonix", "--force-conflicts"]
    assert driver.diff_command() == [*kube, "diff", *ssa, "-f", "-"]
    assert driver.apply_command() == [*kube, "apply", *ssa, "-f", "-"]
    assert driver.apply_command(kustomization="/t/kube-test") == [
        *kube, "apply", *ssa, "-k", "/t/kube-test",
    ]  # fmt: skip
    deploy = ObjectKey("apps", "Deployment", NS, "api")
    assert driver.rollout_command(deploy, 90) == [
        *kube, "rollout", "status", "deployment.apps/api", "-n", NS, "--timeout=90s",
    ]  # fmt: skip
    assert driver.delete_command(ObjectKey("", "Namespace", "", "old")) == [
        *kube, "delete", "namespace", "old", "--ignore-not-found",
    ]  # fmt: skip
    selector = (
        "app.kubernetes.io/managed-by=attonix,attonix.io/blueprint=attonix-ktest,"
        "attonix.io/environment=test"
    )
    assert driver.destroy_commands(["deployment.apps", "secret"]) == [
        [*kube, "delete", "deployment.apps,secret", "-l", selector, "-A",
         "--ignore-not-found", "--wait=false"],
        [*kube, "delete", "namespace", "-l", selector, "--ignore-not-found", "--wait=false"],
    ]  # fmt: skip


def test_diff_output_becomes_create_and_update_changes() -> None:
    changes = parse_diff((KUBECTL / "diff.txt").read_text())
    assert [(c.kind, c.name, c.action) for c in changes] == [
        ("Namespace", NS, "create"),
        ("Secret", f"{NS}/api-token", "update"),
        ("Deployment", f"{NS}/web", "update"),
        ("Certificate", f"{NS}/api-internal-tls", "create"),
    ]
    web = changes[2]
    assert web.payload == ObjectKey("apps", "Deployment", NS, "web")
    assert '-          value: "38499"\n+          value: "38431"' in web.diff
    assert web.diff.count("@@") == 4  # both hunks, nothing of the next object
    assert changes[3].payload.group == "cert-manager.io"
    assert "*** (after)" in changes[1].diff  # kubectl masks secret data


def test_object_file_names_parse_with_groups_and_dotted_names() -> None:
    assert parse_object_file("/tmp/MERGED-1/v1.Namespace..shop") == ObjectKey(
        "", "Namespace", "", "shop"
    )
    assert parse_object_file("networking.k8s.io.v1.Ingress.web.www.example.com") == ObjectKey(
        "networking.k8s.io", "Ingress", "web", "www.example.com"
    )
    assert parse_object_file("autoscaling.v2beta2.HorizontalPodAutoscaler.ns.api") == ObjectKey(
        "autoscaling", "HorizontalPodAutoscaler", "ns", "api"
    )
    assert parse_object_file("not-an-object") is None


def test_prune_keeps_rendered_owned_and_certificate_secrets() -> None:
    desired = {
        ObjectKey("apps", "Deployment", NS, "api"),
        ObjectKey("apps", "Deployment", NS, "web"),
        ObjectKey("", "Secret", NS, "api-token"),
    }
    pruned = prune_candidates(_live(), desired=desired, secret_label="attonix.io/secret")
    assert pruned == [
        ObjectKey("", "Secret", NS, "retired-token"),
        ObjectKey("apps", "Deployment", NS, "old-api"),
    ]


def test_status_from_recorded_workloads() -> None:
    items = {i["metadata"]["name"]: i for i in _live() if i["kind"] == "Deployment"}
    api = workload_status(items["api"], desired=2)
    assert (api.name, api.desired, api.running, api.healthy, api.converged) == (
        f"Deployment/{NS}/api", 2, 2, 2, True,
    )  # fmt: skip
    web = workload_status(items["web"], desired=1)
    assert (web.running, web.healthy, web.converged) == (2, 1, False)
    assert web.message.startswith("ProgressDeadlineExceeded: ReplicaSet")
    drift = workload_status(items["old-api"], desired=3)
    assert drift.message == "the cluster wants 1 replicas (drift or an autoscaler)"


def test_secret_references_come_from_the_rendered_objects(driver: KubernetesDriver) -> None:
    state = driver.desired_state()
    assert state.secret_objects == (
        SecretObject(NS, "api-token"),
        SecretObject(NS, "db-credentials"),
    )
    pod = {"metadata": {"namespace": "a"}, "spec": {"volumes": [{"secret": {"secretName": "x"}}]}}
    ref = {"metadata": {}, "passwordSecretRef": {"name": "y", "key": "password"}}
    other = {"metadata": {"namespace": "a"}, "secretName": "other"}
    assert secret_objects([pod, ref, other], declared={"x", "y"}) == (
        SecretObject("", "y"),
        SecretObject("a", "x"),
    )


def test_desired_state_carries_the_workloads_with_their_replicas(
    driver: KubernetesDriver,
) -> None:
    state = driver.desired_state()
    controllers = [d for d in state.manifests if d["kind"] in ("Deployment", "StatefulSet")]
    assert [(w.kind, w.namespace, w.key) for w in state.workloads] == [
        (d["kind"], d["metadata"]["namespace"], d["metadata"]["name"]) for d in controllers
    ]
    assert [w.replicas for w in state.workloads] == [d["spec"]["replicas"] for d in controllers]
    assert {w.key: w.replicas for w in state.workloads}["api"] == 2
    files = {a.path: a.content for a in driver.desired()}
    assert all(any(m == c for c in files.values()) for m in state.manifests)
    assert len(files) == len(state.manifests) + 2  # the kustomization and the node labels


def test_plan_and_apply_keep_secret_values_off_argv_and_logs(
    driver: KubernetesDriver, calls: Path
) -> None:
    plan = driver.plan()
    counts = plan.counts()
    assert counts["create"] == 2 and counts["update"] == 2
    assert {c.name for c in plan.of("delete")} == {f"{NS}/old-api", f"{NS}/retired-token"}
    # rendered objects and two secrets, less the four objects kubectl diff reports
    assert counts["unchanged"] == len(driver.desired_state().manifests) + 2 - 4
    lines: list[str] = []
    result = driver.apply(plan, lines.append, timeout=60)
    assert result.ok, result.to_dict()
    assert result.done == [
        "apply 2 secret(s)",
        f"apply {len(driver.desired_state().manifests)} object(s) server-side",
        f"delete Secret {NS}/retired-token",
        f"delete Deployment {NS}/old-api",
        # only the Deployment the plan updates: api and db are unchanged, and an untouched
        # workload (however broken: the recorded db has no ready replica) is not waited for
        f"wait for rollout of Deployment {NS}/web",
    ]
    recorded = _recorded(calls)
    verbs = [c["argv"][3] for c in recorded]
    assert verbs[:2] == ["diff", "get"]
    assert verbs[2:6] == ["apply", "apply", "delete", "delete"]
    assert verbs[6:] == ["rollout"]
    # the values travel on stdin of the secret apply (and the diff) only
    secret_apply = recorded[2]
    assert secret_apply["argv"][-2:] == ["-f", "-"]
    assert "kind: Secret" in secret_apply["stdin"]
    tree_apply = recorded[3]
    assert tree_apply["argv"][-2] == "-k" and tree_apply["stdin"] == ""
    assert "--field-manager=attonix" in tree_apply["argv"]
    shown = json.dumps(plan.to_dict()) + json.dumps(result.to_dict()) + "\n".join(lines)
    for value in VALUES:
        assert all(value not in " ".join(c["argv"]) for c in recorded)
        assert value not in shown
        encoded = __import__("base64").b64encode(value.encode()).decode()
        assert encoded in secret_apply["stdin"]
        assert encoded not in shown


def test_half_failed_apply_reports_what_was_done_then_rerun_finishes(
    driver: KubernetesDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = driver.plan()
    monkeypatch.setenv("FAKE_KUBECTL_FAIL", "delete")
    failed = driver.apply(plan, timeout=60)
    assert not failed.ok
    assert failed.done == [
        "apply 2 secret(s)",
        f"apply {len(driver.desired_state().manifests)} object(s) server-side",
    ]
    assert failed.not_done[:2] == [
        f"delete Secret {NS}/retired-token",
        f"delete Deployment {NS}/old-api",
    ]
    assert "wait for rollout of Deployment attonix-ktest/web" in failed.not_done
    assert "admission webhook" in failed.error and "exit code 1" in failed.error
    monkeypatch.delenv("FAKE_KUBECTL_FAIL")
    assert driver.apply(driver.plan(), timeout=60).ok


def test_apply_is_refused_while_another_holds_the_lock(driver: KubernetesDriver) -> None:
    assert driver._state is not None
    driver._state.mkdir(parents=True, exist_ok=True)
    lock = TargetLock(driver._state, target="kubernetes", cluster="kube-test")
    plan = driver.plan()
    taken, done = threading.Event(), threading.Event()

    def other_operation() -> None:  # another apply, in another thread of this process
        with lock.held():
            taken.set()
            done.wait(10)

    holder = threading.Thread(target=other_operation)
    holder.start()
    try:
        assert taken.wait(10)
        with pytest.raises(LockHeld, match="another Attonix operation on kubernetes"):
            driver.apply(plan)
    finally:
        done.set()
        holder.join(10)


def test_two_cli_applies_second_is_refused(tmp_path: Path, calls: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "kubectl").symlink_to(KUBECTL / "fake-kubectl")
    env = {
        **os.environ,
        **SECRETS,
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
        "ATTONIX_STATE_DIR": str(tmp_path / "state"),
        "FAKE_KUBECTL_SLOW": "4",  # the first apply holds the lock in its rollout wait
    }
    cmd = [sys.executable, "-m", "attonix", "apply", str(BLUEPRINT), "-t", "kubernetes", "--yes"]
    first = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lock = tmp_path / "state" / "locks" / "kubernetes-kube-test.lock"
    try:
        deadline = time.monotonic() + 30
        while not (lock.is_file() and lock.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        second = subprocess.run(
            cmd, env=env, capture_output=True, text=True, check=False, timeout=60
        )
    finally:
        _, err = first.communicate(timeout=120)
    # The first apply ran every step; its verify then reads the fake's recorded (unconverged)
    # state and says so, as it would of a real cluster in that state.
    assert "done: wait for rollout of Deployment attonix-ktest/web" in err, err
    assert "verify: service Deployment/attonix-ktest/db: 0/1 healthy" in " ".join(err.split())
    assert second.returncode != 0
    message = " ".join(second.stderr.split())
    assert "another Attonix operation on kubernetes cluster 'kube-test' is running" in message
    assert f"apply by pid {first.pid}" in message


def test_operator_logins_give_each_cloudnativepg_consumer_its_own_role_login(
    tmp_path: Path,
) -> None:
    from attonix.deploy.credentials import FileCredentialStore, credential_name

    example = load_file(Path(__file__).parents[3] / "examples" / "attonixcorp.yaml").blueprint
    drv = KubernetesDriver(
        example,
        cluster="k8s-prod",
        secrets=EnvSecretSource(example.security.secrets, environ={}),
        state=tmp_path / "state",
    )
    refs = drv.desired_state().secret_objects
    made = drv.operator_logins(refs)
    store = FileCredentialStore(tmp_path / "state" / "credentials")
    server = credential_name(example, "pg-main", "attonix-server", "app")
    worker = credential_name(example, "pg-main", "attonix-worker", "app")
    events = credential_name(example, "mongo-events", "events-api", "app")
    assert sorted(made) == sorted([server, worker, events])  # not MySQL's (no CRD users)
    mongo = store.read(events)
    assert mongo is not None and mongo["username"] == "events-api"
    assert mongo["host"] == "mongo-events-svc.databases.svc"
    one, two = store.read(server), store.read(worker)
    assert one is not None and two is not None
    # the username is the role the Cluster declares for that service; passwords differ
    assert one["username"] == "attonix_attonix_server"
    assert two["username"] == "attonix_attonix_worker"
    assert one["password"] != two["password"] and len(one["password"]) >= 32
    # the Secret the Cluster and the pod reference carries that login, not the owner's
    (doc,) = drv.secret_manifests([SecretObject("databases", "pg-main.attonix-server")])
    data = {k: __import__("base64").b64decode(v).decode() for k, v in doc["data"].items()}
    assert data["username"] == "attonix_attonix_server" and data["password"] == one["password"]
    # a second run keeps the logins it made
    assert drv.operator_logins(refs) == []
    assert store.read(server) == one


def _controllers(stream: str) -> dict[str, dict[str, Any]]:
    """``kind/name`` -> the Deployment or StatefulSet among the YAML documents of ``stream``."""
    docs = [d for d in yaml.safe_load_all(stream) if d]
    return {
        f"{d['kind']}/{d['metadata']['name']}": d
        for d in docs
        if d["kind"] in ("Deployment", "StatefulSet")
    }


def _versions_of(doc: dict[str, Any]) -> str | None:
    annotations = doc["spec"]["template"].get("metadata", {}).get("annotations", {})
    value = annotations.get(SECRET_VERSIONS)
    return None if value is None else str(value)


def test_a_new_secret_value_changes_the_pod_template_of_its_consumers_only(
    tmp_path: Path, calls: Path
) -> None:
    """A Secret keeps its name when its value changes; the pod templates that reference it
    carry its versioned name, so the plan updates them and the apply rolls their pods."""
    bp = load_file(BLUEPRINT).blueprint

    def driver(token: str) -> KubernetesDriver:
        environ = {**SECRETS, "ATTONIX_SECRET_API_TOKEN_TOKEN": token}
        return KubernetesDriver(
            bp,
            cluster="kube-test",
            secrets=EnvSecretSource(bp.security.secrets, environ=environ),
            kubectl=str(KUBECTL / "fake-kubectl"),
            state=tmp_path / "state",
        )

    old_token, new_token = SECRETS["ATTONIX_SECRET_API_TOKEN_TOKEN"], "tok-k8s-rotated-9d2e"
    before = driver(old_token)
    before.plan()
    after = driver(new_token)
    after.plan()
    diffed = [c["stdin"] for c in _recorded(calls) if c["argv"][1] == "diff"]
    old, new = _controllers(diffed[0]), _controllers(diffed[1])
    api, db, web = "Deployment/api", "Deployment/db", "Deployment/web"
    versions = {k: _versions_of(d) for k, d in old.items()}
    assert versions[web] is None  # its pods reference no declared secret
    assert re.fullmatch(r"api-token-[0-9a-f]{10}", versions[api] or "")
    assert re.fullmatch(r"db-credentials-[0-9a-f]{10}", versions[db] or "")
    # the token's new value changes the template of its consumer, and of no other workload
    assert _versions_of(new[api]) != versions[api]
    assert {k: _versions_of(d) for k, d in new.items() if k != api} == {
        k: v for k, v in versions.items() if k != api
    }
    # the annotation is the Swarm/Podman versioned name: keyed, never the value or its hash
    assert versions[api] == after.versioned("api-token", {"token": old_token})
    for token in (old_token, new_token):
        digest = hashlib.sha256(token.encode()).hexdigest()
        for stream in diffed:
            assert token not in "".join(str(_versions_of(d)) for d in _controllers(stream).values())
            assert digest[:10] not in stream
    # the applied tree carries it too; the rendered files (and golden files) do not
    assert after.apply(after.plan(), timeout=60).ok
    (tree,) = [c["tree"] for c in _recorded(calls) if "tree" in c]
    applied = yaml.safe_load(tree["attonix-ktest/deployment-api.yaml"])
    assert _versions_of(applied) == _versions_of(new[api])
    assert SECRET_VERSIONS not in "".join(a.text() for a in after.desired())


def test_a_rotated_login_changes_the_pod_template_of_its_service_only(tmp_path: Path) -> None:
    """``attonix rotate`` promotes a new version of a service's login in the credential store:
    the Deployment or StatefulSet of that service, and of no other, gets a new template."""
    from attonix.deploy.credentials import FileCredentialStore, credential_name

    example = load_file(Path(__file__).parents[3] / "examples" / "attonixcorp.yaml").blueprint
    drv = KubernetesDriver(
        example,
        cluster="k8s-prod",
        secrets=EnvSecretSource(example.security.secrets, environ=_example_secrets(example)),
        state=tmp_path / "state",
    )
    state = drv.desired_state()
    drv.operator_logins(state.secret_objects)

    def templates() -> dict[str, str | None]:
        versions = drv.secret_versions(state.secret_objects)
        return {
            f"{d['kind']}/{d['metadata']['name']}": _versions_of(
                dict(drv.with_versions(d, versions))
            )
            for d in state.manifests
            if d["kind"] in ("Deployment", "StatefulSet")
        }

    first = templates()
    assert first["Deployment/attonix-console"] is None
    assert "pg-main.attonix-server-" in (first["Deployment/attonix-server"] or "")
    assert "analytics.analytics-api-" in (first["StatefulSet/analytics-api"] or "")
    store = FileCredentialStore(tmp_path / "state" / "credentials")
    login = credential_name(example, "pg-main", "attonix-server", "app")
    values = store.read(login)
    assert values is not None
    store.promote(login, store.put(login, {**values, "password": "rotated-7f3c-never-shown"}))
    second = templates()
    assert {k for k in first if first[k] != second[k]} == {"Deployment/attonix-server"}
    assert "rotated-7f3c-never-shown" not in str(second)
    # the rendered objects themselves are left as rendered
    assert all(SECRET_VERSIONS not in json.dumps(d) for d in state.manifests)


def _example_secrets(bp: Any) -> dict[str, str]:
    """A value for every key of every declared secret of ``bp``."""
    from attonix.blueprint.model import secret_env_var

    return {
        secret_env_var(s.name, key): f"{s.name}-{key}-value"
        for s in bp.security.secrets
        for key in s.keys
    }
