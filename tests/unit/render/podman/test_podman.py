"""The podman target: kube YAML content (hardened, labelled, secrets by reference), Quadlet
units checked against the keys podman-systemd.unit(5) documents, determinism, and the YAML run
for real by ``podman kube play``."""

from __future__ import annotations

import configparser
import shlex
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from attonix.blueprint import Blueprint, load_file
from attonix.render import render
from attonix.render.base import RenderError
from attonix.render.labels import blueprint_labels
from attonix.render.podman import rendered

FIXTURE = Path(__file__).parents[3] / "fixtures" / "deploy" / "shop-podman.yaml"
EXAMPLE = Path(__file__).parents[4] / "examples" / "attonixcorp.yaml"

#: Keys Quadlet accepts per section of a .kube / .network unit, from podman-systemd.unit(5)
#: (Podman 4.4-5.x): [Kube] "Kube units" table, [Network] "Network units" table. [Unit],
#: [Service] and [Install] are plain systemd sections; the keys below are the ones these
#: units may use (systemd.unit(5), systemd.service(5)).
QUADLET_KEYS: dict[str, set[str]] = {
    "Unit": {"Description", "Wants", "After", "Requires", "Before"},
    "Kube": {
        "AutoUpdate", "ConfigMap", "ContainersConfModule", "ExitCodePropagation", "GlobalArgs",
        "KubeDownForce", "LogDriver", "Network", "PodmanArgs", "PublishPort",
        "SetWorkingDirectory", "UserNS", "Yaml",
    },
    "Network": {
        "ContainersConfModule", "DisableDNS", "DNS", "Driver", "Gateway", "GlobalArgs",
        "IPAMDriver", "IPRange", "IPv6", "Internal", "Label", "NetworkName", "Options",
        "PodmanArgs", "Subnet",
    },
    "Service": {"Restart", "TimeoutStartSec"},
    "Install": {"WantedBy", "RequiredBy"},
}  # fmt: skip


def _bp() -> Blueprint:
    return load_file(FIXTURE).blueprint


def _by_path(bp: Blueprint) -> dict[str, Any]:
    return {a.path: a for a in render(bp, "podman")}


def _unit(text: str) -> dict[str, list[tuple[str, str]]]:
    sections: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            assert current not in sections, f"section {current} repeated"
            sections[current] = []
        else:
            key, sep, value = line.partition("=")
            assert sep and current, f"not a key=value line in a section: {line!r}"
            sections[current].append((key, value))
    return sections


def test_one_yaml_and_unit_per_service_plus_the_network() -> None:
    paths = sorted(_by_path(_bp()))
    assert paths == [
        "podman/podman-test/api.kube",
        "podman/podman-test/api.yaml",
        "podman/podman-test/attonix-ptest-podman-test.network",
        "podman/podman-test/db.kube",
        "podman/podman-test/db.yaml",
        "podman/podman-test/web.kube",
        "podman/podman-test/web.yaml",
    ]


def test_deployment_is_hardened_labelled_and_mounts_secrets_by_name() -> None:
    bp = _bp()
    doc = _by_path(bp)["podman/podman-test/db.yaml"].content
    assert (doc["apiVersion"], doc["kind"], doc["metadata"]["name"]) == (
        "apps/v1", "Deployment", "attonix-ptest-db",
    )  # fmt: skip
    pod = doc["spec"]["template"]["spec"]
    labels = doc["spec"]["template"]["metadata"]["labels"]
    assert blueprint_labels(bp).items() <= labels.items()
    assert pod["restartPolicy"] == "Always"
    assert "serviceAccountName" not in pod and "topologySpreadConstraints" not in pod
    c = pod["containers"][0]
    assert c["imagePullPolicy"] == "IfNotPresent"
    sec = c["securityContext"]
    assert sec["readOnlyRootFilesystem"] and sec["runAsNonRoot"]
    assert sec["capabilities"] == {"drop": ["ALL"]} and not sec["allowPrivilegeEscalation"]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 38433, "scheme": "HTTP"}
    assert c["ports"] == [
        {"name": "sql", "containerPort": 38433, "protocol": "TCP", "hostPort": 38433,
         "hostIP": "127.0.0.1"},
    ]  # fmt: skip
    secret_vols = [v for v in pod["volumes"] if "secret" in v]
    assert secret_vols == [
        {
            "name": "secret-db-credentials",
            "secret": {
                "secretName": "attonix-ptest-db-credentials",
                "defaultMode": 0o440,
                "optional": False,
            },
        }
    ]
    assert {"name": "secret-db-credentials", "mountPath": "/run/secrets/db", "readOnly": True} in c[
        "volumeMounts"
    ]
    assert {"name": "attonix-ptest-db-tmp", "mountPath": "/tmp"} in c["volumeMounts"]


