"""`attonix console`: static files, generated configuration, SPA fallback, security headers."""

from __future__ import annotations

import gzip
import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attonix.cli import app
from attonix.cli._console import api_origin, make_server, security_headers

INDEX = b"<!doctype html><title>console</title><script type=module src=/assets/app-1.js></script>"
SCRIPT = b"console.log('x');" * 100


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_bytes(INDEX)
    (tmp_path / "assets" / "app-1.js").write_bytes(SCRIPT)
    (tmp_path / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (tmp_path.parent / "secret.txt").write_text("outside the root")
    return tmp_path


@pytest.fixture
def console(site: Path) -> Iterator[tuple[str, int]]:
    server = make_server(root=site, api_url="http://127.0.0.1:9999/", port=0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield str(host), port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def get(
    console: tuple[str, int], path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(*console, timeout=5)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_config_names_the_api(console: tuple[str, int]) -> None:
    status, headers, body = get(console, "/config.json")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store"
    assert json.loads(body) == {"apiUrl": "http://127.0.0.1:9999"}


def test_app_routes_fall_back_to_index(console: tuple[str, int]) -> None:
    for path in ("/", "/envs/prod/overview", "/admin/audit?actor=alice"):
        status, headers, body = get(console, path)
        assert (status, body) == (200, INDEX), path
        assert headers["cache-control"] == "no-cache"
        assert headers["content-type"] == "text/html; charset=utf-8"


def test_missing_assets_are_404_not_index(console: tuple[str, int]) -> None:
    assert get(console, "/assets/gone-2.js")[0] == 404
    assert get(console, "/robots.txt")[0] == 404


def test_hashed_assets_are_immutable_and_gzipped(console: tuple[str, int]) -> None:
    status, headers, body = get(console, "/assets/app-1.js", {"Accept-Encoding": "gzip"})
    assert status == 200
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert headers["content-encoding"] == "gzip"
    assert gzip.decompress(body) == SCRIPT
    status, headers, body = get(console, "/assets/app-1.js")
    assert "content-encoding" not in headers
    assert body == SCRIPT


def test_paths_cannot_escape_the_root(console: tuple[str, int]) -> None:
    for path in ("/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt"):
        status, _, body = get(console, path)
        assert b"outside the root" not in body, path
        assert status == 404, path


def test_every_response_carries_a_strict_csp(console: tuple[str, int]) -> None:
    for path in ("/", "/config.json", "/assets/app-1.js", "/nope.png"):
        _, headers, _ = get(console, path)
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp
        assert "script-src 'self';" in csp
        assert "connect-src 'self' http://127.0.0.1:9999;" in csp
        assert "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"


def test_api_origin_drops_the_path_and_rejects_other_schemes() -> None:
    assert api_origin("https://api.example.com:8443/v1/") == "https://api.example.com:8443"
    with pytest.raises(ValueError, match="not an http"):
        api_origin("javascript:alert(1)")
    with pytest.raises(ValueError, match="not an http"):
        security_headers("ftp://x")


def test_cli_refuses_a_missing_build(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["console", "--dir", str(tmp_path), "--port", "0"])
    assert result.exit_code == 3  # the operation cannot be done
    assert "the console is not built" in result.output


def test_cli_refuses_a_bad_api_url(site: Path) -> None:
    result = CliRunner().invoke(app, ["console", "--dir", str(site), "--api-url", "file:///etc"])
    assert result.exit_code == 2
    assert "not an http(s) URL" in result.output


def test_malformed_paths_get_an_answer_not_a_dropped_connection(console: tuple[str, int]) -> None:
    """Was: NUL bytes or a segment of a few hundred characters dropped the connection."""
    for path in ("/%00", "/assets/a%00b.js", "/x%01y", "/%ff%fe"):
        status, headers, _ = get(console, path)
        assert status == 400, path
        assert "content-security-policy" in headers
    for path in ("/" + "a" * 300, "/assets/" + "b" * 300 + ".js", "/x/" * 400):
        assert get(console, path)[0] == 404, path
    # Still serving afterwards.
    assert get(console, "/")[0] == 200
