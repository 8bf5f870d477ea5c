"""The CLI's client (attonix.client) against the real app over real HTTP (uvicorn in a
thread, SQLite): a session refreshed on its own, revoked credentials, a 403 that names the
roles, a blueprint refused with its diagnostics, what --verbose shows. Tokens never appear
in an error or a trace line."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner, Result

from attonix.cli import app
from attonix.client.api import Client
from attonix.client.config import Credentials
from attonix.client.errors import PermissionDenied, Refused, SessionExpired
from attonix.server.app import create_app
from attonix.server.audit import Actor
from attonix.server.context import ServerContext
from attonix.server.environments import create_environment

pytestmark = pytest.mark.parametrize("engine_db", ["sqlite"], indirect=True)


@pytest.fixture
def url(ctx: ServerContext) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(ctx.settings, ctx=ctx), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def _session(who: Any) -> Credentials:
    return Credentials(kind="session", access_token=who.token, refresh_token=who.refresh)


def test_an_expired_access_token_is_refreshed_once_and_saved(
    url: str, kit: Any, ctx: ServerContext
) -> None:
    create_environment(ctx, name="staging", actor=Actor("test"))
    olga = kit.user("olga", roles={"staging": "developer"})
    saved: list[Credentials] = []
    stale = Credentials(
        kind="session", access_token="not-a-valid-token", refresh_token=olga.refresh
    )
    with Client(url, credentials=stale, on_refresh=saved.append) as c:
        assert [e.name for e in c.environments()] == ["staging"]
    assert len(saved) == 1 and saved[0].refresh_token not in ("", olga.refresh)
    # The old refresh token was rotated away: using it again ends the whole session.
    with Client(url, credentials=stale) as c, pytest.raises(SessionExpired) as caught:
        c.environments()
    assert caught.value.hint == f"Your session expired or was ended: run attonix login {url}."
    assert olga.refresh not in str(caught.value) and olga.token not in str(caught.value)


def test_a_revoked_session_says_log_in_again(url: str, kit: Any) -> None:
    ada = kit.user("ada")
    with Client(url, credentials=_session(ada)) as c:
        assert c.me().name == "ada"
        c.logout()
        with pytest.raises(SessionExpired) as caught:
            c.me()
    assert "refused your credentials" in caught.value.message
    assert "attonix login" in caught.value.hint


def test_forbidden_names_the_roles_that_grant_it(url: str, kit: Any, ctx: ServerContext) -> None:
    create_environment(ctx, name="staging", actor=Actor("test"))
    dev = kit.user("dev", roles={"staging": "developer"})
    with Client(url, credentials=_session(dev)) as c:
        with pytest.raises(PermissionDenied) as denied:
            c.request_deployment("staging", version=1, target="swarm")
        assert denied.value.message == (
            "permission denied: You lack the 'deploy:request' permission in environment 'staging'."
        )
        assert denied.value.hint == (
            "Roles that grant it: admin, operator; ask an administrator to bind one to you "
            "in 'staging'."
        )
        with pytest.raises(PermissionDenied) as audit:
            c.audit()
        assert audit.value.hint == "Roles that grant it (in any environment): admin, auditor."


def test_an_invalid_blueprint_is_refused_with_its_diagnostics(
    url: str, kit: Any, ctx: ServerContext
) -> None:
    create_environment(ctx, name="staging", actor=Actor("test"))
    dev = kit.user("dev", roles={"staging": "developer"})
    with Client(url, credentials=_session(dev)) as c, pytest.raises(Refused) as refused:
        c.upload(
            "staging", "apiVersion: attonix.io/v1\nkind: DataCenter\nhosts: 7\n", filename="dc.yaml"
        )
    assert refused.value.status == 422
    assert refused.value.diagnostics
    assert {d["file"] for d in refused.value.diagnostics} == {"dc.yaml"}
    assert any(d["path"] == "hosts" and d["line"] == 3 for d in refused.value.diagnostics)


def test_verbose_lines_name_the_request_never_the_token(url: str, kit: Any) -> None:
    ada = kit.user("ada")
    lines: list[str] = []
    with Client(url, credentials=_session(ada), trace=lines.append) as c:
        c.me()
    assert len(lines) == 1
    assert lines[0].startswith(f"GET {url}/api/v1/me -> 200 (")
    assert ada.token not in lines[0]


def _cli(tmp_path: Path, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(
        app, list(args), input=input, env={"ATTONIX_CONFIG": str(tmp_path / "config.yaml")}
    )


def test_login_with_an_api_token_until_it_is_revoked(
    url: str, kit: Any, ctx: ServerContext, tmp_path: Path
) -> None:
    create_environment(ctx, name="staging", actor=Actor("test"))
    dev = kit.user("dev", roles={"staging": "developer"})
    with httpx.Client(base_url=url) as api:
        r = api.post(
            "/api/v1/me/tokens",
            headers=dev.headers,
            json={"name": "ci", "scopes": ["env:read", "blueprint:read"]},
        )
        assert r.status_code == 201, r.text
        token, token_id = r.json()["token"], r.json()["info"]["id"]
        said: list[str] = []
        login = _cli(
            tmp_path, "login", url, "--token", "--password-stdin", "-e", "staging",
            "--context", "ci", input=token + "\n",
        )  # fmt: skip
        said += [login.stdout, login.stderr]
        assert login.exit_code == 0, login.output
        assert f"Logged in to {url} as dev (context 'ci', environment 'staging')." in login.stdout
        listed = _cli(tmp_path, "blueprint", "list", "-o", "json")
        said += [listed.stdout, listed.stderr]
        assert (listed.exit_code, json.loads(listed.stdout)) == (0, [])
        assert api.delete(f"/api/v1/me/tokens/{token_id}", headers=dev.headers).status_code == 204
    refused = _cli(tmp_path, "blueprint", "list")
    said += [refused.stdout, refused.stderr]
    assert refused.exit_code == 3
    assert "The API token expired or was revoked" in refused.stderr
    assert f"attonix login {url} --token" in refused.stderr
    assert not [s for s in said if token in s]


def test_a_wrong_password_is_refused_and_never_echoed(url: str, kit: Any, tmp_path: Path) -> None:
    dev = kit.user("dev")
    result = _cli(tmp_path, "login", url, "-u", "dev", "--password-stdin", input="Wr0ng-pw-471x\n")
    assert result.exit_code == 3
    assert result.stderr.startswith("error: Invalid user name or password."), result.stderr
    assert "Wr0ng-pw-471x" not in result.stdout + result.stderr
    assert not (tmp_path / "config.yaml").exists()
    # The right one, without -e: the environments the account has a role in are named.
    ok = _cli(tmp_path, "login", url, "-u", dev.name, "--password-stdin", input=kit.PASSWORD + "\n")
    assert ok.exit_code == 0, ok.output
    assert "Environments you have a role in: none yet. Pick one: attonix context set" in ok.stdout
