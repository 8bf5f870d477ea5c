"""Every workload the example blueprint renders for Kubernetes starts under ``podman kube play``
with its rendered probes, ports, securityContext, volumes and env, and becomes healthy under its
own probe; a probe broken on purpose never does.

The example's Kubernetes workloads are its Deployments and StatefulSets (every backend service
and the console). Its databases run only through operator custom resources (CloudNativePG
``Cluster``, MySQL ``InnoDBCluster``, ``MongoDBCommunity``; BigAnimal is managed): no plain
database pod is rendered, so none is played here. The MySQL and MongoDB backup ``CronJob``\\ s
are left out: kube play has no CronJob, and they need the real dump and upload tools. The
example's services are all checked over HTTP, so a supplementary blueprint (``KINDS`` below)
adds the other kinds through the same renderer: TCP, a command, and a worker without ports.

What Podman (4.3 here) makes of a pod's probes — its ``docs/kubernetes_support.md`` says the
same for 5.x — and what the test therefore does:

* the ``livenessProbe`` becomes the container's health check: ``httpGet`` → ``curl -f
  HTTP://localhost:PORT/PATH || exit 1``; ``tcpSocket`` → ``nc -z -v HOST PORT || exit 1``
  (4.3 leaves HOST empty, 4.4+ write ``localhost``); ``exec`` → the argv joined by spaces and
  run by ``/bin/sh -c`` (4.3; later versions run the argv). ``initialDelaySeconds`` is the start
  period, ``periodSeconds`` the interval, ``timeoutSeconds`` the timeout, ``failureThreshold``
  the retries, and an unhealthy container is restarted (``restartPolicy: Always``);
* ``readinessProbe`` is ignored (and 4.3 ignores ``startupProbe``). The renderer gives both
  probes the same action, which the test asserts, so Podman's check runs the readiness action;
* Podman schedules checks with systemd timers, and PID 1 here is not systemd: the test runs
  ``podman healthcheck run``, which executes Podman's own check and records ``State.Health``
  exactly as a timer would;
* ``runAsNonRoot``, ``fsGroup``, ``seccompProfile``, service accounts, ``enableServiceLinks``
  and scheduling fields are ignored; the test checks the uid and capabilities itself.

What stands in for what Podman cannot take (everything else is played as rendered):

* image → ``localhost/attonix-test-standin:1`` (``scripts/setup.d/22-standin-image.sh``), and
  command/args → its ``standin`` program with options read from the rendered pod: every
  read-only mount must hold a readable file (``--read``), every other mount must be writable
  (``--write``), then it answers each probe's HTTP path or TCP port and serves HTTP on every
  other declared port; ``imagePullPolicy: Always`` → ``IfNotPresent`` (no registry here);
* ``replicas`` → 1: replicas differ only in name, and each publishes its ports on the host;
* names get a per-run prefix (Podman names are host-wide); a ``attonix.test/run`` label is
  added to the pod for clean-up;
* Secrets (from the vault, or cert-manager for ``*-internal-tls``) → Podman secrets of the same
  keys (the declared ``keys``; ``tls.crt``, ``tls.key``, ``ca.crt`` for certificates) with
  placeholder values, named with the run prefix; ``optional: false`` is added to each secret
  volume, without which Podman 4.3 crashes (containers/podman#16636);
* ``emptyDir`` ``tmp`` → renamed per workload: Podman 4.3 turns it into a named volume called
  after the pod volume, which every pod would otherwise share;
* StatefulSet → Deployment (kube play has no StatefulSet): each ``volumeClaimTemplates`` entry
  becomes a ``PersistentVolumeClaim`` (a Podman named volume) mounted under the template's name;
* each ``containerPort`` gets a ``hostPort`` on 127.0.0.1 (Podman 4.3 otherwise publishes it on
  the same host port, where the example's services would collide), so the host also checks that
  the port each Service targets answers.
"""

from __future__ import annotations

