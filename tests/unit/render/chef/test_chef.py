"""The chef target: cookbook layout, roles, per-host run_lists and attributes, no secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from attonix.blueprint.loader import load_file
from attonix.blueprint.model import Blueprint
from attonix.render.base import RenderError
from attonix.render.chef import haproxy, render
from attonix.render.nftables import ruleset

CB = "chef/cookbooks/attonix_base"


@pytest.fixture(scope="module")
def example(example_path: Path) -> Blueprint:
    return load_file(example_path).blueprint


@pytest.fixture(scope="module")
def out(example: Blueprint) -> dict[str, Any]:
    return {a.path: a.content for a in render(example)}


def test_cookbook_layout(out: dict[str, Any]) -> None:
    for path in (
        "metadata.rb",
        "attributes/default.rb",
        "recipes/default.rb",
        "recipes/hardening.rb",
        "recipes/firewall.rb",
        "recipes/haproxy.rb",
        "templates/haproxy.cfg.erb",
        "templates/keepalived.conf.erb",
        "templates/sysctl.conf.erb",
        "files/default/sshd-hardening.conf",
    ):
        assert f"{CB}/{path}" in out, path
    assert "name 'attonix_base'" in out[f"{CB}/metadata.rb"]


def test_roles_carry_the_blueprint_run_lists(out: dict[str, Any]) -> None:
    role = out["chef/roles/load-balancer.json"]
    assert role["run_list"] == ["recipe[attonix_base::haproxy]"]
    assert role["chef_type"] == "role" and role["json_class"] == "Chef::Role"
    assert out["chef/roles/base.json"]["run_list"] == [
        "recipe[attonix_base]",
        "recipe[attonix_base::hardening]",
    ]


def test_node_run_lists_follow_host_roles(example: Blueprint, out: dict[str, Any]) -> None:
    assert {p for p in out if p.startswith("chef/nodes/")} == {
        f"chef/nodes/{h.name}.json" for h in example.hosts
    }
    lb = out["chef/nodes/lb-a.json"]
    assert lb["name"] == "lb-a.attonixcorp.com" and lb["chef_environment"] == "prod"
    assert lb["run_list"] == ["role[base]", "role[firewall]", "role[load-balancer]"]
    for name in ("wk-a1", "bastion-a", "ci-b"):
        assert out[f"chef/nodes/{name}.json"]["run_list"] == ["role[base]", "role[firewall]"]


def test_node_attributes(out: dict[str, Any]) -> None:
    attrs = out["chef/nodes/lb-b.json"]["normal"]["attonix"]
    [lb] = attrs["load_balancers"]
    assert lb["virtual_ip"] == "10.10.0.10" and lb["peers"] == ["10.10.0.5"]
    assert (
        lb["priority"]
        < out["chef/nodes/lb-a.json"]["normal"]["attonix"]["load_balancers"][0]["priority"]
    )
    assert attrs["sysctl"]["net.ipv4.ip_nonlocal_bind"] == "1"
    assert out["chef/nodes/wk-a1.json"]["normal"]["attonix"]["load_balancers"] == []


def test_environment_pins_the_cookbook(out: dict[str, Any]) -> None:
    env = out["chef/environments/prod.json"]
    assert env["cookbook_versions"] == {"attonix_base": "= 1.0.0"}


def test_each_host_gets_its_own_ruleset_file(example: Blueprint, out: dict[str, Any]) -> None:
    host = example.hosts_by_name["wk-b2"]
    text = out[f"{CB}/files/host-wk-b2.attonixcorp.com/attonix.nft"]
    assert text == ruleset.host_ruleset(example, host)
    assert "source 'attonix.nft'" in out[f"{CB}/recipes/firewall.rb"]
    assert "verify 'nft -c -f %{path}'" in out[f"{CB}/recipes/firewall.rb"]


def test_haproxy_backends_are_the_cluster_hosts(example: Blueprint) -> None:
    cfg = haproxy.haproxy_config(example, haproxy.haproxy_lbs(example))
    console = cfg.split("backend lb-edge-console\n", 1)[1].split("\n\n", 1)[0]
    servers = [
        line.split()[1] for line in console.splitlines() if line.strip().startswith("server")
    ]
    assert servers == ["wk-a1", "wk-a2", "wk-b1", "wk-b2", "wk-c1", "wk-c2"]
    for setting in ("retries 3", "option redispatch", "retry-on all-retryable-errors"):
        assert console.count(setting) == 1
    assert "bind 10.10.0.10:443" in cfg
    assert "server sw-a 10.20.1.31:8080 check" in cfg


def test_haproxy_template_keeps_each_lb_for_its_nodes(example: Blueprint) -> None:
    erb = haproxy.haproxy_template(example)
    assert "<% if @load_balancers.include?('lb-edge') -%>" in erb
    assert erb.replace("<% if @load_balancers.include?('lb-edge') -%>\n", "").replace(
        "<% end -%>\n", ""
    ) == haproxy.haproxy_config(example, haproxy.haproxy_lbs(example))


def test_http_frontends_get_http_health_checks(example: Blueprint) -> None:
    lb = haproxy.haproxy_lbs(example)[0]
    http = lb.model_copy(
        update={"frontends": [lb.frontends[1].model_copy(update={"protocol": "http"})]}
    )
    cfg = haproxy.haproxy_config(example, [http])
    assert "mode http" in cfg and "option httpchk GET /healthz" in cfg


def test_unknown_backend_is_an_error(example: Blueprint) -> None:
    lb = haproxy.haproxy_lbs(example)[0]
    bad = lb.model_copy(
        update={"frontends": [lb.frontends[0].model_copy(update={"backend": "podman-tools"})]}
    )
    with pytest.raises(RenderError, match="podman-tools"):
        haproxy.haproxy_config(example, [bad])


def test_no_secret_values_and_nothing_without_chef(example: Blueprint, out: dict[str, Any]) -> None:
    text = "\n".join(str(v) for v in out.values())
    assert "PRIVATE KEY" not in text and "validation.pem" not in text
    bp = example.model_copy(
        update={"configuration": example.configuration.model_copy(update={"chef": None})}
    )
    assert render(bp) == []


def test_a_policyfile_per_role_combination_with_the_attributes(
    example: Blueprint, out: dict[str, Any]
) -> None:
    policies = sorted(p for p in out if p.startswith("chef/policyfiles/"))
    assert policies == [
        "chef/policyfiles/base_firewall.rb",
        "chef/policyfiles/base_firewall_load-balancer.rb",
    ]
    lb = out["chef/policyfiles/base_firewall_load-balancer.rb"]
    assert "name 'base_firewall_load-balancer'" in lb
    assert (
        "run_list 'recipe[attonix_base]', 'recipe[attonix_base::hardening]', "
        "'recipe[attonix_base::firewall]', 'recipe[attonix_base::haproxy]'"
    ) in lb
    assert "chef push prod policyfiles/base_firewall_load-balancer.rb" in lb
    assert "cookbook 'attonix_base', path: '../cookbooks/attonix_base'" in lb
    # the attributes of each member are in the policy, keyed by FQDN
    line = next(x for x in lb.splitlines() if "['nodes']['lb-a.attonixcorp.com']" in x)
    assert '"virtual_ip" => "10.10.0.10"' in line and '"name" => "alice"' in line
    assert "lb-a.attonixcorp.com" not in out["chef/policyfiles/base_firewall.rb"]
    attrs = out[f"{CB}/attributes/default.rb"]
    assert "own = (node['attonix']['nodes'] || {})[node['fqdn']] || {}" in attrs
    readme = out[f"{CB}/README.md"]
    assert "chef push prod policyfiles/<policy>.rb" in readme
    assert "`base_firewall_load-balancer`" in readme


def test_https_to_a_plain_backend_terminates_tls_and_tls_backends_pass_through(
    example: Blueprint,
) -> None:
    cfg = haproxy.haproxy_config(example, haproxy.haproxy_lbs(example))
    status = cfg.split("frontend lb-edge-status", 1)[1].split("backend", 1)[0]
    assert (
        "bind 10.10.0.10:8443 ssl crt /etc/haproxy/certs/lb-edge.pem ssl-min-ver TLSv1.3" in status
    )
    assert "mode http" in status
    console = cfg.split("frontend lb-edge-console", 1)[1].split("backend", 1)[0]
    assert "mode tcp" in console and "ssl crt" not in console
    assert "-----BEGIN" not in cfg


def _status_page_as_frontend(example_path: Path, policy: str) -> Blueprint:
    """The example with its status page (Swarm, behind lb-edge) declared as a frontend."""
    data = yaml.safe_load(example_path.read_text())
    backends = data["services"]["backend"]
    page = next(w for w in backends if w["name"] == "status-page")
    backends.remove(page)
    data["services"]["frontend"].append({**page, "content_security_policy": policy})
    return Blueprint.model_validate(data)


def test_haproxy_sends_a_frontends_content_security_policy(example_path: Path) -> None:
    policy = "default-src 'self'; report-uri /csp?p=100%25&q=$x&r=\"a\\b\""
    bp = _status_page_as_frontend(example_path, policy)
    cfg = haproxy.haproxy_config(bp, haproxy.haproxy_lbs(bp))
    status = cfg.split("frontend lb-edge-status\n", 1)[1].split("\n\n", 1)[0]
    # Escaped for haproxy: \\ \" \$ inside double quotes, %% in the log-format string.
    line = (
        "    http-response set-header Content-Security-Policy "
        '"default-src \'self\'; report-uri /csp?p=100%%25&q=\\$x&r=\\"a\\\\b\\""'
    )
    assert line in status.splitlines()
    # TLS passed through to the Kubernetes ingress (mode tcp): haproxy sees no headers.
    console = cfg.split("frontend lb-edge-console\n", 1)[1].split("\n\n", 1)[0]
    assert "mode tcp" in console and "Content-Security-Policy" not in console


def test_haproxy_sends_no_policy_for_a_backend_service(example: Blueprint) -> None:
    cfg = haproxy.haproxy_config(example, haproxy.haproxy_lbs(example))
    assert "Content-Security-Policy" not in cfg


def test_haproxy_quoting_refuses_what_it_cannot_represent() -> None:
    assert haproxy.quoted("a 'b'; c") == "\"a 'b'; c\""
    with pytest.raises(RenderError, match="printable ASCII"):
        haproxy.quoted("a\nb")
