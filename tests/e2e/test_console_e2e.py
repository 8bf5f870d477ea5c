"""The console in headless Chromium against a real server on PostgreSQL.

One journey, three people, then a sweep: an administrator (first sign-in, MFA enrolment, then
sign-in with a TOTP code; creates the environment, the other two accounts and their bindings;
uploads a broken blueprint and sees the error at its line, fixes it; plans a deployment), an
operator (approves it — the two-person rule forbids the requester — then signs out everywhere,
which must kill a copied access token) and an auditor (sees no write action, reads and verifies
the audit log). The sweep, as the administrator, opens a deep link while signed out, deletes a
group with members, cancels a deployment, and visits every page at 1280×800 and 390×844 (no
sideways scrolling, axe-core, every destructive button asks first, a screenshot each). The
journey runs once; each test checks one behaviour on what it recorded.
"""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from .conftest import ARTIFACTS, ROOT, Runner, Stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLE = (ROOT / "examples" / "attonixcorp.yaml").read_text(encoding="utf-8")
# The first database's "replicas: 3" becomes text: a schema error on that line.
BAD_LINE = next(
    i
    for i, line in enumerate(EXAMPLE.splitlines(), start=1)
    if line.strip() == "replicas: 3" and i > EXAMPLE.splitlines().index("databases:")
)
INVALID = "\n".join(
    "    replicas: many" if i == BAD_LINE else line
    for i, line in enumerate(EXAMPLE.splitlines(), start=1)
)
# Version 2: a harmless edit, and a primary database without synchronous replication (ATX002,
# high) so the diagram has a red component and the findings page something to filter.
VALID2 = EXAMPLE.replace("owner: platform@attonixcorp.com", "owner: infra@attonixcorp.com").replace(
    "synchronous_replicas: 1", "synchronous_replicas: 0", 1
)
VALID2_SYNC_LINE = next(
    i for i, ln in enumerate(VALID2.splitlines(), 1) if "synchronous_replicas: 0" in ln
)
SECRET_VALUE = "e2e-value-never-shown-7f3a"
DOCS_SCREENSHOTS = ROOT / "docs" / "screenshots"


@pytest.fixture(scope="module")
def journey(stack: Stack, run_scenario: Runner) -> dict[str, dict[str, Any]]:
    """Run the three scenarios in order, passing the accounts along."""
    accounts: dict[str, dict[str, Any]] = {
        "admin": {
            "username": "admin",
            "password": stack.admin_password,
            "newPassword": "Quartz-lantern-meadow-91",
        },
        "operator": {"username": "olivia", "newPassword": "Copper-harbor-violet-42"},
        "auditor": {"username": "audrey", "newPassword": "Granite-orchid-sunset-57"},
    }
    common = {
        "environment": "prod",
        "target": "podman",
        "cluster": "podman-tools",
        "component": "database/pg-main",
        "secretValue": SECRET_VALUE,
        "blueprint": {"invalid": INVALID, "valid": EXAMPLE, "valid2": VALID2},
    }
    out: dict[str, dict[str, Any]] = {}
    for name in ("admin", "operator", "auditor", "sweep"):
        result = run_scenario(name, {**common, "accounts": accounts})
        accounts = result["facts"]["accounts"]
        out[name] = result
    return out


def test_no_console_errors_and_screenshots_written(
    journey: dict[str, dict[str, Any]], request: pytest.FixtureRequest
) -> None:
    for name, result in journey.items():
        assert result["consoleErrors"] == [], name
    shots = {Path(p).name for r in journey.values() for p in r["screenshots"]}
    assert {"sign-in.png", "overview.png", "blueprint-error-at-line.png", "audit-log.png"} <= shots
    for p in (ARTIFACTS / s for s in shots):
        assert p.stat().st_size > 5000, p
    # The documentation's copies are refreshed on request (like golden files), so that a
    # test run never changes tracked files.
    if not request.config.getoption("--update-golden"):
        return
    DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for s in (
        "sign-in",
        "mfa-enrolment",
        "overview",
        "blueprint-error-at-line",
        "blueprint-diff",
        "findings",
        "deployment-plan",
        "deployment-approved",
        "audit-log",
    ):
        shutil.copyfile(ARTIFACTS / f"{s}.png", DOCS_SCREENSHOTS / f"{s}.png")


def test_admin_enrols_mfa_and_signs_in_with_a_totp_code(
    journey: dict[str, dict[str, Any]],
) -> None:
    facts = journey["admin"]["facts"]
    assert facts["admin.qrShown"] is True
    assert facts["admin.recoveryCodes"] >= 8
    assert facts["adminMfaAtSignIn"] is True
    assert facts["accounts"]["admin"]["mfaSecret"]