import copy
import json
import secrets
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from attonix.blueprint.loader import load_bytes, load_file
from attonix.blueprint.model import Blueprint
from attonix.deploy.podman import secret_document
from attonix.render import dump_yaml, render
from attonix.render.workloads import consumer_secrets

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
STANDIN = "localhost/attonix-test-standin:1"  # built by scripts/setup.d/22-standin-image.sh
RUN_LABEL = "attonix.test/run"
CERT_KEYS = ("tls.crt", "tls.key", "ca.crt")
HEALTHY_WITHIN = 90.0  # seconds, for every workload together on a loaded 2-core machine

#: The health-check kinds the example lacks, rendered through the same Kubernetes renderer.
KINDS = """
apiVersion: attonix.io/v1
kind: DataCenter
metadata: {name: kinds, environment: test, domain: kinds.example.com}
hosts:
  - {name: node-1, address: 10.0.0.1, zone: z1, rack: r1}
orchestration:
  clusters:
    - {name: kube, kind: kubernetes, version: "1.35", control_plane: [node-1]}
security:
  tls: {ca: {name: kinds-ca, common_name: Kinds CA}}
  secrets:
    - {name: queue-token, keys: [token]}
services:
  backend:
    # A cache: a port that does not speak HTTP is checked by a TCP connect.
    - {name: cache, cluster: kube, namespace: kinds, image: reg/cache:7, replicas: 1,
       ports: [{name: redis, port: 6379}], health: {initial_delay_seconds: 1}}
    # A worker checked by a command it runs (the stand-in's 'standin probe').
    - {name: queue-worker, cluster: kube, namespace: kinds, image: reg/worker:1, replicas: 1,
       health: {command: [standin, probe], initial_delay_seconds: 1},
       secrets: [{secret: queue-token}]}
    # A worker without ports and without a check: running is all there is to see.
    - {name: sweeper, cluster: kube, namespace: kinds, image: reg/sweeper:1, replicas: 1}
"""


def _podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check)


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class Played:
    """One rendered workload as played: where it came from and what it became."""

    source: str  # the blueprint
    rendered: dict[str, Any]  # the Deployment or StatefulSet exactly as rendered
    doc: dict[str, Any]  # the Deployment played
    container: str  # the Podman container name
    host_ports: dict[int, int] = field(default_factory=dict)  # containerPort -> hostPort
    broken: bool = False

    @property
    def name(self) -> str:
        return f"{self.source}/{self.rendered['metadata']['name']}" + (
            " (broken probe)" if self.broken else ""
        )

    @property
    def spec(self) -> dict[str, Any]:
        c: dict[str, Any] = self.rendered["spec"]["template"]["spec"]["containers"][0]
        return c


def _port_number(port: int | str, container: dict[str, Any]) -> int:
    if isinstance(port, int):
        return port
    return next(int(p["containerPort"]) for p in container["ports"] if p["name"] == port)


def _standin_args(container: dict[str, Any]) -> list[str]:
    """The stand-in's options, read from the rendered container (never from the blueprint)."""
    args: list[str] = []
    for m in container.get("volumeMounts", []):
        args += ["--read" if m.get("readOnly") else "--write", m["mountPath"]]
    probed: set[int] = set()
    for key in ("readinessProbe", "livenessProbe"):
        probe = container.get(key) or {}
        if "httpGet" in probe:
            port = _port_number(probe["httpGet"]["port"], container)
            args += ["--http", f"{port}:{probe['httpGet'].get('path', '/')}"]
            probed.add(port)
        elif "tcpSocket" in probe:
            port = _port_number(probe["tcpSocket"]["port"], container)
            if port not in probed:
                args += ["--tcp", str(port)]
            probed.add(port)
    for p in container.get("ports", []):
        if p["containerPort"] not in probed:
            args += ["--http", f"{p['containerPort']}:/"]
    return args


def _secret_keys(bp: Blueprint, docs: list[dict[str, Any]]) -> dict[str, tuple[str, ...]]:
    keys = {s.name: tuple(s.keys) or ("value",) for s in bp.security.secrets}
    # A service's own database login (`<database>.<service>`) has the keys of the database's
    # credentials secret, whose place it takes in the service's pods.
    for name, (db, _service) in consumer_secrets(bp).items():
        keys[name] = keys[bp.databases_by_name[db].credentials_secret]
    for d in docs:
        if d["kind"] == "Certificate":
            keys[d["spec"]["secretName"]] = CERT_KEYS
    return keys


