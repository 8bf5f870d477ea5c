"""Deployments through the HTTP API onto the real single-node Docker Swarm, on PostgreSQL.

An operator stores the secrets in the vault and requests a deployment of ``staging``; the
plan job runs the Swarm driver's plan, a second person approves (two-person rule), the
in-process worker applies, and the services run with their replicas. The tests run in file
order on one module-wide server: deploy, idempotence, rollback, then non-disclosure of the
secret values over everything the server said and logged. The stack is destroyed at the end.

The blueprint is tests/fixtures/deploy/shop.yaml under another name and other ports, so it
cannot collide with the Swarm driver's own suite running at the same time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from attonix.blueprint import load_bytes
from attonix.deploy import EnvSecretSource, get_driver
from attonix.render.labels import selector
from attonix.server.app import create_app
from attonix.server.db.models import AuditEntry, JobLog, RoleBinding, User
from attonix.server.security import hash_password, pki
from attonix.server.security.envelope import KeyRing
from attonix.server.security.totp import new_totp_secret, totp_now
from attonix.server.settings import Settings

pytestmark = pytest.mark.integration

V = "/api/v1"
FIXTURE = Path(__file__).parents[2] / "fixtures" / "deploy" / "shop.yaml"
PG_ADMIN = os.environ.get(
    "ATTONIX_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
NAME = "attonix-srvtest"
STACK = f"{NAME}-swarm-test"
PASSWORD = "Correct-Horse-Battery-42"
SECRETS = {
    "api-token": {"token": "tok-srv-5d1e77-never-shown"},
    "db-credentials": {"username": "shop", "password": "pw-srv-c09a44-never-shown"},
}
SECRET_VALUES = ("tok-srv-5d1e77-never-shown", "pw-srv-c09a44-never-shown")
# Other ports than the Swarm suite's (384xx) and the Podman suite's.
PORTS = {38411: 38611, 38412: 38612, 38413: 38613, 38421: 38621, 38422: 38622}


def blueprint_source(*, web_image: str = "localhost/attonix-test-httpd:1") -> str:
    """shop.yaml renamed and moved to other ports; ``web_image`` for the second version."""
    text_ = FIXTURE.read_text(encoding="utf-8")
    for old, new in PORTS.items():
        text_ = text_.replace(str(old), str(new))
    doc = yaml.safe_load(text_)
    doc["metadata"]["name"] = NAME
    for svc in doc["services"]["frontend"]:
        if svc["name"] == "web":
            svc["image"] = web_image
    return yaml.safe_dump(doc, sort_keys=False)


def docker(*args: str) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"docker {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def engine_services() -> dict[str, tuple[str, str]]:
    """Service name -> (replicas, image) as the engine reports them, by the blueprint label."""
    args = ["service", "ls", "--format", "{{json .}}"]
    for pair in selector(load_bytes(blueprint_source(), file="x.yaml").blueprint).split(","):
        args += ["--filter", f"label={pair}"]
    rows = [json.loads(line) for line in docker(*args).splitlines() if line.strip()]
    return {r["Name"]: (r["Replicas"], r["Image"].split("@", 1)[0]) for r in rows}


class Recorder(logging.Handler):
    """Keeps every formatted log line emitted while the module runs."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record) + " " + json.dumps(record.__dict__, default=str))


