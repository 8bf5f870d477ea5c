"""The console's credential rotation in headless Chromium against a real server and database.

A blueprint declares a PostgreSQL database on this machine's server (a throwaway database
name, so runs do not meet) used by one service; Attonix provisions its logins first (as
``attonix apply -t databases`` would). In an environment under the two-person rule an
operator asks the Deployments page for a rotation of the service's application login and sees
it planned (old login -> new login) and pending someone else's approval, without an Approve
button; an administrator, in another browser, approves it and follows the job to
``succeeded`` with every step of the rotation ticked. Afterwards the old login is gone from
the server and the new one is stored.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from attonix.blueprint import load_bytes
from attonix.deploy import EnvSecretSource
from attonix.deploy.databases import DatabaseDriver

from .conftest import PG, Runner, Stack, create_admin

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ENV = "rot-e2e"  # under the two-person rule (conftest's stack)


def _blueprint(database: str) -> str:
    return f"""\
apiVersion: attonix.io/v1
kind: DataCenter
metadata: {{name: attonix-rote2e, environment: test, domain: rote2e.example.com}}
hosts:
  - {{name: node-1, address: 127.0.0.1, zone: zone-a, rack: rack-a, roles: [compute, database]}}
orchestration:
  clusters:
    - {{name: k8s, kind: kubernetes, version: "1.33", control_plane: [node-1]}}
storage:
  ceph:
    - name: ceph
      kubernetes_cluster: k8s
      hosts: [node-1]
      pools:
        - {{name: block, type: block, replicas: 1, min_size: 1, default: true}}
        - {{name: objects, type: object, replicas: 1, min_size: 1}}
security:
  tls:
    ca: {{name: rote2e-ca, common_name: Rotation E2E CA}}
  secrets:
    - {{name: e2e-pg-admin, description: PostgreSQL administrator, keys: [username, password]}}
databases:
  - {{name: ledger-db, engine: postgresql, version: "15", cluster: k8s, replicas: 1,
     credentials_secret: e2e-pg-admin, database: {database}, tls: false}}
services:
  backend:
    - name: ledger
      cluster: k8s
      image: localhost/attonix-test-httpd:1
      replicas: 1
      ports: [{{name: http, port: 8080}}]
      databases: [ledger-db]
"""


def _logins(prefix: str) -> set[str]:
    with psycopg.connect(**PG, autocommit=True) as conn:  # type: ignore[arg-type]
        rows = conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (prefix + "%",)
        ).fetchall()
    return {str(r[0]) for r in rows}


@pytest.fixture(scope="module")
def provisioned(stack: Stack) -> Iterator[dict[str, Any]]:
    """The blueprint's database and logins on this machine's PostgreSQL, through the server's
    own state directory (so the server's rotation finds them); removed afterwards."""
    database = f"atx_r{secrets.token_hex(3)}"
    source = _blueprint(database)
    stack.state.mkdir(mode=0o700, parents=True, exist_ok=True)
    (stack.state / "connections.yaml").write_text(
        "databases:\n  ledger-db: {host: 127.0.0.1, port: 5432, admin_database: postgres, "
        "sslmode: disable}\n"
    )
    bp = load_bytes(source.encode(), file="rotation.yaml").blueprint
    admin = {"username": "postgres", "password": "unused-trust-auth"}
    env = {
        "ATTONIX_SECRET_E2E_PG_ADMIN_USERNAME": admin["username"],
        "ATTONIX_SECRET_E2E_PG_ADMIN_PASSWORD": admin["password"],
    }
    db = DatabaseDriver(
        bp,
        cluster="ledger-db",
        secrets=EnvSecretSource(bp.security.secrets, environ=env),
        state=stack.state,
    )
    result = db.apply(db.plan())
    assert result.ok, result.error
    try:
        yield {"source": source, "database": database, "admin": admin, "driver": db}
    finally:
        assert db.destroy().ok


@pytest.fixture(scope="module")
def seen(stack: Stack, run_scenario: Runner, provisioned: dict[str, Any]) -> dict[str, Any]:
    """Run the rotation scenario once; every test reads what it recorded."""
    password = create_admin(stack, "rosa")
    prefix = f"{provisioned['database']}_ledger_app_g"
    before = _logins(prefix)
    result = run_scenario(
        "rotation",
        {
            "environment": ENV,
            "blueprint": provisioned["source"],
            "secret": {"name": "e2e-pg-admin", "values": provisioned["admin"]},
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
        "after": _logins(prefix),
        "prefix": prefix,
        "driver": provisioned["driver"],
    }


def test_the_requester_sees_the_rotation_planned_and_pending_anothers_approval(
    seen: dict[str, Any],
) -> None:
    facts, prefix = seen["facts"], seen["prefix"]
    assert facts["plannedStatus"] == "awaiting_approval"
    assert f"replaces {prefix}1 with {prefix}2" in facts["rotationPlan"]
    assert "Login app of ledger on database ledger-db" in facts["rotationPlan"]
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
    stored = seen["driver"].credentials.read("attonix-rote2e.test.ledger-db.ledger.app")
    assert stored is not None and stored["username"] == f"{prefix}2"
    assert stored["password"] not in str(seen["facts"])


def test_the_page_fits_both_sizes_without_accessibility_violations(
    seen: dict[str, Any],
) -> None:
    facts = seen["facts"]
    assert facts["pagesChecked"] == ["rotation-1280x800", "rotation-390x844"]
    assert facts["tooWide"] == []
    assert facts["axe"] == []
    assert seen["result"]["consoleErrors"] == []