def test_the_desired_state_says_what_the_file_says() -> None:
    """What the deploy step plans from (replicas, image, ports, health, secret keys, volumes,
    network) is what the YAML it hands to ``podman kube play`` asks for."""
    bp = _bp()
    state = rendered(bp).of("podman", "podman-test")
    files = {a.path: a.content for a in state.files}
    assert [(w.key, w.name, w.replicas) for w in state.workloads] == [
        ("api", "attonix-ptest-api", 2),
        ("db", "attonix-ptest-db", 1),
        ("web", "attonix-ptest-web", 1),
    ]
    for w in state.workloads:
        doc = files[f"podman/podman-test/{w.key}.yaml"]
        pod = doc["spec"]["template"]["spec"]
        c = pod["containers"][0]
        assert (w.replicas, w.spec["image"]) == (doc["spec"]["replicas"], c["image"])
        get = c["livenessProbe"]["httpGet"]
        assert w.spec["health"] == f"http://localhost:{get['port']}{get['path']}"
        assert w.spec["ports"] == [
            f"{p['hostIP']}:{p['hostPort']}->{p['containerPort']}/tcp" for p in c.get("ports", [])
        ]
        secret_vols = {
            v["name"]: v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v
        }
        mounted = {m["mountPath"]: secret_vols[m["name"]] for m in c["volumeMounts"]
                   if m["name"] in secret_vols}  # fmt: skip
        assert {(m.path.rsplit("/", 1)[0], m.ref.base) for m in w.secrets} == set(mounted.items())
        assert w.networks == ("attonix-ptest-podman-test",)
        assert set(w.volumes) == {v["name"] for v in pod["volumes"] if "secret" not in v}
    db = state.workload("attonix-ptest-db")
    assert db is not None
    assert [(m.ref.secret, m.ref.key, m.path, m.uid) for m in db.secrets] == [
        ("db-credentials", "username", "/run/secrets/db/username", 10001),
        ("db-credentials", "password", "/run/secrets/db/password", 10001),
    ]
    assert [v.name for v in state.volumes] == [
        f"attonix-ptest-{s}-tmp" for s in ("api", "db", "web")
    ]
    (net,) = state.networks
    assert net.labels["attonix.io/podman-cluster"] == "podman-test"


def test_unpublished_workload_lists_no_ports_and_keeps_replicas() -> None:
    doc = _by_path(_bp())["podman/podman-test/api.yaml"].content
    assert doc["spec"]["replicas"] == 2
    assert "ports" not in doc["spec"]["template"]["spec"]["containers"][0]


def test_exposed_workload_with_several_replicas_is_refused() -> None:
    data = _bp().model_dump(by_alias=True)
    data["services"]["frontend"][0]["replicas"] = 2
    with pytest.raises(RenderError, match="one replica per host, not 2"):
        render(Blueprint.model_validate(data), "podman")


def test_quadlet_units_use_only_documented_keys() -> None:
    arts = _by_path(_bp())
    for path, art in arts.items():
        if not path.endswith((".kube", ".network")):
            continue
        sections = _unit(art.content)
        for section, entries in sections.items():
            assert section in QUADLET_KEYS, (path, section)
            unknown = {k for k, _ in entries} - QUADLET_KEYS[section]
            assert not unknown, (path, section, unknown)
        # systemd itself must be able to read them: every line is key=value in a section
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read_string(art.content)


def test_kube_unit_runs_the_yaml_beside_it_and_restarts() -> None:
    unit = _unit(_by_path(_bp())["podman/podman-test/web.kube"].content)
    assert unit["Unit"] == [
        ("Description", "Attonix attonix-ptest web (podman kube play)"),
        ("Wants", "network-online.target"),
        ("After", "network-online.target"),
    ]
    assert unit["Kube"] == [
        ("Yaml", "web.yaml"),
        ("Network", "attonix-ptest-podman-test.network"),
        ("PublishPort", "127.0.0.1:38431:38431"),
    ]
    assert dict(unit["Service"]) == {"Restart": "always", "TimeoutStartSec": "900"}
    assert unit["Install"] == [("WantedBy", "default.target multi-user.target")]
    api = _unit(_by_path(_bp())["podman/podman-test/api.kube"].content)
    assert [k for k, _ in api["Kube"]] == ["Yaml", "Network"]  # nothing published
    net = _unit(_by_path(_bp())["podman/podman-test/attonix-ptest-podman-test.network"].content)
    assert ("NetworkName", "attonix-ptest-podman-test") in net["Network"]
    assert ("Label", "attonix.io/blueprint=attonix-ptest") in net["Network"]