@dataclass
class Live:
    """The running server, its users' headers, and everything it answered."""

    client: TestClient
    ctx: Any
    operator: dict[str, str]
    admin: dict[str, str]
    responses: list[str] = field(default_factory=list)
    deployments: dict[str, int] = field(default_factory=dict)

    def call(self, method: str, url: str, *, who: dict[str, str], **kw: Any) -> Any:
        r = self.client.request(method, url, headers=who, **kw)
        self.responses.append(f"{r.status_code} {r.headers} {r.text}")
        return r

    def wait(self, dep: int, statuses: set[str], timeout: float = 240) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            body: dict[str, Any] = self.call(
                "GET", f"{V}/environments/staging/deployments/{dep}", who=self.operator
            ).json()
            if body["status"] in statuses:
                return body
            if body["status"] in {"failed", "plan_failed", "rejected"}:
                raise AssertionError(f"deployment {dep} ended {body['status']}: {body['plan']}")
            assert time.monotonic() < deadline, f"deployment {dep} still {body['status']}"
            time.sleep(0.5)

    def log_lines(self, dep: int) -> list[str]:
        r = self.call("GET", f"{V}/environments/staging/deployments/{dep}/logs", who=self.operator)
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.text.rstrip().endswith("event: end\ndata: {}")
        return [
            json.loads(line[len("data: ") :])["line"]
            for line in r.text.splitlines()
            if line.startswith('data: {"at"')
        ]

    def deploy(self, version: int, *, rollback_of: int | None = None) -> int:
        """Request (or roll back), check the two-person rule, approve as admin, wait."""
        if rollback_of is None:
            r = self.call(
                "POST",
                f"{V}/environments/staging/deployments",
                who=self.operator,
                json={"version": version, "target": "swarm"},
            )
        else:
            r = self.call(
                "POST",
                f"{V}/environments/staging/deployments/{rollback_of}/rollback",
                who=self.operator,
            )
        assert r.status_code == 202, r.text
        dep: int = r.json()["id"]
        planned = self.wait(dep, {"awaiting_approval"})
        own = self.call(
            "POST",
            f"{V}/environments/staging/deployments/{dep}/decision",
            who=self.operator,
            json={"approve": True},
        )
        assert own.status_code == 403 and "two-person rule" in own.json()["detail"]
        ok = self.call(
            "POST",
            f"{V}/environments/staging/deployments/{dep}/decision",
            who=self.admin,
            json={"approve": True},
        )
        assert ok.status_code == 200, ok.text
        assert planned["plan"]["target"] == "swarm" and planned["plan"]["cluster"] == "swarm-test"
        return dep


