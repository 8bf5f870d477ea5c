"""The haproxy configuration of the Chef target, run for real: it terminates TLS with a
certificate from an internal CA (curl trusts only that CA), balances over two plain-HTTP
backends with health checks, keeps serving when one of them dies, and sends the frontend's
declared Content-Security-Policy with its pages.

Everything is on loopback: the load balancer's virtual IP is 127.0.0.1, the two Swarm hosts
behind it 127.0.0.2 and 127.0.0.3 (all of 127/8 is local on Linux). The only edits to the
rendered text move the stats socket into the test's directory; the certificate directory is the
renderer's own ``cert_dir`` argument.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.render.test_host_tools import _erb

from attonix.blueprint.model import Blueprint
from attonix.render.chef import haproxy

pytestmark = pytest.mark.integration

NAME = "status.lab.example.com"
#: Quotes, semicolons, spaces and every character haproxy's configuration treats specially.
CSP = (
    "default-src 'self'; script-src 'self' 'nonce-r4nd0m'; img-src data: https://cdn.example.com; "
    'report-uri /csp?p=100%25&q=$HOME&r="x\\y"#z'
)
BACKENDS = {"s1": "127.0.0.2", "s2": "127.0.0.3"}

# A backend that names itself in every answer and answers /healthz.
_SERVER = """
import http.server, sys
name = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (name + "\\n").encode()
        self.send_response(200)
        self.send_header("Content-Security-Policy", "default-src *")  # the load balancer's wins
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer((sys.argv[2], int(sys.argv[3])), H).serve_forever()
"""


def _blueprint(backend_port: int, tls_port: int, csp: str = CSP) -> Blueprint:
    return Blueprint.model_validate(
        {
            "metadata": {"name": "lab", "domain": "lab.example.com"},
            "hosts": [
                {"name": n, "address": a, "zone": "z", "rack": "r", "roles": ["compute"]}
                for n, a in BACKENDS.items()
            ]
            + [
                {
                    "name": "lb1",
                    "address": "127.0.0.1",
                    "zone": "z",
                    "rack": "r",
                    "roles": ["load-balancer"],
                }
            ],
            "orchestration": {
                "clusters": [{"name": "edge", "kind": "swarm", "control_plane": ["s1", "s2"]}]
            },
            "services": {
                "frontend": [
                    {
                        "name": "status",
                        "cluster": "edge",
                        "image": "localhost/status:1",
                        "replicas": 2,
                        "ports": [{"name": "http", "port": backend_port}],
                        "health": {"path": "/healthz"},
                        "expose": {"host": NAME, "path": "/app"},
                        "content_security_policy": csp,
                    }
                ]
            },
            "security": {
                "tls": {"min_version": "1.2", "ca": {"name": "ca", "common_name": "Lab CA"}}
            },
            "ha": {
                "load_balancers": [
                    {
                        "name": "edge-lb",
                        "hosts": ["lb1"],
                        "virtual_ip": "127.0.0.1",
                        "frontends": [
                            {
                                "name": "status",
                                "port": tls_port,
                                "protocol": "https",
                                "backend": "status",
                            }
                        ],
                    }
                ]
            },
        }
    )


def _run(*cmd: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=60, cwd=cwd)


def _internal_ca(d: Path) -> None:
    """An ECDSA CA and a certificate for NAME and 127.0.0.1, as haproxy wants it (one PEM)."""
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _run(
        "openssl",
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Lab Internal CA",
        cwd=d,
    )
    _run(
        "openssl", "req", *ec, "-keyout", "lb.key", "-out", "lb.csr", "-subj", f"/CN={NAME}", cwd=d
    )
    (d / "ext.cnf").write_text(f"subjectAltName=DNS:{NAME},IP:127.0.0.1\n")
    _run(
        "openssl",
        "x509",
        "-req",
        "-in",
        "lb.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "lb.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        cwd=d,
    )
    certs = d / "certs"
    certs.mkdir()
    (certs / "edge-lb.pem").write_text((d / "lb.crt").read_text() + (d / "lb.key").read_text())


class Lab:
    def __init__(self, root: Path, tls_port: int, backends: dict[str, subprocess.Popen[bytes]]):
        self.root, self.tls_port, self.backends = root, tls_port, backends

    def _curl(self, path: str, *extra: str, check: bool) -> subprocess.CompletedProcess[str]:
        """One HTTPS request through haproxy to ``path``, trusting the test CA."""
        return subprocess.run(
            [
                "curl",
                "-sS",
                "--fail",
                "--max-time",
                "5",
                "--cacert",
                str(self.root / "ca.pem"),
                "--resolve",
                f"{NAME}:{self.tls_port}:127.0.0.1",
                *extra,
                f"https://{NAME}:{self.tls_port}{path}",
            ],
            capture_output=True,
            text=True,
            timeout=15,
            check=check,
        )

    def get(self, path: str = "/app", *, host: str = NAME) -> tuple[int, str]:
        """One request through haproxy (``Host: host``): curl's exit code and the body."""
        proc = self._curl(path, "-H", f"Host: {host}", check=False)
        return proc.returncode, proc.stdout.strip()

    def headers(self, path: str = "/app") -> list[tuple[str, str]]:
        """The response headers of one request through haproxy, names lowercased."""
        proc = self._curl(path, "-o", "/dev/null", "-D", "-", check=True)
        lines = proc.stdout.splitlines()[1:]  # after the status line
        return [(k.lower(), v.strip()) for k, _, v in (x.partition(":") for x in lines if x)]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    for tool in ("haproxy", "curl", "openssl"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: run scripts/setup.d/23-host-tools.sh")
    backend_port = random.randint(20000, 29999)
    tls_port = backend_port + 10000
    _internal_ca(tmp_path)
    bp = _blueprint(backend_port, tls_port)
    cfg = haproxy.haproxy_config(bp, haproxy.haproxy_lbs(bp), cert_dir=str(tmp_path / "certs"))
    cfg = cfg.replace("/run/haproxy/admin.sock", str(tmp_path / "haproxy.sock"))
    (tmp_path / "haproxy.cfg").write_text(cfg)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    lb: subprocess.Popen[bytes] | None = None
    try:
        for name, address in BACKENDS.items():
            procs[name] = subprocess.Popen(
                [sys.executable, "-c", _SERVER, name, address, str(backend_port)]
            )
        _run("haproxy", "-c", "-f", str(tmp_path / "haproxy.cfg"))
        # -db: stay in the foreground (the rendered config says daemon). -n: the rendered
        # maxconn 20000 needs ~40,000 descriptors, above this machine's hard limit of 20,000.
        lb = subprocess.Popen(
            ["haproxy", "-db", "-n", "4000", "-f", str(tmp_path / "haproxy.cfg")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        lab = Lab(tmp_path, tls_port, procs)
        deadline = time.monotonic() + 20
        seen: set[str] = set()
        while seen != set(BACKENDS):
            assert time.monotonic() < deadline, f"haproxy did not serve both backends: {seen}"
            rc, body = lab.get()
            if rc == 0:
                seen.add(body)
            time.sleep(0.1)
        yield lab
    finally:
        if lb is not None:
            lb.terminate()
            lb.wait(timeout=10)
        for proc in procs.values():
            proc.terminate()
            proc.wait(timeout=10)


def _server_states(lab: Lab) -> dict[str, str]:
    import socket

    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(str(lab.root / "haproxy.sock"))
        s.sendall(b"show servers state edge-lb-status\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    out = {}
    for line in data.decode().splitlines():
        parts = line.split()
        if len(parts) > 5 and parts[3] in BACKENDS:
            out[parts[3]] = parts[5]  # srv_op_state: 2 running, 0 stopped
    return out


def test_haproxy_routes_only_the_exposed_host_and_path(lab: Lab) -> None:
    # What an Ingress does on Kubernetes: expose.host and expose.path reach the service...
    assert lab.get("/app/x")[0] == 0
    # ...another host name, or a path outside expose.path, is refused (curl --fail: exit 22).
    assert lab.get("/app", host="other.lab.example.com")[0] == 22
    assert lab.get("/")[0] == 22


def test_haproxy_sends_the_declared_content_security_policy(lab: Lab) -> None:
    # Exactly the blueprint's value, once, in place of the server's own.
    csp = [v for k, v in lab.headers() if k == "content-security-policy"]
    assert csp == [CSP]


def test_haproxy_terminates_tls_and_balances_with_health_checks(lab: Lab) -> None:
    # TLS with the internal CA's certificate: curl trusts nothing else, and it verified.
    bodies = [lab.get() for _ in range(10)]
    assert all(rc == 0 for rc, _ in bodies), bodies
    assert {b for _, b in bodies} == set(BACKENDS), "round robin over both backends"
    # Without the CA curl refuses: the certificate is not from a public CA.
    refused = subprocess.run(
        [
            "curl",
            "-sS",
            "--max-time",
            "5",
            "--resolve",
            f"{NAME}:{lab.tls_port}:127.0.0.1",
            f"https://{NAME}:{lab.tls_port}/",
        ],
        capture_output=True,
        text=True,
        timeout=15,
        check=False,
    )
    assert refused.returncode == 60, refused.stderr  # peer certificate cannot be authenticated

    lab.backends["s1"].terminate()
    lab.backends["s1"].wait(timeout=10)
    # No request fails while the health checks notice (retries and redispatch)...
    results = [lab.get() for _ in range(20)]
    assert all(rc == 0 and body == "s2" for rc, body in results), results
    # ...and they do notice: s1 is marked down, s2 stays up.
    deadline = time.monotonic() + 15
    while _server_states(lab).get("s1") != "0":
        assert time.monotonic() < deadline, _server_states(lab)
        time.sleep(0.5)
    assert _server_states(lab)["s2"] == "2"


def test_chef_template_renders_the_policy_verbatim(tmp_path: Path) -> None:
    # The cookbook's template is ERB: a "<%" in a header value stays text, not Ruby code.
    bp = _blueprint(20000, 30000, csp=CSP + "; style-src <%= exit 1 %> -%>")
    template = tmp_path / "haproxy.cfg.erb"
    template.write_text(haproxy.haproxy_template(bp))
    cfg = _erb(template, {"load_balancers": ["edge-lb"]}, {})
    assert cfg == haproxy.haproxy_config(bp, haproxy.haproxy_lbs(bp))
    _internal_ca(tmp_path)
    cfg = cfg.replace(haproxy.CERT_DIR, str(tmp_path / "certs"))
    (tmp_path / "haproxy.cfg").write_text(cfg)
    assert (
        "Configuration file is valid"
        in _run("haproxy", "-c", "-f", str(tmp_path / "haproxy.cfg")).stdout
    )
