"""The console's cluster connections page in headless Chromium against a real server.

An administrator of its own (so the module runs alone or after the main journey) lists the
example blueprint's clusters, stores this machine's Podman for one and a Swarm manager over
mutual TLS for another, tests both (this machine answers; the TLS endpoint is unreachable and
said so by name), replaces one, deletes the other (asked first), and checks the page at both
sizes; an operator then reads the connections without a write action. The TLS client key must
never come back: not on the page, not in an API answer, not in the server's log.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .conftest import ROOT, Runner, Stack, create_admin, free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLE = (ROOT / "examples" / "attonixcorp.yaml").read_text(encoding="utf-8")


def _tls() -> dict[str, str]:
    """A self-signed client identity (its own CA) and a line of its key to look for."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attonix-e2e-client")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    marker = key_pem.splitlines()[2]  # a line from the middle of the key's body
    return {"ca": cert_pem, "cert": cert_pem, "key": key_pem, "marker": marker}


@pytest.fixture(scope="module")
def seen(stack: Stack, run_scenario: Runner) -> dict[str, Any]:
    """Run the connections scenario once; every test reads what it recorded."""
    password = create_admin(stack, "connie")
    tls, port = _tls(), free_port()
    result = run_scenario(
        "connections",
        {
            "environment": "conn-e2e",
            "blueprint": EXAMPLE,
            "deadPort": port,
            "tls": tls,
            "accounts": {
                "admin": {
                    "username": "connie",
                    "password": password,
                    "newPassword": "Harbor-quill-saffron-83",
                },
                "reader": {"username": "oscar", "newPassword": "Lichen-meadow-copper-29"},
            },
        },
    )
    return {"result": result, "facts": result["facts"], "tls": tls, "port": port}


def test_the_blueprints_clusters_are_listed_with_no_connection_yet(seen: dict[str, Any]) -> None:
    facts = seen["facts"]
    assert facts["clusters"] == [
        "k8s-prod",
        "swarm-edge",
        "podman-tools",
        "vsphere-main",
        "openstack-main",
    ]
    rows = dict(zip(facts["clusters"], facts["rowsBefore"], strict=True))
    assert "no connection: not deployed to" in rows["swarm-edge"]
    assert "swarm" in rows["swarm-edge"]
    assert "openstack" in rows["openstack-main"]
    assert "no connection: not deployed to" in rows["openstack-main"]


def test_stored_connections_show_endpoint_credential_names_and_who(
    seen: dict[str, Any],
) -> None:
    facts = seen["facts"]
    assert facts["podmanEndpoint"] == "podman: the Podman of the Central Server's own machine"
    assert facts["swarmEndpoint"] == f"docker: tcp://127.0.0.1:{seen['port']} (mutual TLS)"
    assert "tls.ca, tls.cert, tls.key" in facts["swarmRow"]
    assert "by connie" in facts["swarmRow"]
    assert "v1," in facts["swarmRow"]
    assert "cannot be displayed again" in facts["storedBanner"]


def test_test_connection_reaches_this_machine_and_names_the_unreachable_cluster(
    seen: dict[str, Any],
) -> None:
    facts = seen["facts"]
    assert facts["podmanCheck"] == "Reached the Podman of the Central Server's own machine."
    assert "'swarm-edge'" in facts["swarmCheck"]
    assert "cannot reach" in facts["swarmCheck"]
    assert f"tcp://127.0.0.1:{seen['port']}" in facts["swarmCheck"]


def test_replace_starts_from_the_endpoint_and_delete_asks_first(seen: dict[str, Any]) -> None:
    facts = seen["facts"]
    assert facts["replaceHost"].startswith("tcp://127.0.0.1:")
    assert facts["replaceKey"] == ""
    assert "unix:///run/attonix-e2e-no-such-engine.sock" in facts["replacedRow"]
    assert "v2," in facts["replacedRow"]
    assert "Delete the connection of podman-tools in conn-e2e?" in facts["deleteQuestion"]
    assert "Central Server's own machine" in facts["podmanWhileAsking"]
    assert facts["podmanAfterDelete"] == "no connection: not deployed to"


def test_the_client_key_never_comes_back(seen: dict[str, Any], stack: Stack) -> None:
    facts, marker = seen["facts"], seen["tls"]["marker"]
    assert facts["keyFieldAfterStore"] == ""
    assert facts["keyOnPage"] is False
    assert facts["connectionAnswers"] >= 6
    assert facts["keyInAnswers"] is False
    assert marker not in stack.logs["server"].read_text(errors="replace")


def test_the_page_fits_both_sizes_without_accessibility_violations(
    seen: dict[str, Any],
) -> None:
    facts = seen["facts"]
    assert facts["pagesChecked"] == ["connections-1280x800", "connections-390x844"]
    assert facts["tooWide"] == []
    assert facts["axe"] == []
    assert seen["result"]["consoleErrors"] == []


def test_an_operator_reads_connections_without_write_actions(seen: dict[str, Any]) -> None:
    facts = seen["facts"]
    assert facts["readerSwarmEndpoint"] == "docker: unix:///run/attonix-e2e-no-such-engine.sock"
    assert facts["readerForms"] == 0
    assert not {"Store connection", "Test connection", "Delete", "Add", "Replace"} & {
        b.strip() for b in facts["readerButtons"]
    }