def test_invalid_blueprint_is_shown_at_its_line_then_fixed(
    journey: dict[str, dict[str, Any]],
) -> None:
    facts = journey["admin"]["facts"]
    assert "422" in facts["rejectedProblem"]
    assert BAD_LINE in facts["diagnosticLines"]
    assert BAD_LINE in facts["markedLines"]
    assert f"line {BAD_LINE}" in facts["diagnosticText"]
    assert "databases[0].replicas" in facts["diagnosticText"]
    assert facts["stored1"] is True
    changed = " ".join(facts["diffChanged"])
    assert "platform@attonixcorp.com" in changed and "infra@attonixcorp.com" in changed


def test_overview_draws_every_layer_and_shows_component_details(
    journey: dict[str, dict[str, Any]],
) -> None:
    facts = journey["admin"]["facts"]
    assert facts["layers"] == [
        "Frontend",
        "Backend services",
        "HA / load balancing",
        "Databases",
        "Configuration",
        "CI/CD",
        "Security",
        "Storage",
        "Orchestration",
        "Hosts",
    ]
    states = facts["nodeStates"]
    for component in (
        "frontend/attonix-console",
        "service/attonix-server",
        "database/pg-main",
        "cluster/k8s-prod",
        "host/cp-a",
        "ceph/ceph-main",
        "load-balancer/lb-edge",
        "pipeline/attonix-server",
        "configuration/chef",
    ):
        assert states[component] in {"ok", "warning", "error"}, component
    assert states["database/pg-main"] == "error"
    assert states["service/attonix-server"] == "ok"
    # Nothing deployed yet: every component's health is unknown, and said so.
    assert set(facts["nodeHealth"].values()) == {"unknown"}
    assert "Never deployed" in facts["healthSource"]
    panel = facts["panelText"]
    assert "database/pg-main" in panel
    assert "postgresql" in panel
    assert "ATX002" in panel
    assert "fix: Set 'synchronous_replicas: 1'" in panel
    assert "Rendered files" in panel
    assert "Live status" in panel and "never deployed" in panel
    assert "cluster-pg-main.yaml" in facts["panelFiles"]


def test_findings_filter_by_severity(journey: dict[str, dict[str, Any]]) -> None:
    facts = journey["admin"]["facts"]
    assert facts["findingsAll"] >= 1
    assert facts["findingsFilteredSeverities"] == [facts["findingsFilteredSeverity"]]
    row = facts["findingsFirstRow"]
    assert "ATX002" in row and "database/pg-main" in row and "fix:" in row
    assert f"line {VALID2_SYNC_LINE}" in row


def test_deployment_planned_then_approved_by_a_second_person(
    journey: dict[str, dict[str, Any]],
) -> None:
    admin = journey["admin"]["facts"]
    assert admin["planStatus"] == "awaiting_approval", admin["planText"]
    assert "plan:" in admin["planLog"]
    # Which cluster, and which endpoint the apply will touch, before anyone approves.
    assert admin["planEndpoint"] == (
        "Cluster podman-tools · touches the Podman of the Central Server's own machine"
    )
    assert admin["requesterApproveButtons"] == 0
    assert "two-person rule" in admin["requesterNote"]
    operator = journey["operator"]["facts"]
    # Approving asks first, naming what will happen, and changes nothing until answered.
    assert "Apply v2 to podman now?" in operator["approveQuestion"]
    assert "changes the live target at the Podman of the Central" in operator["approveQuestion"]
    assert operator["statusWhileAsking"] == "awaiting_approval"
    assert "approved by olivia" in operator["afterApproval"]
    assert "admin" in operator["historyRow"] and "olivia" in operator["historyRow"]


def test_secret_values_are_never_displayed(journey: dict[str, dict[str, Any]]) -> None:
    facts = journey["admin"]["facts"]
    assert "e2e-secret" in facts["secretRow"]
    assert facts["secretValueOnPage"] is False


def test_sign_out_everywhere_kills_a_stolen_access_token(
    stack: Stack, journey: dict[str, dict[str, Any]]
) -> None:
    facts = journey["operator"]["facts"]
    assert facts["stolenBefore"] == 200
    assert facts["stolenAfter"] == 401
    assert "signed out on every device" in facts["signedOutMessage"]
    # Tokens never land in localStorage or cookies (the refresh token may sit in sessionStorage).
    assert facts["tokenInLocalStorage"] is False
    assert facts["tokenInSessionStorage"] is False
    assert facts["cookies"] == 0
    req = urllib.request.Request(
        stack.api_url + "/api/v1/me", headers={"Authorization": f"Bearer {facts['stolenToken']}"}
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=5)
    err.value.close()
    assert err.value.code == 401


def test_auditor_sees_no_write_action(journey: dict[str, dict[str, Any]]) -> None:
    facts = journey["auditor"]["facts"]
    assert facts["visibleWriteButtons"] == []
    assert facts["auditorSeesVersions"] == 2
    assert "Deployment #1" in facts["auditorSeesDeployment"]
    assert "Users" not in facts["navLinks"]
    assert "Audit log" in facts["navLinks"]


