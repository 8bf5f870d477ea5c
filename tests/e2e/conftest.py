"""A real Central Server on a throwaway PostgreSQL database, and the console next to it.

``stack`` creates a database on 127.0.0.1:5432, migrates it, creates the first administrator,
starts ``attonix serve`` and ``attonix console`` on free loopback ports (the API's CORS
allow-list names the console's origin), and drops everything afterwards. ``run_scenario``
drives Chromium through ``frontend/e2e/run.mjs`` and returns what it observed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from attonix.blueprint.loader import load_bytes
from attonix.deploy import get_driver
from attonix.deploy.secrets import EnvSecretSource

ROOT = Path(__file__).resolve().parents[2]
FRONTEND = ROOT / "frontend"
# Screenshots of every page at every size land here ($ATTONIX_E2E_ARTIFACTS, git-ignored).
ARTIFACTS = Path(os.environ.get("ATTONIX_E2E_ARTIFACTS") or ROOT / "artifacts") / "screenshots"
CHROMIUM = "/usr/bin/chromium"
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}


def _attonix() -> str:
    exe = Path(sys.executable).with_name("attonix")
    return str(exe) if exe.exists() else "attonix"


def free_port() -> int:
    """A TCP port nothing listens on right now (loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, seconds: float = 60) -> None:
    """Poll until ``url`` answers 200, or fail."""
    deadline = time.monotonic() + seconds
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            exc.close()  # it holds the response's socket
            last = exc
        except OSError as exc:
            last = exc
        time.sleep(0.25)
    raise AssertionError(f"{url} did not come up in {seconds}s: {last}")


@dataclass
class Stack:
    """The running server and console, and how to reach them."""

    api_url: str
    console_url: str
    database: str
    admin_password: str
    env: dict[str, str]
    logs: dict[str, Path] = field(default_factory=dict)
    #: The server's state directory (its credential store and database connections file).
    state: Path = Path()

    def log_tail(self, name: str, lines: int = 40) -> str:
        """The end of a process's output, for failure messages."""
        text = self.logs[name].read_text(errors="replace") if name in self.logs else ""
        return "\n".join(text.splitlines()[-lines:])


def _require_tools() -> None:
    missing = [
        what
        for what, ok in (
            ("chromium (/usr/bin/chromium)", Path(CHROMIUM).exists()),
            ("node", shutil.which("node") is not None),
            ("frontend/node_modules", (FRONTEND / "node_modules" / "playwright-core").exists()),
            ("axe-core (npm)", (FRONTEND / "node_modules" / "axe-core" / "axe.min.js").exists()),
            ("frontend/dist (the built console)", (FRONTEND / "dist" / "index.html").exists()),
        )
        if not ok
    ]
    if missing:
        pytest.fail(
            "end-to-end prerequisites missing: "
            + ", ".join(missing)
            + " — run scripts/setup.d/40-run-console.sh and 41-chromium.sh",
            pytrace=False,
        )


