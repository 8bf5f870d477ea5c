"""Against a real `attonix serve` process (uvicorn, its thread pool, a real socket): the client
address behind proxies, and races of bounded parallel requests on every database engine."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from attonix.server.audit import Actor
from attonix.server.context import ServerContext
from attonix.server.db.models import AuditEntry
from attonix.server.environments import create_environment

V = "/api/v1"
PARALLEL = 10  # concurrent clients
REQUESTS = 20  # requests per race
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "attonixcorp.yaml"

Start = Callable[..., str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live(ctx: ServerContext, tmp_path: Path) -> Iterator[Start]:
    """Start `attonix serve` on this test's database with the test's keys; stop it after."""
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Any] = []
    url = ctx.db.engine.url.render_as_string(hide_password=False)

    def start(**settings: Any) -> str:
        port = _free_port()
        env = {
            **os.environ,
            "ATTONIX_DATABASE_URL": url,
            "ATTONIX_DATA_DIR": str(tmp_path),
            "ATTONIX_SIGNING_KEY": ctx.settings.signing_key.get_secret_value(),  # type: ignore[union-attr]
            "ATTONIX_KEK": ctx.settings.kek.get_secret_value(),  # type: ignore[union-attr]
            "ATTONIX_RUN_WORKERS": "false",
            "ATTONIX_AUTO_MIGRATE": "false",
            "NO_COLOR": "1",
        }
        env.update({f"ATTONIX_{k.upper()}": v for k, v in settings.items()})
        log = (tmp_path / f"serve-{port}.log").open("wb")
        logs.append(log)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "attonix", "serve", "--port", str(port)],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    return base
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(
            f"no answer from {base}: " + (tmp_path / f"serve-{port}.log").read_text()
        )

    yield start
    for p in procs:
        p.terminate()
        p.wait(timeout=15)
    for log in logs:
        log.close()


def _sqlite_only(ctx: ServerContext) -> None:
    if ctx.db.dialect != "sqlite":
        pytest.skip("the client address does not depend on the database")


def _logins(base: str, headers: list[dict[str, str]]) -> list[int]:
    with httpx.Client(base_url=base, timeout=30) as c:
        return [
            c.post(
                f"{V}/auth/login", json={"username": "nobody", "password": "x"}, headers=h
            ).status_code
            for h in headers
        ]


def test_forwarded_headers_are_not_believed_without_a_trusted_proxy(
    ctx: ServerContext, live: Start
) -> None:
    """Was: uvicorn's own proxy handling trusted 127.0.0.1, so a throttled client signed in
    again by sending another X-Forwarded-For (32 attempts, no 429)."""
    _sqlite_only(ctx)
    base = live(login_ip_max_attempts="10")
    spoofs = [
        {
            "X-Forwarded-For": f"198.51.100.{i}",
            "X-Client-IP": f"203.0.113.{i}",
            "True-Client-IP": f"192.0.2.{i}",
            "X-Real-IP": f"192.0.2.{i}",
            "Forwarded": f"for=198.51.100.{i}",
        }
        for i in range(32)
    ]
    codes = _logins(base, spoofs)
    assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}, codes
    with ctx.db.session() as s:
        ips = set(s.execute(select(AuditEntry.source_ip)).scalars())
    assert ips == {"127.0.0.1"}


def test_a_trusted_proxy_names_the_client_and_the_throttle_keys_on_it(
    ctx: ServerContext, live: Start
) -> None:
    _sqlite_only(ctx)
    base = live(login_ip_max_attempts="3", trusted_proxies=json.dumps(["127.0.0.1/32"]))
    # The proxy appends the address it saw; whatever the client wrote before it is ignored.
    codes = _logins(base, [{"X-Forwarded-For": f"10.9.9.{i}, 198.51.100.7"} for i in range(5)])
    assert codes == [401, 401, 401, 429, 429], codes
    other = _logins(base, [{"X-Forwarded-For": "198.51.100.8"}])
    assert other == [401]  # another real client has its own budget
    with ctx.db.session() as s:
        ips = set(s.execute(select(AuditEntry.source_ip)).scalars())
    assert ips == {"198.51.100.7", "198.51.100.8"}


# --------------------------------------------------------------------------- races


def _race(base: str, headers: dict[str, str], calls: list[tuple[str, str, Any]]) -> list[Any]:
    with httpx.Client(base_url=base, timeout=60, headers=headers) as c:

        def one(call: tuple[str, str, Any]) -> Any:
            method, path, body = call
            return c.request(method, path, json=body)

        with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
            return list(pool.map(one, calls))


def test_parallel_creations_of_one_name_answer_409_never_500(
    ctx: ServerContext, live: Start, admin: Any
) -> None:
    base = live()
    for path, body in (
        (f"{V}/users", {"name": "twin"}),
        (f"{V}/groups", {"name": "twins"}),
        (f"{V}/environments", {"name": "twin-env"}),
    ):
        answers = _race(base, admin.headers, [("POST", path, body)] * REQUESTS)
        codes = sorted(r.status_code for r in answers)
        assert codes == [201] + [409] * (REQUESTS - 1), (path, [r.text for r in answers])
        assert all(
            r.headers["content-type"] == "application/problem+json"
            for r in answers[1:]
            if r.status_code == 409
        )


def test_parallel_secret_writes_get_distinct_versions(
    ctx: ServerContext, live: Start, admin: Any
) -> None:
    create_environment(ctx, name="prod", actor=Actor("t"))
    base = live()
    url = f"{V}/environments/prod/secrets/db-password"
    answers = _race(
        base,
        admin.headers,
        [("PUT", url, {"values": {"password": f"v{i}"}}) for i in range(REQUESTS)],
    )
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    versions = sorted(r.json()["version"] for r in answers)
    assert versions == list(range(1, REQUESTS + 1))
    listed = httpx.get(f"{base}{V}/environments/prod/secrets", headers=admin.headers).json()
    assert listed[0]["version"] == REQUESTS


def test_parallel_uploads_and_deployment_requests_get_distinct_numbers(
    ctx: ServerContext, live: Start, admin: Any
) -> None:
    create_environment(ctx, name="qa", actor=Actor("t"))
    base = live()
    source = EXAMPLE.read_text(encoding="utf-8")
    n = 8  # uploads validate and check the whole blueprint: fewer, still in parallel
    answers = _race(
        base,
        admin.headers,
        [("POST", f"{V}/environments/qa/blueprints", {"source": source})] * n,
    )
    assert all(r.status_code == 201 for r in answers), [r.text for r in answers]
    assert sorted(r.json()["version"]["version"] for r in answers) == list(range(1, n + 1))
    answers = _race(
        base,
        admin.headers,
        [("POST", f"{V}/environments/qa/deployments", {"version": 1, "target": "swarm"})] * n,
    )
    assert all(r.status_code == 202 for r in answers), [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == n