def _sign_in(client: TestClient, name: str, secret: str) -> dict[str, str]:
    r = client.post(f"{V}/auth/login", json={"username": name, "password": PASSWORD})
    assert r.status_code == 200 and r.json()["mfa_required"], r.text
    r = client.post(
        f"{V}/auth/mfa", json={"mfa_token": r.json()["mfa_token"], "code": totp_now(secret)}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    out = docker("info", "--format", "{{.Swarm.LocalNodeState}}").strip()
    if out != "active":
        pytest.fail("Docker Swarm is not running: run scripts/setup.d/21-docker.sh")
    tmp = tmp_path_factory.mktemp("deploy-server")
    db_name = f"atx_deploy_{uuid.uuid4().hex[:10]}"
    admin_engine = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {db_name}"))
    # The drivers keep their lock files and secret-version key in the state directory.
    saved_state = os.environ.get("ATTONIX_STATE_DIR")
    os.environ["ATTONIX_STATE_DIR"] = str(tmp / "state")
    bp = load_bytes(blueprint_source(), file="shop.yaml").blueprint
    cleanup = get_driver("swarm", bp, secrets=EnvSecretSource(bp.security.secrets, environ={}))
    cleanup.destroy()  # leftovers of an interrupted earlier run
    settings = Settings(
        data_dir=tmp,
        database_url=make_url(PG_ADMIN).set(database=db_name).render_as_string(False),
        signing_key="s" * 48,
        kek=KeyRing.generate_line("deploy-test"),
        auto_migrate=True,
        run_workers=True,
        worker_poll_seconds=0.2,
        two_person_rule=["staging"],
        log_level="debug",
    )
    recorder = Recorder()
    app = create_app(settings)
    logging.getLogger().addHandler(recorder)
    try:
        with TestClient(app, base_url="http://testserver") as client:
            ctx = app.state.ctx
            totp = {"ada": new_totp_secret(), "olga": new_totp_secret()}
            with ctx.db.session() as s:
                for name, admin in (("ada", True), ("olga", False)):
                    user = User(
                        name=name,
                        email=f"{name}@example.test",
                        password_hash=hash_password(PASSWORD),
                        is_admin=admin,
                        mfa_enabled=True,
                    )
                    s.add(user)
                    s.flush()
                    user.mfa_secret = ctx.keyring.seal(
                        totp[name].encode(), aad=f"mfa:{user.id}".encode()
                    ).to_bytes()
                s.add(
                    RoleBinding(
                        role="operator", environment="staging", subject_kind="user", subject="olga"
                    )
                )
            lv = Live(
                client=client,
                ctx=ctx,
                operator=_sign_in(client, "olga", totp["olga"]),
                admin=_sign_in(client, "ada", totp["ada"]),
            )
            yield lv
    finally:
        logging.getLogger().removeHandler(recorder)
        cleanup.destroy()
        if saved_state is None:
            os.environ.pop("ATTONIX_STATE_DIR", None)
        else:
            os.environ["ATTONIX_STATE_DIR"] = saved_state
        with admin_engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"))
        admin_engine.dispose()
    # Checked after teardown so that the apply jobs' and the destroy's lines are included.
    leaked = [v for v in SECRET_VALUES for line in recorder.lines if v in line]
    assert not leaked, "a secret value reached a log line"
    assert recorder.lines, "nothing was logged: the recorder did not see the server's logs"


def test_deploy_through_the_api_runs_on_the_swarm(live: Live) -> None:
    r = live.call("POST", f"{V}/environments", who=live.admin, json={"name": "staging"})
    assert r.status_code == 201, r.text
    r = live.call(
        "POST",
        f"{V}/environments/staging/blueprints",
        who=live.operator,
        json={"source": blueprint_source(), "filename": "shop.yaml"},
    )
    assert r.status_code == 201, r.text
    for name, values in SECRETS.items():
        r = live.call(
            "PUT",
            f"{V}/environments/staging/secrets/{name}",
            who=live.operator,
            json={"values": values},
        )
        assert r.status_code == 200 and r.json()["keys"] == sorted(values), r.text
    # Only an administrator of the environment stores where the cluster's engine is.
    body = {"kind": "docker", "host": "unix:///var/run/docker.sock"}
    url = f"{V}/environments/staging/connections/swarm-test"
    assert live.call("PUT", url, who=live.operator, json=body).status_code == 403
    r = live.call("PUT", url, who=live.admin, json=body)
    assert r.status_code == 200 and r.json()["endpoint"] == "unix:///var/run/docker.sock", r.text

    dep = live.deploy(1)
    done = live.wait(dep, {"succeeded"})
    live.deployments["first"] = dep
    assert done["cluster"] == "swarm-test"
    assert done["plan"]["endpoint"] == "unix:///var/run/docker.sock"
    plan = done["plan"]
    assert plan["counts"]["create"] == 8 and plan["counts"]["unchanged"] == 0, plan["counts"]
    assert {(c["kind"], c["name"]) for c in plan["changes"] if c["kind"] == "service"} == {
        ("service", f"{STACK}_api"),
        ("service", f"{STACK}_db"),
        ("service", f"{STACK}_web"),
    }
    lines = live.log_lines(dep)
    assert "plan: swarm cluster swarm-test through unix:///var/run/docker.sock" in lines
    assert "apply: through unix:///var/run/docker.sock" in lines
    assert f"plan: create service {STACK}_api" in lines
    assert any(line.startswith(f"apply: deploy stack {STACK} ") for line in lines), lines
    assert "apply: wait for the engine to converge" in lines
    assert lines[-1] == "apply: succeeded"
    # create secret lines name the versioned engine secret, never its value
    assert sum(line.startswith("apply: create secret ") for line in lines) == 3

    assert engine_services() == {
        f"{STACK}_api": ("2/2", "localhost/attonix-test-httpd:1"),
        f"{STACK}_db": ("1/1", "localhost/attonix-test-httpd:1"),
        f"{STACK}_web": ("1/1", "localhost/attonix-test-httpd:1"),
    }
    with urllib.request.urlopen("http://127.0.0.1:38611/version", timeout=5) as resp:
        assert resp.read().decode().strip() == "1"


def test_a_second_deployment_plans_nothing(live: Live) -> None:
    dep = live.deploy(1)
    done = live.wait(dep, {"succeeded"})
    assert done["plan"]["empty"] is True
    assert done["plan"]["counts"] == {"create": 0, "update": 0, "delete": 0, "unchanged": 8}
    lines = live.log_lines(dep)
    assert "plan: nothing to change (8 resource(s) up to date)" in lines
    assert not [line for line in lines if line.startswith(("apply: deploy", "apply: create"))]


def test_new_version_then_rollback_to_the_first(live: Live) -> None:
    r = live.call(
        "POST",
        f"{V}/environments/staging/blueprints",
        who=live.operator,
        json={"source": blueprint_source(web_image="localhost/attonix-test-httpd:2")},
    )
    assert r.status_code == 201, r.text
    dep = live.deploy(2)
    done = live.wait(dep, {"succeeded"})
    assert [
        (c["action"], c["name"]) for c in done["plan"]["changes"] if c["action"] != "unchanged"
    ] == [("update", f"{STACK}_web")]
    assert engine_services()[f"{STACK}_web"] == ("1/1", "localhost/attonix-test-httpd:2")

    back = live.deploy(0, rollback_of=live.deployments["first"])
    done = live.wait(back, {"succeeded"})
    assert done["version"] == 1 and done["rollback_of"] == live.deployments["first"]
    assert engine_services()[f"{STACK}_web"] == ("1/1", "localhost/attonix-test-httpd:1")


def test_an_engine_change_after_approval_is_not_applied(live: Live) -> None:
    r = live.call(
        "POST",
        f"{V}/environments/staging/deployments",
        who=live.operator,
        json={"version": 2, "target": "swarm"},
    )
    dep = r.json()["id"]
    live.wait(dep, {"awaiting_approval"})
    # Someone scales a service by hand between the plan and its approval.
    docker("service", "scale", "--detach", f"{STACK}_db=2")
    live.call(
        "POST",
        f"{V}/environments/staging/deployments/{dep}/decision",
        who=live.admin,
        json={"approve": True},
    )
    deadline = time.monotonic() + 120
    while (
        status := live.call(
            "GET", f"{V}/environments/staging/deployments/{dep}", who=live.operator
        ).json()["status"]
    ) in ("approved", "applying"):
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert status == "failed"
    assert any("changed since this plan was approved" in line for line in live.log_lines(dep))
    assert engine_services()[f"{STACK}_web"] == ("1/1", "localhost/attonix-test-httpd:1")


def _request_planned(live: Live) -> int:
    r = live.call(
        "POST",
        f"{V}/environments/staging/deployments",
        who=live.operator,
        json={"version": 1, "target": "swarm", "cluster": "swarm-test"},
    )
    assert r.status_code == 202, r.text
    dep: int = r.json()["id"]
    live.wait(dep, {"awaiting_approval"})
    return dep


def _approve_and_wait_end(live: Live, dep: int) -> dict[str, Any]:
    ok = live.call(
        "POST",
        f"{V}/environments/staging/deployments/{dep}/decision",
        who=live.admin,
        json={"approve": True},
    )
    assert ok.status_code == 200, ok.text
    deadline = time.monotonic() + 120
    while True:
        body: dict[str, Any] = live.call(
            "GET", f"{V}/environments/staging/deployments/{dep}", who=live.operator
        ).json()
        if body["status"] not in ("approved", "applying"):
            return body
        assert time.monotonic() < deadline
        time.sleep(0.5)


class SocketProxy:
    """A unix socket forwarding to the Docker engine's, which the test can cut."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(32)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            engine.connect("/var/run/docker.sock")
            for a, b in ((client, engine), (engine, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
            src.close()  # each socket is the source of one of the two pipes

    def cut(self) -> None:
        self.server.close()
        self.path.unlink()


def test_a_connection_changed_after_approval_is_not_used(live: Live) -> None:
    url = f"{V}/environments/staging/connections/swarm-test"
    dep = _request_planned(live)
    assert (
        live.call(
            "PUT",
            url,
            who=live.admin,
            json={"kind": "docker", "host": "unix:///var/run/docker.sock"},
        ).status_code
        == 200
    )
    done = _approve_and_wait_end(live, dep)
    assert done["status"] == "failed"
    assert any(
        "the connection of cluster 'swarm-test' changed since this plan was approved" in line
        for line in live.log_lines(dep)
    )


def test_an_engine_unreachable_at_apply_fails_the_deployment_naming_the_cluster(
    live: Live, tmp_path: Path
) -> None:
    proxy = SocketProxy(tmp_path / "docker.sock")
    url = f"{V}/environments/staging/connections/swarm-test"
    host = f"unix://{proxy.path}"
    r = live.call("PUT", url, who=live.admin, json={"kind": "docker", "host": host})
    assert r.status_code == 200, r.text
    try:
        dep = _request_planned(live)
        planned = live.call(
            "GET", f"{V}/environments/staging/deployments/{dep}", who=live.operator
        ).json()
        assert planned["plan"]["endpoint"] == host  # what the approver sees
        proxy.cut()
        done = _approve_and_wait_end(live, dep)
        assert done["status"] == "failed"
        said = f"error: cluster 'swarm-test': cannot reach {host}"
        assert any(line.startswith(said) for line in live.log_lines(dep)), live.log_lines(dep)
    finally:
        live.call(
            "PUT",
            url,
            who=live.admin,
            json={"kind": "docker", "host": "unix:///var/run/docker.sock"},
        )


def test_a_tls_endpoint_with_a_foreign_certificate_fails_the_plan_naming_the_cluster(
    live: Live,
) -> None:
    ours = pki.create_ca(common_name="ours", key_algorithm="ecdsa-p256", validity_days=5)
    theirs = pki.create_ca(common_name="theirs", key_algorithm="ecdsa-p256", validity_days=5)
    client = pki.issue_certificate(
        ours, common_name="attonix", dns_names=["127.0.0.1"], validity_days=5
    )
    server = pki.issue_certificate(
        theirs, common_name="engine", dns_names=["127.0.0.1"], validity_days=5
    )
    with TlsServer(server) as port:
        url = f"{V}/environments/staging/connections/swarm-test"
        body = {
            "kind": "docker",
            "host": f"tcp://127.0.0.1:{port}",
            "tls": {
                "ca": ours.cert_pem.decode(),
                "cert": client.cert_pem.decode(),
                "key": client.key_pem.decode(),
            },
        }
        try:
            assert live.call("PUT", url, who=live.admin, json=body).status_code == 200
            check = live.call("POST", f"{url}/check", who=live.admin).json()
            assert check["ok"] is False and "did not sign" in check["message"]
            r = live.call(
                "POST",
                f"{V}/environments/staging/deployments",
                who=live.operator,
                json={"version": 1, "target": "swarm"},
            )
            dep = r.json()["id"]
            deadline = time.monotonic() + 60
            while (
                got := live.call(
                    "GET", f"{V}/environments/staging/deployments/{dep}", who=live.operator
                ).json()
            )["status"] == "planning":
                assert time.monotonic() < deadline
                time.sleep(0.3)
            assert got["status"] == "plan_failed"
            assert got["plan"]["error"].startswith(
                f"cluster 'swarm-test': the engine at tcp://127.0.0.1:{port} presented a "
                "certificate the connection's CA"
            )
        finally:
            live.call(
                "PUT",
                url,
                who=live.admin,
                json={"kind": "docker", "host": "unix:///var/run/docker.sock"},
            )


class TlsServer:
    """A TLS listener on loopback presenting ``pair`` (an engine of another CA)."""

    def __init__(self, pair: pki.KeyPair) -> None:
        self.dir = Path(tempfile.mkdtemp())
        (self.dir / "c.pem").write_bytes(pair.cert_pem)
        (self.dir / "k.pem").write_bytes(pair.key_pem)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(self.dir / "c.pem", self.dir / "k.pem")
        self.sock = socket.create_server(("127.0.0.1", 0))

    def __enter__(self) -> int:
        threading.Thread(target=self._serve, daemon=True).start()
        return int(self.sock.getsockname()[1])

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with contextlib.suppress(OSError, ssl.SSLError):
                self.context.wrap_socket(conn, server_side=True).close()

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def test_secret_values_appear_in_no_response_and_no_job_log(live: Live) -> None:
    listed = live.call("GET", f"{V}/environments/staging/secrets", who=live.operator)
    assert {s["name"] for s in listed.json()} == set(SECRETS)
    assert live.responses, "no responses were recorded"
    with live.ctx.db.session() as s:
        job_logs = list(s.execute(select(JobLog.line)).scalars())
        audit = [json.dumps(d) for d in s.execute(select(AuditEntry.detail)).scalars()]
    assert any(line.startswith("apply: create secret ") for line in job_logs)
    for value in SECRET_VALUES:
        assert not [r for r in live.responses if value in r]
        assert not [line for line in job_logs if value in line]
        assert not [a for a in audit if value in a]
