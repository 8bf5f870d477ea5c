"""The rendered health checks run by a real Docker Swarm and by ``podman kube play`` in images
of the kinds people deploy: a TCP check needs nothing but ``/bin/sh`` in the image (no ``nc``,
``bash``, ``curl``) on either engine.

Images are built here from the host's binaries (no registry is reachable): busybox with only
``sh`` and ``httpd`` (Debian's busybox has no ``nc`` applet), dash with no other tool (a slim
base), and the project's test image (busybox with ``nc``). A check on a port nothing listens
on must fail, so the passing ones are not vacuous.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from attonix.blueprint.loader import load_bytes
from attonix.render import render

pytestmark = pytest.mark.integration

STACK = f"attonix-health-{os.getpid()}"
IMAGES = {"nonc": f"localhost/attonix-health-nonc:{os.getpid()}"}
IMAGES["dash"] = f"localhost/attonix-health-dash:{os.getpid()}"
WITH_NC = "localhost/attonix-test-httpd:1"
SERVE = ["/opt/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]

BLUEPRINT = f"""
apiVersion: attonix.io/v1
kind: DataCenter
metadata: {{name: health, environment: test, domain: health.example.com}}
hosts:
  - {{name: s-1, address: 10.0.4.11, zone: z1, rack: r1}}
orchestration:
  clusters:
    - {{name: swarm, kind: swarm, control_plane: [s-1], workers: [s-1]}}
security:
  tls:
    ca: {{name: health-ca, common_name: Health CA}}
services:
  backend:
    - {{name: busybox-no-nc, cluster: swarm, image: "{IMAGES["nonc"]}", command: {SERVE},
       ports: [{{name: tcp, port: 8080}}],
       health: {{check: tcp, initial_delay_seconds: 0, period_seconds: 1}}}}
    - {{name: dash-only, cluster: swarm, image: "{IMAGES["dash"]}", command: {SERVE},
       ports: [{{name: tcp, port: 8080}}],
       health: {{check: tcp, initial_delay_seconds: 0, period_seconds: 1}}}}
    - {{name: busybox-nc, cluster: swarm, image: "{WITH_NC}", command: {SERVE[1:]},
       ports: [{{name: tcp, port: 8080}}],
       health: {{check: tcp, initial_delay_seconds: 0, period_seconds: 1}}}}
    - {{name: wrong-port, cluster: swarm, image: "{IMAGES["nonc"]}", command: {SERVE},
       ports: [{{name: tcp, port: 8080}}, {{name: other, port: 9090}}],
       health: {{check: tcp, port: 9090, initial_delay_seconds: 0, period_seconds: 1}}}}
