"""The console's credential rotation in headless Chromium against a real server, a real
database server and a real consumer.

The blueprint is tests/fixtures/databases/rotation-podman.yaml: a managed PostgreSQL database
(the server's connections file points it at a throwaway local server with TLS) used by one
service on this machine's Podman, both provisioned first (as ``attonix apply -t databases`` and
``-t podman`` would). In an environment under the two-person rule an operator asks the
Deployments page for a rotation of the service's application login and sees it planned (old
login -> new login) and pending someone else's approval, without an Approve button; an
administrator, in another browser, approves it and follows the job to ``succeeded`` with every
step of the rotation ticked, while the server rolls the service's containers onto the new login
through the environment's stored connection to this machine's Podman. Afterwards the old login
is gone from the database server, the new one is stored, and the running containers hold it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from attonix.blueprint import load_bytes
from attonix.deploy import EnvSecretSource, get_driver
from attonix.deploy.databases import DatabaseDriver

from .conftest import ROOT, Runner, Stack, create_admin

# The throwaway database servers of the database tests (initdb, TLS, a free port).
sys.path.insert(0, str(ROOT / "tests" / "integration" / "databases"))
from _clusters import PG_BIN, PgServer, running_pg

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ENV = "rot-e2e"  # under the two-person rule (conftest's stack)
FIXTURE = ROOT / "tests" / "fixtures" / "databases" / "rotation-podman.yaml"
DATABASE, CLUSTER = "ledger-pg", "podman-rot"
PREFIX = "atx_ledger_ledger_app_g"  # <database>_<service>_<kind>_g<generation>
#: Plaintext refused for the rotated database; everything else needs a SCRAM password.
PG_HBA = [
    "local all all scram-sha-256",
    "hostnossl atx_ledger all 127.0.0.1/32 reject",
    "host all all 127.0.0.1/32 scram-sha-256",
]


@pytest.fixture(scope="module")
def pg_server() -> Iterator[PgServer]:
    if not (PG_BIN / "initdb").exists():
        pytest.fail(
            "PostgreSQL 15 server binaries are missing: run scripts/setup.d/30-databases.sh",
            pytrace=False,
        )
    with running_pg("attonix-e2e-pg-", hba=PG_HBA) as server:
        yield server


def _logins(pg: PgServer) -> set[str]:
    with psycopg.connect(pg.dsn()) as conn:
        rows = conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (PREFIX + "%",)
        ).fetchall()
    return {str(r[0]) for r in rows}


def _podman(*args: str) -> str:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=True).stdout


def _mounted_usernames() -> set[str]:
    """The login each running container of the service holds (its mounted username file)."""
    ids = _podman("ps", "-q", "--filter", "label=app.kubernetes.io/instance=attonix-rottest-ledger")
    if not ids.split():
        return set()
    replicas = [c["Id"] for c in json.loads(_podman("inspect", *ids.split())) if not c["IsInfra"]]
    return {
        _podman("exec", c, "cat", f"/run/secrets/databases/{DATABASE}/username").strip()
        for c in replicas
    }


@pytest.fixture(scope="module")
def provisioned(stack: Stack, pg_server: PgServer) -> Iterator[dict[str, Any]]:
    """The database's logins on the throwaway server and the service on this machine's Podman,
    through the server's own state directory (so the server's rotation finds them); removed
    afterwards."""
    stack.state.mkdir(mode=0o700, parents=True, exist_ok=True)
    (stack.state / "connections.yaml").write_text(
        f"databases:\n  {DATABASE}:\n"
        f"    {{host: 127.0.0.1, port: {pg_server.port}, admin_database: postgres,\n"
        f"     sslrootcert: {pg_server.cert}}}\n"
    )
    source = FIXTURE.read_text(encoding="utf-8")
    bp = load_bytes(source.encode(), file=FIXTURE.name).blueprint
    admin = {"username": pg_server.superuser, "password": pg_server.password}
    env = {
        "ATTONIX_SECRET_PG_ADMIN_USERNAME": admin["username"],
        "ATTONIX_SECRET_PG_ADMIN_PASSWORD": admin["password"],
    }
    secrets = EnvSecretSource(bp.security.secrets, environ=env)
    db = DatabaseDriver(bp, cluster=DATABASE, secrets=secrets, state=stack.state)
    engine = get_driver("podman", bp, secrets=secrets)
    engine.destroy()  # leftovers of an interrupted earlier run
    try:
        result = db.apply(db.plan())
        assert result.ok, result.error
        # The service runs with the first login, from the same state as the server's.
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("ATTONIX_STATE_DIR", str(stack.state))
            deployed = get_driver("podman", bp, secrets=secrets)
            applied = deployed.apply(deployed.plan(), timeout=90)
        assert applied.ok, applied.error
        yield {"source": source, "admin": admin, "driver": db}
    finally:
        engine.destroy()
        assert db.destroy().ok


@pytest.fixture(scope="module")
def seen(
    stack: Stack, run_scenario: Runner, provisioned: dict[str, Any], pg_server: PgServer
) -> dict[str, Any]:
    """Run the rotation scenario once; every test reads what it recorded."""
    password = create_admin(stack, "rosa")
    before, mounted_before = _logins(pg_server), _mounted_usernames()
    result = run_scenario(
        "rotation",
        {
            "environment": ENV,
            "blueprint": provisioned["source"],
            "database": DATABASE,
            "secret": {"name": "pg-admin", "values": provisioned["admin"]},
            # The consumers roll through the environment's stored connection only.
            "connections": {CLUSTER: {"kind": "podman", "url": "local"}},
            "accounts": {
                "approver": {
                    "username": "rosa",
                    "password": password,
                    "newPassword": "Quarry-lantern-thistle-57",
                },
                "requester": {"username": "ravi", "newPassword": "Orchid-bramble-falcon-64"},
            },
        },
    )
    return {
        "result": result,
        "facts": result["facts"],
        "before": before,
        "after": _logins(pg_server),
        "mounted_before": mounted_before,
        "mounted_after": _mounted_usernames(),
        "prefix": PREFIX,
        "driver": provisioned["driver"],
    }


def test_the_requester_sees_the_rotation_planned_and_pending_anothers_approval(
    seen: dict[str, Any],
) -> None:
    facts, prefix = seen["facts"], seen["prefix"]
    assert facts["plannedStatus"] == "awaiting_approval"
    assert f"replaces {prefix}1 with {prefix}2" in facts["rotationPlan"]
    assert "Login app of ledger on database ledger-pg" in facts["rotationPlan"]
    assert facts["requesterApproveButtons"] == 0
    assert "someone other than ravi" in facts["requesterNote"]
    assert facts["requesterStepsDone"] == []


def test_another_user_approves_and_follows_every_step(seen: dict[str, Any]) -> None:
    facts, prefix = seen["facts"], seen["prefix"]
    assert f"replacing {prefix}1 with {prefix}2" in facts["approveQuestion"]
    assert facts["statusWhileAsking"] == "awaiting_approval"
    assert facts["finalStatus"] == "succeeded"
    assert "approved by rosa" in facts["finalText"]
    assert facts["stepsDone"] == [
        "new login created and verified ✓",
        "consumers switched to the new login ✓",
        "old login no longer in use ✓",
        "old login dropped ✓",
    ]
    log = facts["finalLog"]
    at = [log.index(f"rotate: created and verified {prefix}2"), log.index(f"dropped {prefix}1")]
    assert at == sorted(at)
    # The requester's own page, reloaded, shows the same end.
    assert facts["requesterFinal"] == "succeeded"
    assert len(facts["requesterStepsDone"]) == 0 and len(facts["requesterStepsAfter"]) == 4


def test_the_old_login_is_dropped_and_the_new_one_stored(seen: dict[str, Any]) -> None:
    prefix = seen["prefix"]
    assert seen["before"] == {f"{prefix}1"}
    assert seen["after"] == {f"{prefix}2"}
    stored = seen["driver"].credentials.read("attonix-rottest.test.ledger-pg.ledger.app")
    assert stored is not None and stored["username"] == f"{prefix}2"
    assert stored["password"] not in str(seen["facts"])
    # The server rolled the running containers onto the new login.
    assert seen["mounted_before"] == {f"{prefix}1"}
    assert seen["mounted_after"] == {f"{prefix}2"}


def test_the_page_fits_both_sizes_without_accessibility_violations(
    seen: dict[str, Any],
) -> None:
    facts = seen["facts"]
    assert facts["pagesChecked"] == ["rotation-1280x800", "rotation-390x844"]
    assert facts["tooWide"] == []
    assert facts["axe"] == []
    assert seen["result"]["consoleErrors"] == []
