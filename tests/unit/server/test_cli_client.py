"""The CLI's client (attonix.client) against the real app over real HTTP (uvicorn in a
thread, SQLite): a session refreshed on its own, revoked credentials, a 403 that names the
roles, a blueprint refused with its diagnostics, what --verbose shows. Tokens never appear
in an error or a trace line."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

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
