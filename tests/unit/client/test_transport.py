"""What a user is told when the server cannot be reached or its certificate is wrong: a real
HTTPS server on loopback with a certificate made by openssl."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from attonix.client.api import Client
from attonix.client.config import Credentials
from attonix.client.errors import ClientError, TlsFailure, Unreachable

ME = {
    "name": "ada",
    "email": "",
    "full_name": "",
    "is_admin": False,
    "mfa_enabled": True,
    "restricted": "",
    "environments": [],
    "global_permissions": [],
}
TOKEN = "atx-7f3e-never-in-a-message"


class _Me(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        ok = self.path == "/api/v1/me" and self.headers["Authorization"] == f"Bearer {TOKEN}"
        body = json.dumps(ME if ok else {"title": "Not found", "status": 404}).encode()
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """An HTTPS server whose self-signed certificate names 127.0.0.1 only."""
    work = tmp_path_factory.mktemp("tls")
    cert, key = work / "cert.pem", work / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
        ],
        check=True,
        capture_output=True,
    )
    server = HTTPServer(("127.0.0.1", 0), _Me)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], cert
    server.shutdown()
    server.server_close()


CREDS = Credentials(kind="session", access_token=TOKEN)


def test_an_untrusted_certificate_is_named_with_what_to_do(https: tuple[int, Path]) -> None:
    port, _ = https
    with (
        Client(f"https://127.0.0.1:{port}", credentials=CREDS) as c,
        pytest.raises(TlsFailure) as caught,
    ):
        c.me()
    assert caught.value.message.startswith(
        f"the TLS certificate of https://127.0.0.1:{port} is not trusted: self-signed"
    ), caught.value.message
    assert "--ca-cert" in caught.value.hint
    assert TOKEN not in caught.value.message


def test_the_ca_given_makes_it_trusted(https: tuple[int, Path]) -> None:
    port, cert = https
    with Client(f"https://127.0.0.1:{port}", credentials=CREDS, ca_cert=str(cert)) as c:
        assert c.me().name == "ada"


def test_a_certificate_for_another_name_is_refused(https: tuple[int, Path]) -> None:
    port, cert = https
    with (
        Client(f"https://localhost:{port}", credentials=CREDS, ca_cert=str(cert)) as c,
        pytest.raises(TlsFailure, match=r"Hostname mismatch|not valid for"),
    ):
        c.me()


def test_a_missing_ca_file_is_said(tmp_path: Path) -> None:
    with pytest.raises(ClientError, match=r"cannot use .*nope\.pem as the server's CA"):
        Client("https://127.0.0.1:1", ca_cert=str(tmp_path / "nope.pem"))


def test_nothing_listening_is_unreachable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with (
        Client(f"http://127.0.0.1:{port}", credentials=CREDS) as c,
        pytest.raises(Unreachable) as caught,
    ):
        c.me()
    assert caught.value.message == (
        f"cannot reach the Central Server at http://127.0.0.1:{port} (ConnectError)"
    )
    assert "attonix serve" in caught.value.hint
