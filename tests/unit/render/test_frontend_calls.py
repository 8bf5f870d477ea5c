"""How a frontend reaches its backends (``calls_from``): from visitors' browsers, through the
backends' ingress, or from its own replicas. Both give the backend the frontend's origin
(CORS); only ``server`` opens pod-to-pod access (NetworkPolicy, Swarm overlay, firewall
check), and an exposed Central Server that no pod may call believes its ingress's
X-Forwarded-For."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.unit.render._sites import text

from attonix.blueprint import BlueprintInvalid, load_file
from attonix.blueprint.loader import load_bytes
from attonix.blueprint.model import Blueprint
from attonix.render import render
from attonix.render.swarm import network as swarm_network

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "attonixcorp.yaml"
SECRETS = "    - {name: db-creds, keys: [username, password]}\n"
MORE = "".join(f"    - {{name: {n}}}\n" for n in ("kek", "signing", "audit"))
INGRESS_PEER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
    "podSelector": {},
}


def _pods(name: str) -> dict[str, Any]:
    """The peer that selects one workload's pods in the site's namespace."""
    return {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "site"}},
        "podSelector": {
            "matchLabels": {
                "app.kubernetes.io/name": name,
                "app.kubernetes.io/instance": f"site-{name}",
            }
        },
    }


#: Swarm has no ingress controller: an haproxy load balancer routes both exposed hosts.
BALANCED = """ha:
  load_balancers:
    - {name: edge, kind: haproxy, hosts: [s-1, s-2], virtual_ip: 10.0.4.100,
       frontends: [{name: api, port: 443, protocol: https, backend: central},
                   {name: console, port: 8443, protocol: https, backend: console}]}
"""


def _source(cluster: str, calls_from: str | None, *, zone: str | None = None) -> str:
    """A site with an exposed Central Server (zone app) and its console on ``cluster``."""
    calls = f", calls_from: {calls_from}" if calls_from is not None else ""
    console_zone = f", zone: {zone}" if zone is not None else ""
    body = text(
        services=f"""
        - {{name: central, cluster: {cluster}, image: "localhost/attonix:1",
           ports: [{{name: http, port: 8000}}], databases: [state], zone: app,
           secrets: [{{secret: kek}}, {{secret: signing}}, {{secret: audit}}],
           central_server: {{database: state, kek_secret: kek, signing_key_secret: signing,
                            audit_key_secret: audit}},
           expose: {{host: api.site.example.com}}}}
        """,
        databases=f"""
        - {{name: state, engine: postgresql, version: "16", cluster: {cluster}, replicas: 1,
           credentials_secret: db-creds, tls: false, backup: {{enabled: false}}}}
        """,
    )
    return (
        text_with_secrets(body)
        + f"""  frontend:
    - {{name: console, cluster: {cluster}, image: "localhost/console:1"{console_zone},
       ports: [{{name: http, port: 8080}}], backends: [central]{calls},
       expose: {{host: console.site.example.com}}}}
"""
        + (BALANCED if cluster == "swarm" else "")
    )


def text_with_secrets(body: str) -> str:
    """The site with the Central Server's three secrets declared."""
    return body.replace(SECRETS, f"{SECRETS}{MORE}")


def _kube(calls_from: str | None) -> tuple[dict[str, str | None], dict[str, Any], dict[str, Any]]:
    """The server's environment, its NetworkPolicy and the console's NetworkPolicy."""
    bp = load_bytes(_source("kube", calls_from), file="site.yaml").blueprint
    return _kube_of(bp, "central", "console")


def _kube_of(
    bp: Blueprint, server: str, console: str
) -> tuple[dict[str, str | None], dict[str, Any], dict[str, Any]]:
    env: dict[str, str | None] = {}
    policies: dict[str, dict[str, Any]] = {}
    for art in render(bp, "kubernetes"):
        doc = art.content
        if not isinstance(doc, dict):
            continue
        name = doc.get("metadata", {}).get("name")
        if doc.get("kind") == "Deployment" and name == server:
            (container,) = doc["spec"]["template"]["spec"]["containers"]
            env = {e["name"]: e.get("value") for e in container["env"]}
        elif doc.get("kind") == "NetworkPolicy" and name in (server, console):
            policies[name] = doc["spec"]
    assert env and set(policies) == {server, console}
    return env, policies[server], policies[console]


