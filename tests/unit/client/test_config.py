"""The contexts file: where it is, 0600 and atomic, refused when others can read it, and
never a token in what may be shown."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from attonix.client.config import Config, Context, Credentials, config_path
from attonix.client.errors import ClientError, NotSignedIn

SECRET = "atx-access-2f8c1d-never-shown"


def _ctx(name: str = "lab", **kw: object) -> Context:
    creds = Credentials(kind="session", access_token=SECRET, refresh_token="refresh-9e1")
    return Context(
        name=name, server="https://lab.example:8443", user="ada", credentials=creds, **kw
    )  # type: ignore[arg-type]


def test_where_the_file_is() -> None:
    assert config_path({"ATTONIX_CONFIG": "/x/c.yaml"}) == Path("/x/c.yaml")
    assert config_path({"XDG_CONFIG_HOME": "/xdg"}) == Path("/xdg/attonix/config.yaml")
    assert config_path({}) == Path.home() / ".config" / "attonix" / "config.yaml"


def test_saved_0600_in_a_0700_folder_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "new" / "config.yaml"
    config = Config(path=path)
    config.put(_ctx(environment="staging", ca_cert="/etc/ca.pem"))
    config.current = "lab"
    old_umask = os.umask(0)  # a permissive umask must not loosen the file
    try:
        config.save()
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["config.yaml"]  # no temporary left
    again = Config.load(path)
    assert again.current == "lab"
    assert again.resolve(None) == config.contexts["lab"]


def test_a_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    config = Config(path=path)
    config.put(_ctx())
    config.save()
    path.chmod(0o644)
    with pytest.raises(ClientError) as caught:
        Config.load(path)
    assert caught.value.hint == f"Run: chmod 600 {path}"


def test_nothing_shown_carries_a_token() -> None:
    context = _ctx()
    assert SECRET not in repr(context) and SECRET not in repr(context.credentials)
    assert SECRET not in str(context.public())
    assert context.public()["auth"] == "session"


def test_which_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ATTONIX_CONTEXT", raising=False)
    config = Config(path=tmp_path / "c.yaml")
    with pytest.raises(NotSignedIn, match="no Central Server context is in use"):
        config.resolve(None)
    config.put(_ctx("a"))
    config.put(_ctx("b"))
    config.current = "a"
    assert config.resolve(None).name == "a"
    monkeypatch.setenv("ATTONIX_CONTEXT", "b")
    assert config.resolve(None).name == "b"
    assert config.resolve("a").name == "a"
    with pytest.raises(NotSignedIn, match=r"no context named 'c' \(known: a, b\)"):
        config.resolve("c")