def test_audit_log_shows_the_journey_and_verifies(journey: dict[str, dict[str, Any]]) -> None:
    facts = journey["auditor"]["facts"]
    actions = set(facts["auditActions"])
    assert {"deployment.request", "deployment.approve"} <= actions, actions
    assert facts["auditVerify"].startswith("Integrity verified")
    assert facts["auditFiltered"] and all("deployment.approve" in r for r in facts["auditFiltered"])
    assert any("olivia" in r for r in facts["auditFiltered"])
    assert facts["auditByActor"] and set(facts["auditByActor"]) == {"olivia"}
    assert "deployment.approve" in facts["auditByActorActions"]


SIZES = ("1280x800", "390x844")
PAGES = (
    "sign-in",
    "overview",
    "blueprints",
    "findings",
    "deployments",
    "secrets",
    "connections",
    "environments",
    "users",
    "groups",
    "bindings",
    "audit",
    "account",
    "unknown-environment",
    "not-found",
)


def test_every_page_fits_both_sizes_with_a_screenshot_each(
    journey: dict[str, dict[str, Any]],
) -> None:
    facts = journey["sweep"]["facts"]
    assert sorted(facts["pagesChecked"]) == sorted(f"{p}-{s}" for p in PAGES for s in SIZES)
    assert facts["tooWide"] == []
    for page in PAGES:
        for size in SIZES:
            assert (ARTIFACTS / f"{page}-{size}.png").stat().st_size > 3000, (page, size)


def test_no_serious_or_critical_accessibility_violation_on_any_page(
    journey: dict[str, dict[str, Any]],
) -> None:
    assert journey["sweep"]["facts"]["axe"] == []


def test_every_destructive_action_asks_first(journey: dict[str, dict[str, Any]]) -> None:
    facts = journey["sweep"]["facts"]
    assert facts["actedAtOnce"] == []
    asked = {q.split(": ")[0] + ": " + q.split(": ")[1] for q in facts["askedFirst"]}
    # What the journey left on the pages: users to disable and reset, bindings, a secret.
    assert {
        "users: Disable",
        "users: Reset MFA",
        "bindings: Remove",
        "secrets: Delete",
        "connections: Delete",
    } <= asked, asked


def test_a_deep_link_survives_sign_in_and_an_unknown_environment_is_named(
    journey: dict[str, dict[str, Any]],
) -> None:
    facts = journey["sweep"]["facts"]
    assert facts["deepLinkLanded"] == "/envs/prod/deployments?d=1"
    assert facts["unknownEnvHeading"] == "No environment prdo"
    assert facts["unknownEnvSelector"] == ""


def test_field_errors_sit_beside_their_fields_in_words(journey: dict[str, dict[str, Any]]) -> None:
    facts = journey["sweep"]["facts"]
    assert "lower-case letters, digits and hyphens" in facts["fieldError"]
    assert facts["fieldInvalid"] == "true"
    problem = facts["fieldProblem"]
    assert "needs attention" in problem and "request id" in problem
    assert "^[a-z" not in problem and "^[a-z" not in facts["fieldError"]
    assert any("characters" in r for r in facts["passwordRules"])


def test_deleting_a_group_with_members_asks_then_removes_it_and_its_binding(
    journey: dict[str, dict[str, Any]],
) -> None:
    facts = journey["sweep"]["facts"]
    assert "Delete group e2e-crew?" in facts["groupDeleteQuestion"]
    assert "2 member(s)" in facts["groupDeleteQuestion"]
    assert facts["groupListedWhileAsking"] == 1
    assert facts["groupDeleteProblems"] == 0
    assert facts["groupBindingsLeft"] == 0


def test_the_requester_cancels_their_own_pending_deployment(
    journey: dict[str, dict[str, Any]],
) -> None:
    facts = journey["sweep"]["facts"]
    assert "Cancel your deployment" in facts["cancelQuestion"]
    assert facts["statusWhileAskingCancel"] == "awaiting_approval"
    assert facts["statusAfterCancel"] == "cancelled"


def test_the_diagram_is_legible_searchable_and_zooms(journey: dict[str, dict[str, Any]]) -> None:
    facts = journey["sweep"]["facts"]
    assert facts["diagramLabelPx"] >= 12  # drawn at its true size, not scaled down to fit
    assert facts["diagramMatches"] == ["database/pg-main"]
    assert facts["diagramSearchSelected"] is True
    assert facts["diagramZoom"] == "125%"
    assert facts["diagramZoomedLabelPx"] > facts["diagramLabelPx"]
    assert facts["diagramTallerWhenZoomed"] is True
    assert facts["diagramFitsWidth"] is True  # re-wrapped: no sideways panning at 1280 px
