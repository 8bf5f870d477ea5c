"""The CLI as a client of a real Central Server, end to end, on PostgreSQL and real Podman.

``attonix serve`` runs as its own process on a throwaway PostgreSQL database (as the console's
end-to-end stack does); an administrator and an operator finish their first sign-in (new
password, authenticator enrolled) over the API. Then everything goes through the CLI, as
people would type it: both log in with their password and TOTP code into their own contexts,
the operator uploads two versions, diffs them, requests a deployment and follows its plan;
the two-person rule refuses the operator's own approval, the administrator approves and
watches the apply's live log until the service answers on the host with the new version;
the audit log shows who did what. Credentials never appear in anything the CLI printed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import stat
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.e2e.conftest import _attonix, _database, _process, free_port, wait_http
from typer.testing import CliRunner, Result

from attonix.blueprint import load_bytes
from attonix.cli import app
from attonix.deploy import EnvSecretSource, get_driver
from attonix.server.security.totp import totp_now

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "deploy" / "shop-podman.yaml"
PORT = 38451  # unlike the Podman driver suite's 3843x
V = "/api/v1"
ENV = "staging"


def blueprint(image: str) -> str:
    """shop-podman.yaml cut down to its web service, renamed and on its own port."""
    doc = yaml.safe_load(FIXTURE.read_text(encoding="utf-8"))
    doc["metadata"]["name"] = "attonix-clitest"
    doc["security"].pop("secrets")
    doc["security"]["firewall"]["rules"] = [
        {"name": "public", "source": "internet", "destination": "web", "ports": [PORT]}
    ]
    web = next(s for s in doc["services"]["frontend"] if s["name"] == "web")
    web.pop("backends")
    web.update(image=image, ports=[{"name": "http", "port": PORT}], env={"PORT": str(PORT)})
    doc["services"] = {"frontend": [web]}
    return yaml.safe_dump(doc, sort_keys=False)


def next_code(secret: str) -> str:
    """The authenticator's code for the next 30-second step: the server accepts one step of
    drift, and a step that setting up already spent would be refused as a replay."""
    return totp_now(secret, now=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30))


@dataclass
class Account:
    name: str
    password: str
    totp: str
    recovery: list[str]


@dataclass
class Server:
    url: str
    accounts: dict[str, Account]
    log: Path


def _first_sign_in(api: httpx.Client, name: str, one_time: str) -> Account:
    """New password, authenticator enrolled: what the console asks at the first sign-in."""
    password = f"Tr0ub4dor-{secrets.token_hex(8)}"
    r = api.post(f"{V}/auth/login", json={"username": name, "password": one_time})
    assert r.status_code == 200 and r.json()["tokens"], r.text
    who = {"Authorization": f"Bearer {r.json()['tokens']['access_token']}"}
    r = api.post(
        f"{V}/me/password",
        headers=who,
        json={"current_password": one_time, "new_password": password},
    )
    assert r.status_code == 204, r.text
    r = api.post(f"{V}/me/mfa/enroll", headers=who, json={"current_password": password})
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    r = api.post(f"{V}/me/mfa/confirm", headers=who, json={"code": totp_now(secret)})
    assert r.status_code == 200, r.text
    return Account(name, password, secret, r.json()["recovery_codes"])


def _session(api: httpx.Client, account: Account) -> dict[str, str]:
    """A full session for setting up, signed in with a recovery code: enrolment spent the
    current TOTP step, and the next one is the CLI's."""
    r = api.post(f"{V}/auth/login", json={"username": account.name, "password": account.password})
    assert r.status_code == 200 and r.json()["mfa_required"], r.text
    code = account.recovery.pop()
    r = api.post(f"{V}/auth/mfa", json={"mfa_token": r.json()["mfa_token"], "code": code})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if subprocess.run(["podman", "info"], capture_output=True, check=False).returncode != 0:
        pytest.fail("Podman is not working: run scripts/setup.d/20-podman.sh", pytrace=False)
    work = tmp_path_factory.mktemp("cli-remote")
    port = free_port()
    bp = load_bytes(blueprint("localhost/attonix-test-httpd:1"), file="bp.yaml").blueprint
    driver = get_driver("podman", bp, secrets=EnvSecretSource(bp.security.secrets, environ={}))
    driver.destroy()  # leftovers of an interrupted earlier run
    with _database() as db:
        env = {
            **os.environ,
            "ATTONIX_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}",
            "ATTONIX_DATA_DIR": str(work / "data"),
            "ATTONIX_STATE_DIR": str(work / "state"),
            "ATTONIX_WORKER_POLL_SECONDS": "0.2",
            "ATTONIX_TWO_PERSON_RULE": json.dumps([ENV]),
            "NO_COLOR": "1",
        }
        run: dict[str, Any] = {"env": env, "capture_output": True, "text": True, "timeout": 120}
        subprocess.run([_attonix(), "db", "upgrade"], check=True, cwd=ROOT, **run)
        created = subprocess.run(
            [_attonix(), "users", "create-admin", "admin"], check=True, cwd=ROOT, **run
        )
        match = re.search(r"One-time password: (\S+)", created.stdout)
        assert match, created.stdout + created.stderr
        log = work / "server.log"
        try:
            with _process([_attonix(), "serve", "--port", str(port)], env=env, log=log):
                url = f"http://127.0.0.1:{port}"
                wait_http(url + "/readyz")
                with httpx.Client(base_url=url, timeout=30) as api:
                    admin = _first_sign_in(api, "admin", match.group(1))
                    who = _session(api, admin)
                    r = api.post(f"{V}/environments", headers=who, json={"name": ENV})
                    assert r.status_code == 201, r.text
                    r = api.post(f"{V}/users", headers=who, json={"name": "olga"})
                    assert r.status_code == 201, r.text
                    olga_otp = r.json()["one_time_password"]
                    binding = {
                        "role": "operator",
                        "environment": ENV,
                        "subject_kind": "user",
                        "subject": "olga",
                    }
                    r = api.post(f"{V}/bindings", headers=who, json=binding)
                    assert r.status_code == 201, r.text
                    # The server deploys only through a stored connection: this machine's.
                    r = api.put(
                        f"{V}/environments/{ENV}/connections/podman-test",
                        headers=who,
                        json={"kind": "podman", "url": "local"},
                    )
                    assert r.status_code == 200, r.text
                    olga = _first_sign_in(api, "olga", olga_otp)
                yield Server(url, {"admin": admin, "olga": olga}, log)
        finally:
            driver.destroy()


