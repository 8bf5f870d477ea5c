"""The Swarm renderer: content of the stack file, the zone-pair network model, and validity
against the Compose specification (check-jsonschema's vendored compose-spec schema)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from attonix.blueprint import load_file
from attonix.render import render
from attonix.render.swarm import network

ROOT = Path(__file__).parents[4]
SHOP = ROOT / "tests" / "fixtures" / "deploy" / "shop.yaml"
EXAMPLE = ROOT / "examples" / "attonixcorp.yaml"


@pytest.fixture(scope="module")
def stack() -> dict:  # type: ignore[type-arg]
    arts = render(load_file(SHOP).blueprint, "swarm")
    assert [a.path for a in arts] == ["swarm/swarm-test/docker-stack.yaml"]
    return arts[0].content  # type: ignore[no-any-return]


def test_services_are_hardened_and_health_checked(stack: dict) -> None:  # type: ignore[type-arg]
    api = stack["services"]["api"]
    assert api["user"] == "10001:10001"
    assert api["read_only"] is True
    assert api["cap_drop"] == ["ALL"]
    assert {"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": 64 * 1024 * 1024}} in api[
        "volumes"
    ]
    assert "http://127.0.0.1:38412/healthz" in api["healthcheck"]["test"][1]
    assert api["healthcheck"]["interval"] == "1s"
    deploy = api["deploy"]
    assert deploy["replicas"] == 2
    assert deploy["endpoint_mode"] == "dnsrr"
    assert deploy["update_config"]["order"] == "start-first"
    assert deploy["update_config"]["failure_action"] == "rollback"
    assert deploy["update_config"]["parallelism"] == 1
    assert deploy["rollback_config"]["parallelism"] == 1
    assert deploy["restart_policy"]["condition"] == "any"
    assert deploy["placement"]["preferences"] == [{"spread": "node.labels.zone"}]
    assert deploy["resources"] == {
        "limits": {"cpus": "0.2", "memory": "64m"},
        "reservations": {"cpus": "0.05", "memory": "16m"},
    }
    assert deploy["labels"]["attonix.io/blueprint"] == "attonix-dtest"
    assert api["labels"]["attonix.io/zone"] == "app"


def test_published_services_use_host_mode_and_stop_first(stack: dict) -> None:  # type: ignore[type-arg]
    web = stack["services"]["web"]
    assert web["ports"] == [
        {"target": 38411, "published": 38411, "protocol": "tcp", "mode": "host"}
    ]
    assert web["deploy"]["update_config"]["order"] == "stop-first"
    assert "ports" not in stack["services"]["api"]


def test_secrets_are_external_files_without_values(stack: dict) -> None:  # type: ignore[type-arg]
    assert stack["secrets"] == {
        "api-token_token": {"external": True, "name": "attonix-dtest-api-token-token"},
        "db-credentials_password": {
            "external": True,
            "name": "attonix-dtest-db-credentials-password",
        },
        "db-credentials_username": {
            "external": True,
            "name": "attonix-dtest-db-credentials-username",
        },
    }
    db = stack["services"]["db"]
    assert [s["target"] for s in db["secrets"]] == [
        "/run/secrets/db/username",
        "/run/secrets/db/password",
    ]
    assert all(s["mode"] == 0o400 and s["uid"] == "10001" for s in db["secrets"])
    assert "environment" not in db or all("secret" not in k.lower() for k in db["environment"])


def test_each_declared_call_has_its_own_network(stack: dict) -> None:  # type: ignore[type-arg]
    services = stack["services"]
    # web -> api (backends) and api -> db (depends_on), both allowed by the firewall
    assert services["web"]["networks"] == ["web_api"]
    assert services["api"]["networks"] == ["api_db", "web_api"]
    assert services["db"]["networks"] == ["api_db"]
    # web and db share no network: neither declares the other
    assert not set(services["web"]["networks"]) & set(services["db"]["networks"])
    for net in stack["networks"].values():
        assert net["driver"] == "overlay"
        assert net["driver_opts"] == {"encrypted": "true"}
        assert net["labels"]["attonix.io/blueprint"] == "attonix-dtest"
        assert net["labels"]["attonix.io/isolated"] == "false"


def test_the_firewall_decides_which_declared_calls_may_exist() -> None:
    bp = load_file(EXAMPLE).blueprint
    fw = bp.security.firewall
    assert fw.allows("dmz", "web") and not fw.allows("web", "dmz")
    # The console's browsers call the server through the ingress: no web -> app rule needed.
    assert not fw.allows("web", "app")
    assert not fw.allows("web", "data")
    assert fw.allows(None, "data"), "a side without a zone is not governed by zones"
    assert network.networks_of(bp, "status-page") == ["isolated-status-page"]


def test_render_is_deterministic_and_has_no_aliases() -> None:
    bp = load_file(EXAMPLE).blueprint
    first = [a.text() for a in render(bp, "swarm")]
    assert first == [a.text() for a in render(bp, "swarm")]
    assert "&id" not in first[0] and "*id" not in first[0]
    assert "status-page:" in first[0]


@pytest.mark.parametrize("blueprint", [SHOP, EXAMPLE], ids=["shop", "example"])
def test_stack_validates_against_compose_spec(blueprint: Path, tmp_path: Path) -> None:
    exe = shutil.which("check-jsonschema") or str(ROOT / ".venv" / "bin" / "check-jsonschema")
    files = []
    for art in render(load_file(blueprint).blueprint, "swarm"):
        path = tmp_path / art.path.replace("/", "_")
        path.write_text(art.text())
        files.append(str(path))
    proc = subprocess.run(
        [exe, "--builtin-schema", "vendor.compose-spec", *files], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