"""


def _docker(*args: str, check: bool = True) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: {proc.stderr}")
    return proc.stdout


def _swarm_ready() -> bool:
    if shutil.which("docker") is None:
        return False
    state = _docker("info", "--format", "{{.Swarm.LocalNodeState}}", check=False)
    return state.strip() == "active"


def _import(
    tmp: Path,
    name: str,
    files: dict[str, Path | bytes],
    links: dict[str, str],
    engine: str = "docker",
) -> None:
    """``docker import`` (or ``podman import``) a root filesystem of ``files`` (path -> host
    file or content) and symlinks; nothing else is in the image."""
    archive = tmp / f"{name}.tar"
    with tarfile.open(archive, "w") as tar:
        for folder in ("bin", "lib", "lib64", "opt", "tmp", "www", "etc"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if folder == "tmp" else 0o755
            tar.addfile(info)
        for path, source in files.items():
            data = source.read_bytes() if isinstance(source, Path) else source
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
        for path, target in links.items():
            info = tarfile.TarInfo(path)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    subprocess.run(
        [engine, "import", "--change", "ENV PATH=/bin", str(archive), IMAGES[name]],
        check=True,
        capture_output=True,
    )


def _libraries(binary: str) -> dict[str, Path]:
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    libs: dict[str, Path] = {}
    for line in out.splitlines():
        path = next((p for p in line.split() if p.startswith("/")), None)
        if path is not None:
            libs[path.lstrip("/")] = Path(path).resolve()
    return libs


def _build_images(tmp: Path, engine: str) -> None:
    """The two shell-only images, for ``engine``: busybox without ``nc``, and dash alone."""
    busybox, dash = Path("/bin/busybox"), shutil.which("dash")
    if (
        dash is None
        or "statically linked"
        not in subprocess.run(
            ["file", "-L", str(busybox)], capture_output=True, text=True, check=False
        ).stdout
    ):
        pytest.skip("needs the static busybox (busybox-static) and dash on the host")
    site = {"www/index.html": b"ok\n", "opt/busybox": busybox}
    links = {"bin/sh": "/opt/busybox", "bin/httpd": "/opt/busybox"}
    _import(tmp, "nonc", site, links, engine)
    _import(tmp, "dash", {**site, "bin/sh": Path(dash), **_libraries(dash)}, {}, engine)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    if not _swarm_ready():
        pytest.skip("no active Docker Swarm (scripts/setup.d/21-docker.sh)")
    if not _docker("image", "ls", "-q", WITH_NC).strip():
        pytest.skip(f"{WITH_NC} not built (scripts/setup.d/22-images.sh)")
    tmp = tmp_path_factory.mktemp("health")
    _build_images(tmp, "docker")
    text = yaml.safe_load(render(load_bytes(BLUEPRINT, file="h.yaml").blueprint, "swarm")[0].text())
    compose = tmp / "stack.yaml"
    compose.write_text(yaml.safe_dump(text))
    try:
        _docker("stack", "deploy", "--resolve-image", "never", "-c", str(compose), STACK)
        yield {name: s["healthcheck"]["test"][1] for name, s in text["services"].items()}
    finally:
        _docker("stack", "rm", STACK, check=False)
        deadline = time.monotonic() + 60
        while (
            time.monotonic() < deadline
            and _docker(
                "ps", "-aq", "--filter", f"label=com.docker.stack.namespace={STACK}"
            ).strip()
        ):
            time.sleep(0.5)
        for network in _docker(
            "network", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={STACK}"
        ).split():
            _docker("network", "rm", network, check=False)
        for image in IMAGES.values():
            _docker("image", "rm", "-f", image, check=False)


def _health(service: str, timeout: float = 60.0) -> str:
    """The health status of the service's task container once it is decided."""
    deadline = time.monotonic() + timeout
    status = "no container"
    while time.monotonic() < deadline:
        ids = _docker(
            "ps", "-aq", "--filter", f"label=com.docker.swarm.service.name={STACK}_{service}"
        ).split()
        if ids:
            state = json.loads(_docker("inspect", "--format", "{{json .State}}", ids[0]))
            status = (state.get("Health") or {}).get("Status", state["Status"])
            if status in ("healthy", "unhealthy"):
                return status
        time.sleep(0.5)
    return status


@pytest.mark.parametrize("service", ["busybox-no-nc", "dash-only", "busybox-nc"])
def test_a_tcp_check_passes_in_an_image_with_nothing_but_a_shell(
    stack: dict[str, str], service: str
) -> None:
    assert "nc " not in stack[service] and "bash" not in stack[service]
    assert _health(service) == "healthy"


def test_a_tcp_check_fails_when_nothing_listens_on_its_port(stack: dict[str, str]) -> None:
    assert _health("wrong-port") == "unhealthy"


def test_values_with_dollars_reach_the_engine_as_the_blueprint_wrote_them(tmp_path: Path) -> None:
    if shutil.which("docker") is None:
        pytest.skip("docker CLI not installed (scripts/setup.d/21-docker.sh)")
    source = BLUEPRINT.replace(
        "command: ['/opt/busybox'",
        'env: {PRICE: "$5", TEMPLATE: "${HOME}/x"}, command: [\'/opt/busybox\'',
        1,
    )
    (art,) = render(load_bytes(source, file="h.yaml").blueprint, "swarm")
    compose = tmp_path / "stack.yaml"
    compose.write_text(art.text())
    # The CLI's own reading of the file, with substitution, as `docker stack deploy` does it.
    proc = subprocess.run(
        ["docker", "stack", "config", "-c", str(compose)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "HOME": "/root", "PRICE": "x"},
    )
    assert proc.returncode == 0, proc.stderr
    services = yaml.safe_load(proc.stdout)["services"]
    assert services["busybox-no-nc"]["environment"] == {"PRICE": "$5", "TEMPLATE": "${HOME}/x"}
    probe = services["dash-only"]["healthcheck"]["test"][1]
    assert "case $a:$s in *:1F90:0A)" in probe