@dataclass
class Cli:
    """``attonix`` in this process, on its own contexts file; keeps everything it printed."""

    config: Path
    said: list[str] = field(default_factory=list)

    def __call__(self, *args: str, input: str | None = None, code: int = 0) -> Result:
        result = CliRunner().invoke(
            app, list(args), input=input, env={"ATTONIX_CONFIG": str(self.config), "COLUMNS": "200"}
        )
        self.said += [result.stdout, result.stderr]
        assert result.exit_code == code, (args, result.exit_code, result.stdout, result.stderr)
        assert "Traceback" not in result.stdout + result.stderr
        return result


def _served_version() -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/version", timeout=5) as resp:
        return str(resp.read().decode().strip())


def test_the_cli_drives_the_central_server_end_to_end(server: Server, tmp_path: Path) -> None:
    cli = Cli(tmp_path / "home" / "attonix" / "config.yaml")
    olga, admin = server.accounts["olga"], server.accounts["admin"]

    # Both sign in with password and authenticator code, each into a context of their own.
    out = cli(
        "login",
        server.url,
        "-u",
        "olga",
        "--context",
        "olga",
        "-e",
        ENV,
        input=f"{olga.password}\n{next_code(olga.totp)}\n",
    )
    assert f"Logged in to {server.url} as olga (context 'olga', environment '{ENV}')" in out.stdout
    cli(
        "login",
        server.url,
        "-u",
        "admin",
        "--context",
        "admin",
        "-e",
        ENV,
        input=f"{admin.password}\n{next_code(admin.totp)}\n",
    )
    assert stat.S_IMODE(cli.config.stat().st_mode) == 0o600
    assert stat.S_IMODE(cli.config.parent.stat().st_mode) == 0o700
    stored = yaml.safe_load(cli.config.read_text())
    tokens = [
        t
        for c in stored["contexts"].values()
        for t in (c["auth"]["access_token"], c["auth"]["refresh_token"])
    ]
    assert len(tokens) == 4 and all(len(t) > 20 for t in tokens)
    assert stored["current-context"] == "admin"
    cli("context", "use", "olga")
    listed = json.loads(cli("context", "list", "-o", "json").stdout)
    assert [(c["name"], c["user"], c["current"], c["auth"]) for c in listed] == [
        ("admin", "admin", False, "session"),
        ("olga", "olga", True, "session"),
    ]

    # The operator uploads; an invalid blueprint is refused with its problem at its line.
    v1, v2 = tmp_path / "v1.yaml", tmp_path / "v2.yaml"
    v1.write_text(blueprint("localhost/attonix-test-httpd:1"))
    v2.write_text(blueprint("localhost/attonix-test-httpd:2"))
    bad = tmp_path / "bad.yaml"
    bad.write_text(v1.read_text().replace("replicas: 1", "replicas: many"))
    refused = cli("blueprint", "upload", str(bad), code=1)
    assert re.search(
        r"bad\.yaml:\d+:\d+: error\[BP\d+\]: services\.frontend\[0\]\.replicas", refused.stderr
    ), refused.stderr
    out = cli("blueprint", "upload", str(v1))
    assert f"Stored v1.yaml as version 1 of '{ENV}'" in out.stdout
    upload = json.loads(cli("blueprint", "upload", "-f", str(v2), "-o", "json").stdout)
    assert upload["version"]["version"] == 2 and upload["version"]["uploaded_by"] == "olga"

    # Diff: the stored versions, and a local file against the latest (what an upload changes).
    diff = cli("blueprint", "diff", code=1).stdout
    assert "-    image: localhost/attonix-test-httpd:1" in diff
    assert "+    image: localhost/attonix-test-httpd:2" in diff
    assert "No differences." in cli("blueprint", "diff", str(v2)).stdout
    local = cli("blueprint", "diff", str(v1), code=1).stdout
    assert f"--- {ENV}/v2" in local and "+    image: localhost/attonix-test-httpd:1" in local
    versions = json.loads(cli("blueprint", "list", "-o", "json").stdout)
    assert [v["version"] for v in versions] == [2, 1]

    # Findings of the stored version, as the server checked it.
    found = cli("findings", "--fail-on", "high", "-o", "json", code=1)
    report = json.loads(found.stdout)
    assert report["version"] == 2
    assert any(f["severity"] == "high" for f in report["findings"])
    # The version list counts the findings (it does not send them): the same count, per severity.
    assert len(report["findings"]) == versions[0]["findings_count"] > 0
    by_severity: dict[str, int] = {}
    for f in report["findings"]:
        by_severity[f["severity"]] = by_severity.get(f["severity"], 0) + 1
    assert by_severity == {k: n for k, n in versions[0]["findings_by_severity"].items() if n}
    row = next(ln for ln in cli("blueprint", "list").stdout.splitlines() if ln.startswith("2 "))
    assert f" {len(report['findings'])} " in row, row

    # The operator requests a deployment and follows the plan until it awaits approval.
    requested = cli("deployment", "request", "-t", "podman", "--watch").stdout
    dep = int(re.search(r"Requested deployment (\d+) of staging v2 to podman", requested)[1])  # type: ignore[index]
    assert "plan: create" in requested, requested
    assert "endpoint: the Podman of the Central Server's own machine" in requested
    assert "awaits approval: another person must approve it (two-person rule)" in requested

    # Not by the requester: the two-person rule.
    own = cli("deployment", "approve", str(dep), "--yes", code=3)
    assert "two-person rule" in own.stderr

    # The administrator approves and watches the apply's live log to the end.
    done = cli("deployment", "approve", str(dep), "--yes", "--watch", "--context", "admin")
    assert f"Deployment {dep} is approved." in done.stdout
    assert re.search(r"^\d\d:\d\d:\d\d  apply: ", done.stdout, re.M), done.stdout
    assert f"Deployment {dep}: {ENV} v2 → podman: succeeded" in done.stdout
    assert _served_version() == "2"
    shown = json.loads(cli("deployment", "show", str(dep), "-o", "json").stdout)
    assert (shown["status"], shown["requested_by"], shown["approved_by"]) == (
        "succeeded",
        "olga",
        "admin",
    )

    # The audit log: who requested, who was refused, who approved.
    audit = json.loads(
        cli(
            "audit",
            "log",
            "--context",
            "admin",
            "--target",
            f"deployment/{dep}",
            "--oldest-first",
            "-o",
            "json",
        ).stdout
    )
    trail = [(e["action"], e["actor"], e["outcome"]) for e in audit]
    assert ("deployment.request", "olga", "success") in trail, trail
    assert ("deployment.approve", "admin", "success") in trail, trail
    assert trail.index(("deployment.request", "olga", "success")) < trail.index(
        ("deployment.approve", "admin", "success")
    )
    # An operator may not read it, and is told which roles may.
    denied = cli("audit", "log", code=3)
    assert "permission denied" in denied.stderr and "admin, auditor" in denied.stderr

    # Signing out ends the session on the server and forgets its tokens here.
    cli("logout")
    gone = cli("blueprint", "list", code=3)
    assert "context 'olga' has no credentials" in gone.stderr and "attonix login" in gone.stderr
    assert "access_token" not in yaml.safe_load(cli.config.read_text())["contexts"]["olga"].get(
        "auth", {}
    )

    # No token ever appeared in anything the CLI printed.
    printed = "\n".join(cli.said)
    assert not [t for t in tokens if t in printed]
    assert olga.password not in printed and admin.password not in printed