@contextlib.contextmanager
def _database() -> Iterator[str]:
    import psycopg

    name = f"attonix_e2e_{secrets.token_hex(4)}"
    with psycopg.connect(**PG, autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(**PG, autocommit=True) as conn:  # type: ignore[arg-type]
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def _process(
    args: list[str], *, env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _remove_the_examples_podman_deployment() -> None:
    """Remove what deployments of the example's podman-tools cluster left on this machine's
    Podman (the journeys approve one; its images cannot be pulled here, so its pods stay
    created): found by the example's labels, as ``attonix destroy`` finds them."""
    example = ROOT / "examples" / "attonixcorp.yaml"
    bp = load_bytes(example.read_bytes(), file=str(example)).blueprint
    secrets_ = EnvSecretSource(bp.security.secrets, environ={})
    get_driver("podman", bp, cluster="podman-tools", secrets=secrets_).destroy()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A fresh server on its own PostgreSQL database, with the console beside it; what its
    deployments left on this machine's Podman is removed afterwards."""
    _require_tools()
    try:
        yield from _stack(tmp_path_factory)
    finally:
        _remove_the_examples_podman_deployment()


def _stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("e2e")
    api_port, console_port = free_port(), free_port()
    console_url = f"http://127.0.0.1:{console_port}"
    with _database() as db:
        env = {
            **os.environ,
            "ATTONIX_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}",
            "ATTONIX_DATA_DIR": str(work / "data"),
            # Its own state directory, never the user's (tests/e2e/test_console_rotation.py
            # puts its database connections file there).
            "ATTONIX_STATE_DIR": str(work / "state"),
            "ATTONIX_CORS_ORIGINS": json.dumps([console_url]),
            "ATTONIX_WORKER_POLL_SECONDS": "0.3",
            # The default (prod) and the rotation scenario's environment.
            "ATTONIX_TWO_PERSON_RULE": json.dumps(["prod", "rot-e2e"]),
            "NO_COLOR": "1",
        }
        run = {"env": env, "capture_output": True, "text": True, "timeout": 120, "cwd": ROOT}
        subprocess.run([_attonix(), "db", "upgrade"], check=True, **run)  # type: ignore[call-overload]
        created = subprocess.run([_attonix(), "users", "create-admin", "admin"], check=True, **run)  # type: ignore[call-overload]
        match = re.search(r"One-time password: (\S+)", created.stdout)
        assert match, created.stdout + created.stderr
        logs = {"server": work / "server.log", "console": work / "console.log"}
        with (
            _process([_attonix(), "serve", "--port", str(api_port)], env=env, log=logs["server"]),
            _process(
                [
                    _attonix(),
                    "console",
                    "--port",
                    str(console_port),
                    "--api-url",
                    f"http://127.0.0.1:{api_port}",
                    "--quiet",
                ],
                env=env,
                log=logs["console"],
            ),
        ):
            stack = Stack(
                api_url=f"http://127.0.0.1:{api_port}",
                console_url=console_url,
                database=db,
                admin_password=match.group(1),
                env=env,
                logs=logs,
                state=work / "state",
            )
            wait_http(stack.api_url + "/readyz")
            wait_http(console_url + "/config.json")
            yield stack


Runner = Callable[[str, dict[str, Any]], dict[str, Any]]


@pytest.fixture(scope="session")
def run_scenario(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Runner:
    """Run one scenario of frontend/e2e/run.mjs; fail with its error and page text if it broke."""
    work = tmp_path_factory.mktemp("scenarios")

    def run(name: str, config: dict[str, Any]) -> dict[str, Any]:
        cfg = {
            "consoleUrl": stack.console_url,
            "apiUrl": stack.api_url,
            "chromium": CHROMIUM,
            "screenshots": str(ARTIFACTS),
            **config,
        }
        path = work / f"{name}.json"
        path.write_text(json.dumps(cfg))
        proc = subprocess.run(
            ["node", "e2e/run.mjs", str(path), name],
            cwd=FRONTEND,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        assert lines, f"no result from the {name} scenario:\n{proc.stdout}\n{proc.stderr}"
        result: dict[str, Any] = json.loads(lines[-1])
        # What the scenario saw, beside its screenshots, for reading after a failure.
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS.parent / f"{name}-facts.json").write_text(json.dumps(result, indent=1))
        if not result["ok"]:
            pytest.fail(
                f"scenario {name} failed: {result['error']}\n--- page ---\n"
                f"{result['facts'].get('failurePageText', '')}\n--- server log ---\n"
                f"{stack.log_tail('server')}",
                pytrace=False,
            )
        return result

    return run


def create_admin(stack: Stack, name: str) -> str:
    """Create the administrator ``name`` through the CLI; return its one-time password."""
    created = subprocess.run(
        [_attonix(), "users", "create-admin", name],
        env=stack.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = re.search(r"One-time password: (\S+)", created.stdout)
    assert found, created.stdout + created.stderr
    return found.group(1)