def _playable(
    rendered: dict[str, Any], *, run: str, ports: Iterator[int]
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[int, int]]:
    """The Deployment Podman plays for a rendered workload, its PVCs and its host ports."""
    doc = copy.deepcopy(rendered)
    name = f"{run}-{doc['metadata']['name']}"
    doc["kind"] = "Deployment"
    doc["metadata"] = {"name": name, "labels": doc["metadata"]["labels"]}
    spec = doc["spec"]
    spec["replicas"] = 1
    pod = spec["template"]["spec"]
    spec["template"]["metadata"]["labels"][RUN_LABEL] = run
    claims = []
    for template in spec.pop("volumeClaimTemplates", []):
        claim = f"{run}-{template['metadata']['name']}-{rendered['metadata']['name']}-0"
        claims.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": claim},
                "spec": template["spec"],
            }
        )
        pod["volumes"].append(
            {"name": template["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim}}
        )
    for key in (
        "serviceName",
        "podManagementPolicy",
        "updateStrategy",
        "persistentVolumeClaimRetentionPolicy",
    ):
        spec.pop(key, None)
    renamed = {}
    for vol in pod["volumes"]:
        if "emptyDir" in vol:
            renamed[vol["name"]] = vol["name"] = f"{name}-{vol['name']}"
        if "secret" in vol:
            vol["secret"]["secretName"] = f"{run}-{vol['secret']['secretName']}"
            vol["secret"]["optional"] = False
    c = pod["containers"][0]
    for m in c.get("volumeMounts", []):
        m["name"] = renamed.get(m["name"], m["name"])
    c["args"] = _standin_args(rendered["spec"]["template"]["spec"]["containers"][0])
    c["command"] = ["/bin/standin"]
    c["image"] = STANDIN
    c["imagePullPolicy"] = "IfNotPresent"
    host_ports = {}
    for p in c.get("ports", []):
        p["hostPort"] = host_ports[p["containerPort"]] = next(ports)
        p["hostIP"] = "127.0.0.1"
    return doc, claims, host_ports


def _break_probes(doc: dict[str, Any], port: int) -> None:
    """Point both probes at a port nothing listens on (the stand-in still serves the right one)."""
    c = doc["spec"]["template"]["spec"]["containers"][0]
    for key in ("readinessProbe", "livenessProbe"):
        action = c[key].get("httpGet") or c[key]["tcpSocket"]
        action["port"] = port


@dataclass
class Stage:
    """Everything one run played, and what it must remove afterwards."""

    run: str
    manifest: Path
    workloads: list[Played]
    services: dict[tuple[str, str], dict[str, Any]]
    secret_names: list[str]
    volumes: list[str]
    play_seconds: float = 0.0


def _render(bp: Blueprint) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = render(bp, "kubernetes", single_file=True)[0].content
    return docs


def _stage(tmp_path: Path, run: str) -> Stage:
    example = load_file(ROOT / "examples" / "attonixcorp.yaml").blueprint
    kinds = load_bytes(KINDS).blueprint
    engine = tuple(
        int(p)
        for p in _podman("version", "--format", "{{.Client.Version}}")
        .stdout.strip()
        .split("-")[0]
        .split(".")
    )
    ports = iter(_free_ports(64))
    workloads: list[Played] = []
    services: dict[tuple[str, str], dict[str, Any]] = {}
    claims: list[dict[str, Any]] = []
    wanted: dict[str, tuple[str, ...]] = {}
    for source, bp in (("attonixcorp", example), ("kinds", kinds)):
        docs = _render(bp)
        keys = _secret_keys(bp, docs)
        for d in docs:
            if d["kind"] == "Service":
                services[(d["metadata"]["namespace"], d["metadata"]["name"])] = d
            if d["kind"] not in ("Deployment", "StatefulSet"):
                continue
            doc, pvcs, host_ports = _playable(d, run=run, ports=ports)
            claims += pvcs
            for vol in d["spec"]["template"]["spec"]["volumes"]:
                if "secret" in vol:
                    wanted[vol["secret"]["secretName"]] = keys[vol["secret"]["secretName"]]
            name = doc["metadata"]["name"]
            container = f"{name}-pod-0-{d['spec']['template']['spec']['containers'][0]['name']}"
            workloads.append(Played(source, d, doc, container, host_ports))
    # The same workloads with their probes pointed at a port nothing listens on: one HTTP, one TCP.
    for target in ("attonix-server", "cache"):
        good = next(w for w in workloads if w.rendered["metadata"]["name"] == target)
        doc, _, host_ports = _playable(good.rendered, run=f"{run}-broken", ports=ports)
        _break_probes(doc, next(ports))
        for vol in doc["spec"]["template"]["spec"]["volumes"]:
            if "secret" in vol:
                vol["secret"]["secretName"] = vol["secret"]["secretName"].replace(
                    f"{run}-broken-", f"{run}-", 1
                )
        name = doc["metadata"]["name"]
        container = f"{name}-pod-0-{good.spec['name']}"
        workloads.append(Played(good.source, good.rendered, doc, container, host_ports, True))
    secret_names = []
    for secret, keys in sorted(wanted.items()):
        name = f"{run}-{secret}"
        values = {k: f"placeholder {k} of {secret}" for k in keys}
        secret_names.append(name)
        subprocess.run(
            ["podman", "secret", "create", name, "-"],
            input=secret_document(name, values, engine=engine),
            capture_output=True,
            text=True,
            check=True,
        )
    manifest = tmp_path / "example.yaml"
    manifest.write_text(
        "".join("---\n" + dump_yaml(d) for d in [*claims, *(w.doc for w in workloads)])
    )
    volumes = [c["metadata"]["name"] for c in claims] + [
        v["name"]
        for w in workloads
        for v in w.doc["spec"]["template"]["spec"]["volumes"]
        if "emptyDir" in v
    ]
    # Podman 4.3 copies each mounted secret into a volume of the same name.
    return Stage(run, manifest, workloads, services, secret_names, volumes + secret_names)


def _inspect(container: str) -> dict[str, Any]:
    info: dict[str, Any] = json.loads(_podman("inspect", container).stdout)[0]
    return info


def _checked(container: str) -> tuple[str, dict[str, Any]]:
    """Run the container's health check once, as Podman's timer would; its verdict, and the
    container inspected afterwards."""
    done = _podman("healthcheck", "run", container, check=False)
    return ("healthy" if done.returncode == 0 else "unhealthy"), _inspect(container)


@dataclass
class Observed:
    """What a run saw: each container's last inspect, each check's verdict in turn, and each
    container's start times (a liveness failure restarts it)."""

    stage: Stage
    info: dict[str, dict[str, Any]]
    verdicts: dict[str, list[str]]
    starts: dict[str, list[str]]
    seconds: float

    def restarted(self, container: str) -> bool:
        return len(set(self.starts[container])) > 1


def _drive(stage: Stage) -> Observed:
    """Run every health check until each good workload is healthy and each broken one has
    failed as often in a row as its probe's failureThreshold (or the time is up), in parallel:
    a check costs a process start, and the machine is shared."""
    start = time.monotonic()
    info = {w.container: _inspect(w.container) for w in stage.workloads}
    verdicts: dict[str, list[str]] = {c: [] for c in info}
    starts = {c: [i["State"]["StartedAt"]] for c, i in info.items()}
    checked = [w for w in stage.workloads if info[w.container]["Config"].get("Healthcheck")]
    broken = {w.container for w in checked if w.broken}
    pending = {w.container for w in checked}

    def done(c: str) -> bool:
        health = info[c]["State"].get("Health") or {}
        if c in broken:
            return (
                int(health.get("FailingStreak") or 0) >= info[c]["Config"]["Healthcheck"]["Retries"]
            )
        return health.get("Status") == "healthy"

    with ThreadPoolExecutor(max_workers=4) as pool:
        while pending and time.monotonic() - start < HEALTHY_WITHIN:
            order = sorted(pending)
            for c, (verdict, seen) in zip(order, pool.map(_checked, order), strict=True):
                info[c] = seen
                verdicts[c].append(verdict)
                starts[c].append(seen["State"]["StartedAt"])
            pending = {c for c in pending if not done(c)}
            if pending:
                time.sleep(1)
    for w in stage.workloads:
        if w.container not in verdicts or not verdicts[w.container]:
            info[w.container] = _inspect(w.container)
    return Observed(stage, info, verdicts, starts, time.monotonic() - start)


def _clean(stage: Stage) -> None:
    _podman("kube", "down", str(stage.manifest), check=False)
    for run in (stage.run, f"{stage.run}-broken"):
        pods = _podman("pod", "ps", "-q", "--filter", f"label={RUN_LABEL}={run}", check=False)
        for pod in pods.stdout.split():
            _podman("pod", "rm", "-f", pod, check=False)
    for name in stage.secret_names:
        _podman("secret", "rm", name, check=False)
    if stage.volumes:
        _podman("volume", "rm", "-f", *stage.volumes, check=False)


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    if (
        shutil.which("podman") is None
        or _podman("image", "exists", STANDIN, check=False).returncode
    ):
        pytest.fail(f"needs podman and {STANDIN}: run scripts/setup.sh all")
    stage = _stage(tmp_path_factory.mktemp("kube-play"), f"kp{secrets.token_hex(3)}")
    try:
        start = time.monotonic()
        done = _podman("kube", "play", str(stage.manifest), check=False)
        stage.play_seconds = time.monotonic() - start
        assert done.returncode == 0, done.stderr
        yield _drive(stage)
    finally:
        _clean(stage)


def _report(observed: Observed) -> str:
    return "\n".join(
        f"{c}: {v} started {sorted(set(observed.starts[c]))} "
        f"health {observed.info[c]['State'].get('Health')}"
        for c, v in observed.verdicts.items()
    )


def _workload(observed: Observed, name: str, *, broken: bool = False) -> Played:
    return next(
        w
        for w in observed.stage.workloads
        if w.rendered["metadata"]["name"] == name and w.broken is broken
    )


def _good(observed: Observed) -> list[Played]:
    return [w for w in observed.stage.workloads if not w.broken]


def test_every_rendered_workload_is_played(observed: Observed) -> None:
    example = load_file(ROOT / "examples" / "attonixcorp.yaml").blueprint
    rendered = {
        (d["kind"], d["metadata"]["name"])
        for d in _render(example)
        if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job", "Pod")
    }
    played = {(w.rendered["kind"], w.rendered["metadata"]["name"]) for w in _good(observed)}
    assert rendered <= played
    assert ("StatefulSet", "analytics-api") in rendered  # the one with a volume claim
    for w in _good(observed):
        assert observed.info[w.container]["State"]["Running"], w.name


def test_each_workload_becomes_healthy_under_its_own_probe(observed: Observed) -> None:
    probed = [w for w in _good(observed) if "livenessProbe" in w.spec]
    kinds = set()
    for w in probed:
        readiness, liveness = w.spec["readinessProbe"], w.spec["livenessProbe"]
        action = {k: v for k, v in liveness.items() if k in ("httpGet", "tcpSocket", "exec")}
        kinds |= set(action)
        # Podman runs only the liveness probe: it must check what readiness checks.
        assert {k: readiness.get(k) for k in action} == action, w.name
        info = observed.info[w.container]
        test = " ".join(info["Config"]["Healthcheck"]["Test"])
        if "httpGet" in action:
            get = action["httpGet"]
            assert f":{get['port']}{get['path']}" in test, test
        elif "tcpSocket" in action:
            assert test.startswith("CMD-SHELL nc -z") and str(action["tcpSocket"]["port"]) in test
        else:
            assert " ".join(action["exec"]["command"]) in test
        assert info["Config"]["Healthcheck"]["Retries"] == liveness["failureThreshold"]
        health = info["State"]["Health"]
        assert health["Status"] == "healthy", (w.name, health)
        assert health["Log"][-1]["ExitCode"] == 0
        assert not observed.restarted(w.container), w.name
    assert kinds == {"httpGet", "tcpSocket", "exec"}
    assert observed.seconds < HEALTHY_WITHIN, _report(observed)


def test_a_worker_without_ports_runs_without_a_probe(observed: Observed) -> None:
    w = _workload(observed, "sweeper")
    assert "ports" not in w.spec and "livenessProbe" not in w.spec
    info = observed.info[w.container]
    assert not info["Config"].get("Healthcheck")
    assert info["State"]["Running"] and info["RestartCount"] == 0
    # Its start-up checks (readable secrets, writable /tmp) passed: it got to serving.
    assert _podman("exec", w.container, "standin", "probe", check=False).returncode == 0


def test_hardening_volumes_and_env_are_as_rendered(observed: Observed) -> None:
    for w in _good(observed):
        info = observed.info[w.container]
        sc = w.spec["securityContext"]
        assert sc["runAsNonRoot"] is True and sc["runAsUser"] != 0
        assert info["Config"]["User"] == f"{sc['runAsUser']}:{sc['runAsGroup']}", w.name
        assert info["HostConfig"]["ReadonlyRootfs"] is sc["readOnlyRootFilesystem"] is True
        status = _podman("exec", w.container, "cat", "/proc/1/status").stdout
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert fields["CapEff"].strip() == "0000000000000000", w.name
        assert fields["NoNewPrivs"].strip() == ("0" if sc["allowPrivilegeEscalation"] else "1")
        assert fields["Uid"].split()[0] == str(sc["runAsUser"])
        env = set(info["Config"]["Env"])
        for e in w.spec.get("env", []):
            assert f"{e['name']}={e['value']}" in env, (w.name, e)
        mounts = {m["Destination"]: m for m in info["Mounts"]}
        for m in w.spec["volumeMounts"]:
            assert m["mountPath"] in mounts, (w.name, m)
            assert mounts[m["mountPath"]]["RW"] is not m.get("readOnly", False), (w.name, m)


def test_each_service_targets_a_port_that_answers(observed: Observed) -> None:
    answered = 0
    for w in _good(observed):
        meta = w.rendered["metadata"]
        service = observed.stage.services.get((meta["namespace"], meta["name"]))
        if service is None:
            assert "ports" not in w.spec, f"{w.name} has ports but no Service"
            continue
        named = {p["name"]: p["containerPort"] for p in w.spec["ports"]}
        for port in service["spec"]["ports"]:
            target = named[port["targetPort"]]
            if w.rendered["metadata"]["name"] == "cache":
                continue  # not HTTP: its TCP check passed above
            url = f"http://127.0.0.1:{w.host_ports[target]}/"
            with urllib.request.urlopen(url, timeout=5) as resp:
                assert resp.status == 200
            answered += 1
    assert answered >= 5


def test_a_probe_on_the_wrong_port_never_becomes_healthy(observed: Observed) -> None:
    for name in ("attonix-server", "cache"):
        w = _workload(observed, name, broken=True)
        verdicts = observed.verdicts[w.container]
        assert verdicts and set(verdicts) == {"unhealthy"}, (w.name, verdicts)
        health = observed.info[w.container]["State"]["Health"]
        assert health["Status"] != "healthy" and health["Log"], (w.name, health)
        assert all(entry["ExitCode"] != 0 for entry in health["Log"])
        # Past the start period, failureThreshold failures in a row make it unhealthy and
        # Podman acts on it as the kubelet does on a failing liveness probe: it restarts the
        # container (Podman 4.3 at times leaves it stopped instead).
        assert health["FailingStreak"] >= w.spec["livenessProbe"]["failureThreshold"]
        state = observed.info[w.container]["State"]
        acted = observed.restarted(w.container) or not state["Running"]
        assert acted or health["Status"] == "unhealthy", (w.name, state)
        # The good twin of the same workload, with the same stand-in, is healthy.
        twin = _workload(observed, name)
        assert observed.info[twin.container]["State"]["Health"]["Status"] == "healthy"
        assert not observed.restarted(twin.container)
