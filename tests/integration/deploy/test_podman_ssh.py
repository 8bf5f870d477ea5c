"""Podman over SSH to this machine, through a cluster connection (ENVIRONMENT.md's recipe).

The fixture starts its own ``sshd`` (own host key and authorized_keys, loopback port) and a
``podman system service`` on its own socket, and records the host key in root's known_hosts
(restored afterwards); both processes are stopped by their pids. `attonix apply` with a
connections file then converges tests/fixtures/deploy/truth.yaml's podman cluster over SSH,
and a connection with a key the host does not accept is refused with an error naming the
cluster, before anything is planned.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from attonix.server.audit import Actor

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).parents[2] / "fixtures" / "deploy" / "truth.yaml"
NAME = "attonix-sshtest"
PORT = 38741  # the service's host port (truth.yaml's own tests use 38721)
ATTONIX = [sys.executable, "-m", "attonix"]


@dataclass
class Remote:
    """An SSH-reachable Podman on this machine."""

    port: int
    socket: str
    client_key: Path
    wrong_key: Path
    tmp: Path

    def connections(self, key: Path) -> Path:
        path = self.tmp / f"connections-{key.name}.yaml"
        url = f"ssh://root@127.0.0.1:{self.port}{self.socket}"
        path.write_text(
            f'clusters:\n  podman-truth:\n    podman: {{url: "{url}", identity: "{key}"}}\n',
            encoding="utf-8",
        )
        return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(what: str, ok: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(ok) and ok():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    sshd = shutil.which("sshd") or "/usr/sbin/sshd"
    if not Path(sshd).exists() or shutil.which("podman") is None:
        pytest.fail("sshd or podman missing: run scripts/setup.sh all (26-openssh.sh)")
    tmp = tmp_path_factory.mktemp("ssh")
    tmp.chmod(0o700)
    run_dir = Path(f"/run/{NAME}-{os.getpid()}")
    run_dir.mkdir(parents=True, exist_ok=True)
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    for key in ("host", "client", "wrong"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / key)], check=True
        )
    (tmp / "authorized_keys").write_text((tmp / "client.pub").read_text(), encoding="utf-8")
    (tmp / "authorized_keys").chmod(0o600)
    port = _free_port()
    daemon = subprocess.Popen(
        [
            sshd, "-D", "-e", "-f", "/dev/null", "-p", str(port),
            "-o", "ListenAddress=127.0.0.1", "-o", f"PidFile={tmp / 'sshd.pid'}",
            "-o", f"HostKey={tmp / 'host'}", "-o", f"AuthorizedKeysFile={tmp / 'authorized_keys'}",
            "-o", "StrictModes=no", "-o", "PasswordAuthentication=no", "-o", "UsePAM=no",
            "-o", "PermitRootLogin=prohibit-password",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    sock = run_dir / "podman.sock"
    service = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{sock}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ssh_dir = Path.home() / ".ssh"
    known = ssh_dir / "known_hosts"
    had_dir, saved = ssh_dir.exists(), known.read_bytes() if known.exists() else None
    try:
        _wait("sshd", lambda: subprocess.run(
            ["ssh-keyscan", "-p", str(port), "127.0.0.1"], capture_output=True, check=False
        ).returncode == 0)  # fmt: skip
        _wait("the podman service socket", sock.exists)
        host_key = " ".join((tmp / "host.pub").read_text().split()[:2])
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        with known.open("a", encoding="utf-8") as fh:
            fh.write(f"[127.0.0.1]:{port} {host_key}\n")
        yield Remote(port, str(sock), tmp / "client", tmp / "wrong", tmp)
    finally:
        for proc in (daemon, service):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if saved is not None:
            known.write_bytes(saved)
        elif known.exists():
            known.unlink()
        if not had_dir and ssh_dir.exists() and not any(ssh_dir.iterdir()):
            ssh_dir.rmdir()
        shutil.rmtree(run_dir, ignore_errors=True)


def _cli(remote: Remote, *args: str, key: Path) -> subprocess.CompletedProcess[str]:
    blueprint = remote.tmp / "truth-ssh.yaml"
    text = FIXTURE.read_text(encoding="utf-8")
    blueprint.write_text(
        text.replace("name: attonix-truth", f"name: {NAME}").replace("38721", str(PORT)),
        encoding="utf-8",
    )
    env = {**os.environ, "ATTONIX_STATE_DIR": str(remote.tmp / "state"), "COLUMNS": "400"}
    return subprocess.run(
        [*ATTONIX, args[0], str(blueprint), "--target", "podman", *args[1:],
         "--connections", str(remote.connections(key))],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_apply_status_destroy_over_ssh(remote: Remote) -> None:
    _cli(remote, "destroy", "--yes", key=remote.client_key)  # leftovers of an earlier run
    applied = _cli(remote, "apply", "--yes", "--timeout", "90", key=remote.client_key)
    assert applied.returncode == 0, applied.stderr
    said = " ".join(applied.stdout.split())
    assert f"(ssh://root@127.0.0.1:{remote.port}{remote.socket}):" in said
    with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/version", timeout=5) as resp:
        assert resp.read().decode().strip() == "1"
    assert _cli(remote, "status", key=remote.client_key).returncode == 0
    again = _cli(remote, "plan", "--detailed-exitcode", key=remote.client_key)
    assert again.returncode == 0, again.stdout
    gone = _cli(remote, "destroy", "--yes", key=remote.client_key)
    assert gone.returncode == 0, gone.stderr
    pods = subprocess.run(
        ["podman", "pod", "ps", "--filter", f"label=attonix.io/blueprint={NAME}", "-q"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert pods.stdout.strip() == ""


def test_a_wrong_key_is_refused_naming_the_cluster(remote: Remote) -> None:
    refused = _cli(remote, "apply", "--yes", key=remote.wrong_key)
    assert refused.returncode != 0
    said = " ".join(refused.stderr.split())
    assert f"cluster 'podman-truth': ssh://127.0.0.1:{remote.port} refused the SSH login" in said
    assert str(remote.wrong_key) in said
    assert "Plan for" not in refused.stdout  # refused before anything was planned


# ------------------------------------------------------------- the Central Server's job path


def _server(remote: Remote, name: str) -> Any:
    """A Central Server context on its own SQLite file, with ``truth-ssh.yaml`` uploaded."""
    from attonix.server.context import build_context
    from attonix.server.db import migrate
    from attonix.server.environments import create_environment, upload
    from attonix.server.security.envelope import KeyRing
    from attonix.server.settings import Settings

    tmp = remote.tmp / name
    tmp.mkdir()
    settings = Settings(
        data_dir=tmp,
        database_url=f"sqlite:///{tmp / 'server.db'}",
        signing_key="s" * 48,
        kek=KeyRing.generate_line("ssh-test"),
        run_workers=False,
        auto_migrate=False,
    )
    ctx = build_context(settings)
    migrate.upgrade(ctx.db)
    create_environment(ctx, name="edge", actor=Actor("test"))
    source = (remote.tmp / "truth-ssh.yaml").read_text(encoding="utf-8")
    upload(ctx, environment="edge", source=source, filename="truth-ssh.yaml", actor=Actor("test"))
    return ctx


def _store(ctx: Any, remote: Remote, key: Path, *, host_pub: str = "host.pub") -> None:
    from attonix.server import connections

    host_key = " ".join((remote.tmp / host_pub).read_text().split()[:2])
    connections.put_connection(
        ctx,
        environment="edge",
        cluster="podman-truth",
        body=connections.PodmanIn(
            kind="podman",
            url=f"ssh://root@127.0.0.1:{remote.port}{remote.socket}",
            ssh_key=key.read_text(),
            known_hosts=f"[127.0.0.1]:{remote.port} {host_key}",
        ),
        actor=Actor("admin"),
    )


def _job_path(ctx: Any, *, approve: bool = True) -> tuple[dict[str, Any], list[str]]:
    """Request, plan (a job), approve and apply (a job) a deployment of the podman cluster;
    the deployment as the API shows it, and its log lines."""
    from attonix.server import deployments, jobs

    dep = deployments.request(
        ctx, environment="edge", version=1, target="podman", actor=Actor("olga")
    ).id
    jobs.run_one(ctx, "w")
    got = deployments.get_deployment(ctx, "edge", dep)
    if approve and got.status == "awaiting_approval":
        deployments.decide(
            ctx, environment="edge", deployment_id=dep, approve=True, actor=Actor("ada")
        )
        jobs.run_one(ctx, "w")
    lines, _ = deployments.log_lines(ctx, "edge", dep)
    return deployments.get_deployment(ctx, "edge", dep).model_dump(), [x.line for x in lines]


def test_the_servers_deployment_runs_over_ssh_with_the_stored_key(remote: Remote) -> None:
    _cli(remote, "destroy", "--yes", key=remote.client_key)  # leftovers; writes truth-ssh.yaml
    # Directories of processes killed mid-job elsewhere (the HA tests kill workers) are not
    # this job's: only what this test's jobs create must be gone when they end.
    before = set(Path(tempfile.gettempdir()).glob("attonix-connection-*"))
    ctx = _server(remote, "server-ok")
    try:
        _store(ctx, remote, remote.client_key)
        os.environ["ATTONIX_STATE_DIR"] = str(remote.tmp / "server-state")
        got, lines = _job_path(ctx)
        assert got["status"] == "succeeded", lines
        endpoint = f"ssh://root@127.0.0.1:{remote.port}{remote.socket}"
        assert got["cluster"] == "podman-truth" and got["plan"]["endpoint"] == endpoint
        assert f"apply: through {endpoint}" in lines
        with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/version", timeout=5) as resp:
            assert resp.read().decode().strip() == "1"
        # No credential file outlives the job.
        assert set(Path(tempfile.gettempdir()).glob("attonix-connection-*")) <= before
    finally:
        os.environ.pop("ATTONIX_STATE_DIR", None)
        _cli(remote, "destroy", "--yes", key=remote.client_key)


def test_the_servers_deployment_with_a_wrong_key_fails_naming_the_cluster(
    remote: Remote,
) -> None:
    _cli(remote, "plan", key=remote.client_key)  # writes truth-ssh.yaml
    ctx = _server(remote, "server-wrong")
    _store(ctx, remote, remote.wrong_key)
    got, lines = _job_path(ctx)
    assert got["status"] == "plan_failed"
    said = f"cluster 'podman-truth': ssh://127.0.0.1:{remote.port} refused the SSH login"
    assert got["plan"]["error"].startswith(said)
    assert any(line.startswith(f"error: {said}") for line in lines)
    assert "PRIVATE KEY" not in " ".join(lines) + got["plan"]["error"]


def test_a_host_that_does_not_present_the_pinned_key_is_refused(remote: Remote) -> None:
    _cli(remote, "plan", key=remote.client_key)  # writes truth-ssh.yaml
    ctx = _server(remote, "server-host-key")
    _store(ctx, remote, remote.client_key, host_pub="wrong.pub")  # another key pinned
    got, _ = _job_path(ctx)
    assert got["status"] == "plan_failed"
    assert got["plan"]["error"].startswith(f"cluster 'podman-truth': ssh://127.0.0.1:{remote.port}")
    assert "host key is not in known_hosts" in got["plan"]["error"]


def test_a_per_host_connection_with_a_wrong_key_fails_naming_the_cluster_and_host(
    remote: Remote,
) -> None:
    from attonix.server import connections

    _cli(remote, "plan", key=remote.client_key)  # writes truth-ssh.yaml
    ctx = _server(remote, "server-host-wrong")
    host_key = " ".join((remote.tmp / "host.pub").read_text().split()[:2])
    url = f"ssh://root@127.0.0.1:{remote.port}{remote.socket}"
    connections.put_connection(
        ctx,
        environment="edge",
        cluster="podman-truth",
        body=connections.PodmanIn(
            kind="podman",
            hosts={
                "node-1": connections.PodmanHostIn(
                    url=url,
                    ssh_key=remote.wrong_key.read_text(),
                    known_hosts=f"[127.0.0.1]:{remote.port} {host_key}",
                )
            },
        ),
        actor=Actor("admin"),
    )
    got, lines = _job_path(ctx)
    assert got["status"] == "plan_failed"
    said = (
        f"cluster 'podman-truth', host 'node-1': ssh://127.0.0.1:{remote.port} refused the SSH "
        "login"
    )
    assert got["plan"]["error"].startswith(said), got["plan"]["error"]
    assert "PRIVATE KEY" not in " ".join(lines) + got["plan"]["error"]