def test_render_is_deterministic_and_ignores_other_cluster_kinds() -> None:
    bp = _bp()
    first = [(a.path, a.text()) for a in render(bp, "podman")]
    assert first == [(a.path, a.text()) for a in render(bp, "podman")]
    example = load_file(EXAMPLE).blueprint
    paths = [a.path for a in render(example, "podman")]
    assert paths and all(p.startswith("podman/podman-tools/") for p in paths)


def test_no_secret_value_can_reach_the_files() -> None:
    text = "".join(a.text() for a in render(_bp(), "podman"))
    assert "stringData" not in text and "\ndata:" not in text


def _podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check)


@pytest.mark.integration
def test_rendered_yaml_runs_under_podman_kube_play(tmp_path: Path) -> None:
    data = _bp().model_dump(by_alias=True)
    data["metadata"]["name"] = "attonix-rtest"
    web = data["services"]["frontend"][0]
    web["ports"] = [{"name": "http", "port": 38441}]
    web["env"] = {"PORT": "38441"}
    art = _by_path(Blueprint.model_validate(data))["podman/podman-test/web.yaml"]
    path = tmp_path / "web.yaml"
    path.write_text(art.text(), encoding="utf-8")
    _podman("kube", "down", str(path), check=False)
    try:
        _podman("kube", "play", str(path))
        deadline = time.monotonic() + 20
        body = ""
        while time.monotonic() < deadline and not body:
            try:
                with urllib.request.urlopen("http://127.0.0.1:38441/version", timeout=2) as r:
                    body = r.read().decode().strip()
            except urllib.error.HTTPError as exc:
                exc.close()  # an HTTP error response holds its socket open
                time.sleep(0.3)
            except OSError:
                time.sleep(0.3)
        assert body == "1"
        ctr = "attonix-rtest-web-pod-0-web"
        assert _podman("healthcheck", "run", ctr, check=False).returncode == 0
        info = _podman(
            "inspect", ctr, "--format", "{{.HostConfig.ReadonlyRootfs}} {{.Config.User}}"
        )
        assert info.stdout.split() == ["true", "10001:10001"]
        labels = _podman("inspect", ctr, "--format", "{{json .Config.Labels}}").stdout
        assert '"attonix.io/blueprint":"attonix-rtest"' in labels
    finally:
        _podman("kube", "down", str(path), check=False)
        _podman("volume", "rm", "-f", "attonix-rtest-web-tmp", check=False)


def test_a_tcp_check_needs_only_a_shell_in_the_image() -> None:
    """Podman would run a tcpSocket probe as `nc -z` inside the container, which most images
    lack: a TCP check renders as the /bin/sh listening-socket check instead, as one string
    (Podman runs an exec probe as `/bin/sh -c "<its words joined by spaces> || exit 1"`)."""
    data = _bp().model_dump(by_alias=True)
    db = next(s for s in data["services"]["backend"] if s["name"] == "db")
    db["health"] = {"check": "tcp", "initial_delay_seconds": 1, "period_seconds": 1}
    doc = _by_path(Blueprint.model_validate(data))["podman/podman-test/db.yaml"].content
    c = doc["spec"]["template"]["spec"]["containers"][0]
    for key in ("readinessProbe", "livenessProbe"):
        assert "tcpSocket" not in c[key]
        (script,) = c[key]["exec"]["command"]
        assert f"*:{38433:04X}:0A" in script and "nc " not in script
    assert c["livenessProbe"]["initialDelaySeconds"] == 2
    assert c["readinessProbe"]["periodSeconds"] == 1


def test_a_command_check_reaches_the_shell_with_its_arguments_intact() -> None:
    data = _bp().model_dump(by_alias=True)
    db = next(s for s in data["services"]["backend"] if s["name"] == "db")
    argv = ["/bin/sh", "-c", "test -e '/tmp/ready file' && echo $HOME"]
    db["health"] = {"check": "command", "command": argv}
    doc = _by_path(Blueprint.model_validate(data))["podman/podman-test/db.yaml"].content
    (line,) = doc["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["exec"]["command"]
    # What Podman runs is `/bin/sh -c "<line> || exit 1"`: the shell splits it back to argv.
    assert shlex.split(line) == argv