PODMAN_BLUEPRINT = (
    BLUEPRINT.replace(
        "kind: swarm, control_plane: [s-1], workers: [s-1]", "kind: podman, workers: [s-1]"
    )
    .replace("{name: swarm,", "{name: pm,")
    .replace("cluster: swarm,", "cluster: pm,")
)


def _podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["podman", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)}: {proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[str, list[str]]]]:
    """Each shell-only service of the Podman render, played: its container and its probe."""
    if shutil.which("podman") is None:
        pytest.skip("podman not installed (scripts/setup.d/20-podman.sh)")
    tmp = tmp_path_factory.mktemp("podman-health")
    _build_images(tmp, "podman")
    bp = load_bytes(PODMAN_BLUEPRINT, file="h.yaml").blueprint
    played: dict[str, tuple[str, list[str]]] = {}
    files: list[Path] = []
    try:
        for art in render(bp, "podman"):
            doc = art.content
            if not art.path.endswith(".yaml") or doc.get("kind") != "Deployment":
                continue
            service = Path(art.path).stem
            if service == "busybox-nc":  # its image is Docker's; Swarm covers it
                continue
            path = tmp / Path(art.path).name
            path.write_text(art.text())
            files.append(path)
            out = _podman("kube", "play", str(path)).stdout.splitlines()
            (container,) = out[out.index("Container:") + 1 :][:1]
            probe = doc["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]
            played[service] = (container, probe["exec"]["command"])
        yield played
    finally:
        for path in files:
            _podman("kube", "down", str(path), check=False)
        for image in IMAGES.values():
            _podman("image", "rm", "-f", image, check=False)


RUN_STATE = "{{.State.Status}} {{.RestartCount}} {{.State.StartedAt}}"


def _podman_health(container: str, *, attempts: int) -> list[int]:
    """Exit statuses of ``podman healthcheck run`` until one passes (or ``attempts`` ran),
    each once the container is running."""
    codes: list[int] = []
    deadline = time.monotonic() + 60
    while len(codes) < attempts and time.monotonic() < deadline:
        before = _podman("inspect", "--format", RUN_STATE, container).stdout.strip()
        if before.startswith("running "):
            code = _podman("healthcheck", "run", container, check=False).returncode
            after = _podman("inspect", "--format", RUN_STATE, container).stdout.strip()
            # Podman's own timer runs the same probe: once failureThreshold is reached, the
            # liveness probe restarts the container, and a check that overlapped the restart
            # answers 125 (no running container). Such a run says nothing about the check.
            if code in {0, 1} or after == before:
                codes.append(code)
            if code == 0:
                break
        time.sleep(1)
    return codes


@pytest.mark.parametrize("service", ["busybox-no-nc", "dash-only"])
def test_podman_runs_the_tcp_check_in_an_image_with_nothing_but_a_shell(
    played: dict[str, tuple[str, list[str]]], service: str
) -> None:
    container, command = played[service]
    (script,) = command  # Podman runs it as `/bin/sh -c "<script> || exit 1"`
    assert "/proc/net/tcp" in script and "nc " not in script
    assert _podman_health(container, attempts=30)[-1:] == [0]


def test_podman_tcp_check_fails_when_nothing_listens_on_its_port(
    played: dict[str, tuple[str, list[str]]],
) -> None:
    container, _ = played["wrong-port"]
    # Unhealthy each time it runs; 125 would be Podman failing to run the check at all. Two
    # samples, not more: after failureThreshold failures the liveness probe restarts the
    # container, and Podman's restart back-off can keep it from running for most of a minute.
    assert _podman_health(container, attempts=2) == [1, 1]
