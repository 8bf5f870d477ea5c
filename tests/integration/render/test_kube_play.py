"""A Deployment rendered by the Kubernetes renderer runs for real under ``podman kube play``
(rootful Podman, image built locally from busybox) and answers HTTP through a hostPort."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from attonix.blueprint.loader import load_bytes
from attonix.render import dump_yaml, render

pytestmark = pytest.mark.integration

IMAGE = "localhost/attonix-test-httpd:1"  # built by scripts/setup.d/22-images.sh

BLUEPRINT = """
apiVersion: attonix.io/v1
kind: DataCenter
metadata: {name: NAME, environment: test, domain: play.example.com}
hosts:
  - {name: node-1, address: 127.0.0.1, zone: z1, rack: r1}
orchestration:
  clusters:
    - {name: kube, kind: kubernetes, version: "1.35", control_plane: [node-1]}
security:
  tls: {ca: {name: play-ca, common_name: Play CA}}
  encryption: {in_transit: {internal_tls: false}}
services:
  backend:
    - name: httpd
      cluster: kube
      namespace: play
      image: IMAGE
      replicas: 1
      spread: host
      command: [/bin/busybox, httpd, -f, -p, "8080", -h, /www]
      ports: [{name: http, port: 8080}]
      health: {path: /healthz, port: 8080, initial_delay_seconds: 1, period_seconds: 2}
      resources: {cpu: 100m, memory: 32Mi, cpu_limit: 200m, memory_limit: 64Mi}
"""


def _podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _for_podman(doc: dict[str, Any], port: int) -> dict[str, Any]:
    c = doc["spec"]["template"]["spec"]["containers"][0]
    # No registry is reachable here; "Always" would make podman try to pull the local image.
    c["imagePullPolicy"] = "IfNotPresent"
    # In a cluster a Service reaches the pod; here the host reaches it through a hostPort.
    c["ports"][0]["hostPort"] = port
    c["ports"][0]["hostIP"] = "127.0.0.1"
    return doc


@pytest.fixture
def played(tmp_path: Path) -> Iterator[tuple[dict[str, Any], int, str]]:
    if shutil.which("podman") is None or _podman("image", "exists", IMAGE, check=False).returncode:
        pytest.fail(f"needs podman and {IMAGE}: run scripts/setup.sh all")
    name = f"kplay-{secrets.token_hex(4)}"
    bp = load_bytes(BLUEPRINT.replace("NAME", name).replace("IMAGE", IMAGE)).blueprint
    docs = render(bp, "kubernetes", single_file=True)[0].content
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    port = _free_port()
    manifest = tmp_path / "deployment.yaml"
    manifest.write_text(dump_yaml(_for_podman(deployment, port)))
    try:
        proc = _podman("kube", "play", str(manifest), check=False)
        assert proc.returncode == 0, proc.stderr
        yield deployment, port, name
    finally:
        _podman("kube", "down", str(manifest), check=False)
        # Belt and braces: anything left with this blueprint's label.
        for pod in _podman(
            "pod", "ps", "-q", "--filter", f"label=attonix.io/blueprint={name}", check=False
        ).stdout.split():
            _podman("pod", "rm", "-f", pod, check=False)


def _get(url: str, deadline: float) -> str:
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return str(resp.read().decode())
        except OSError as exc:
            if isinstance(exc, urllib.error.HTTPError):
                exc.close()  # an HTTP error response holds its socket open
            last = exc
            time.sleep(0.3)
    raise AssertionError(f"{url} never answered: {last}")


def test_rendered_deployment_serves_http(played: tuple[dict[str, Any], int, str]) -> None:
    deployment, port, name = played
    sc = deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["runAsNonRoot"] is True
    body = _get(f"http://127.0.0.1:{port}/", time.monotonic() + 30)
    assert "attonix-test-httpd version 1" in body
    assert _get(f"http://127.0.0.1:{port}/healthz", time.monotonic() + 5).strip() == "ok"
    # The container really runs with the rendered hardening.
    pods = _podman("pod", "ps", "-q", "--filter", f"label=attonix.io/blueprint={name}").stdout
    assert pods.split(), "the pod carries the blueprint label"
    ctrs = _podman(
        "ps", "-q", "--filter", f"pod={pods.split()[0]}", "--filter", "name=httpd"
    ).stdout.split()
    inspect = _podman(
        "inspect", ctrs[0], "--format", "{{.Config.User}} {{.HostConfig.ReadonlyRootfs}}"
    )
    assert inspect.stdout.split() == ["10001:10001", "true"]