def test_a_server_side_frontend_keeps_pod_to_pod_access_and_the_server_trusts_no_proxy() -> None:
    for calls_from in (None, "server"):  # the default keeps what blueprints relied on
        env, server, console = _kube(calls_from)
        assert env["ATTONIX_CORS_ORIGINS"] == '["https://console.site.example.com"]'
        assert server["ingress"] == [
            {"from": [_pods("console")], "ports": [{"protocol": "TCP", "port": 8000}]},
            {"from": [INGRESS_PEER], "ports": [{"protocol": "TCP", "port": 8000}]},
        ]
        assert console["egress"] == [
            {"to": [_pods("central")], "ports": [{"protocol": "TCP", "port": 8000}]}
        ]
        assert "ATTONIX_TRUSTED_PROXIES" not in env


def test_a_browser_frontend_gets_cors_but_no_network_access_and_the_ingress_is_trusted() -> None:
    env, server, console = _kube("browser")
    assert env["ATTONIX_CORS_ORIGINS"] == '["https://console.site.example.com"]'
    assert server["ingress"] == [
        {"from": [INGRESS_PEER], "ports": [{"protocol": "TCP", "port": 8000}]}
    ]
    assert console["egress"] == []  # its replicas call nothing (DNS comes from allow-dns)
    assert console["ingress"] == [
        {"from": [INGRESS_PEER], "ports": [{"protocol": "TCP", "port": 8080}]}
    ]
    assert env["ATTONIX_TRUSTED_PROXIES"] == '["10.244.0.0/16"]'


def test_on_swarm_only_a_server_side_frontend_shares_a_network_with_its_backend() -> None:
    server = load_bytes(_source("swarm", "server"), file="site.yaml").blueprint
    assert swarm_network.calls(server, server.workloads_by_name["console"]) == ["central"]
    assert "console_central" in swarm_network.networks_of(server, "central")
    browser = load_bytes(_source("swarm", "browser"), file="site.yaml").blueprint
    assert swarm_network.calls(browser, browser.workloads_by_name["console"]) == []
    assert swarm_network.networks_of(browser, "console") == ["isolated-console"]
    assert "console_central" not in swarm_network.networks_of(browser, "central")
    (art,) = render(browser, "swarm")
    env = art.content["services"]["central"]["environment"]
    assert env["ATTONIX_CORS_ORIGINS"] == '["https://console.site.example.com"]'


def test_the_firewall_check_applies_to_server_side_calls_only() -> None:
    # The site's firewall has no rule from zone data to zone app.
    with pytest.raises(BlueprintInvalid) as info:
        load_bytes(_source("kube", "server", zone="data"), file="site.yaml")
    (diag,) = [d for d in info.value.diagnostics if d.pointer.startswith("services.frontend")]
    assert diag.pointer == "services.frontend[0].backends[0]"
    assert "firewall does not allow connections from zone data" in diag.message
    load_bytes(_source("kube", "browser", zone="data"), file="site.yaml")  # browsers call it


def test_a_browser_frontend_needs_backends_a_browser_can_reach() -> None:
    source = _source("kube", "browser").replace("expose: {host: api.site.example.com}", "")
    with pytest.raises(BlueprintInvalid) as info:
        load_bytes(source, file="site.yaml")
    (diag,) = info.value.diagnostics
    assert diag.code == "BP024" and diag.pointer == "services.frontend[0].backends[0]"
    assert "neither exposed nor behind a load balancer" in diag.message
    assert "calls_from: server" in diag.hint
    assert diag.location.line == next(
        i for i, line in enumerate(source.splitlines(), 1) if "backends: [central]" in line
    )


def test_a_bad_calls_from_is_a_diagnostic_at_its_line() -> None:
    source = _source("kube", "phone")
    with pytest.raises(BlueprintInvalid) as info:
        load_bytes(source, file="site.yaml")
    (diag,) = info.value.diagnostics
    assert diag.pointer == "services.frontend[0].calls_from"
    assert "'browser'" in diag.message + diag.hint and "'server'" in diag.message + diag.hint
    assert diag.location.line == next(
        i for i, line in enumerate(source.splitlines(), 1) if "calls_from: phone" in line
    )
    assert "Traceback" not in diag.format()


def test_the_examples_console_calls_from_the_browser_and_its_server_trusts_the_ingress() -> None:
    bp = load_file(EXAMPLE).blueprint
    assert bp.workloads_by_name["attonix-console"].calls_from == "browser"  # type: ignore[union-attr]
    env, server, console = _kube_of(bp, "attonix-server", "attonix-console")
    assert env["ATTONIX_CORS_ORIGINS"] == '["https://console.attonixcorp.com"]'
    assert env["ATTONIX_TRUSTED_PROXIES"] == '["10.244.0.0/16"]'
    assert [rule["from"] for rule in server["ingress"]] == [[INGRESS_PEER]]
    assert console["egress"] == []
