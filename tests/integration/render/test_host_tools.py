"""The host-layer targets checked by the real tools: nft, cloud-init, ruby/erb and haproxy."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from attonix.blueprint.loader import load_file
from attonix.blueprint.model import Blueprint
from attonix.render import registry
from attonix.render.base import write_artifacts
from attonix.render.chef import haproxy

pytestmark = pytest.mark.integration

# Top-level keys the user-data may use: cloud-init's schema ignores misspelt top-level keys.
CLOUD_CONFIG_KEYS = {
    "hostname",
    "fqdn",
    "prefer_fqdn_over_hostname",
    "manage_etc_hosts",
    "timezone",
    "disable_root",
    "ssh_pwauth",
    "users",
    "groups",
    "apt",
    "package_update",
    "package_upgrade",
    "packages",
    "ntp",
    "write_files",
    "runcmd",
    "chef",
}
# `erb -x` ends its Ruby with a bare `_erbout`, which `ruby -w` always flags.
ERB_VOID_WARNING = "possibly useless use of a variable in void context"


def _run(*cmd: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def example(example_path: Path) -> Blueprint:
    return load_file(example_path).blueprint


def _write(bp: Blueprint, target: str, out: Path, **options: Any) -> Path:
    write_artifacts(registry.render(bp, target, **options), out)
    return out


def test_nft_accepts_every_rendered_ruleset(example: Blueprint, tmp_path: Path) -> None:
    files = sorted(_write(example, "nftables", tmp_path).rglob("*.nft"))
    assert len(files) == len(example.hosts) + len(example.security.firewall.zones)
    for path in files:
        proc = _run("unshare", "-n", "nft", "-c", "-f", str(path))
        assert proc.returncode == 0, f"{path.name}: {proc.stderr}"


def test_nft_rejects_a_broken_ruleset(tmp_path: Path) -> None:
    # The check above is only worth something if nft -c fails on a bad file.
    bad = tmp_path / "bad.nft"
    bad.write_text("table inet attonix {\n chain input { tcp dport { 22 } acept }\n}\n")
    assert _run("unshare", "-n", "nft", "-c", "-f", str(bad)).returncode != 0


def test_cloud_init_schema_accepts_every_user_data(example: Blueprint, tmp_path: Path) -> None:
    out = _write(example, "cloud-init", tmp_path)
    user_data = sorted(out.glob("cloud-init/*/user-data"))
    assert [p.parent.name for p in user_data] == sorted(h.name for h in example.hosts)
    for path in user_data:
        text = path.read_text()
        assert text.startswith("#cloud-config\n")
        doc = yaml.safe_load(text)
        assert set(doc) <= CLOUD_CONFIG_KEYS, set(doc) - CLOUD_CONFIG_KEYS
        proc = _run("cloud-init", "schema", "--config-file", str(path))
        assert proc.returncode == 0 and "Valid cloud-config" in proc.stdout, proc.stderr
        meta = yaml.safe_load((path.parent / "meta-data").read_text())
        assert meta["local-hostname"] == path.parent.name


def test_cloud_init_schema_accepts_a_host_nobody_logs_into(
    example: Blueprint, tmp_path: Path
) -> None:
    # With no binding nobody may log into any host: 'users' must still be valid (not []).
    access = example.security.access_control.model_copy(update={"bindings": []})
    security = example.security.model_copy(update={"access_control": access})
    bp = example.model_copy(update={"security": security})
    path = _write(bp, "cloud-init", tmp_path) / "cloud-init" / example.hosts[0].name / "user-data"
    proc = _run("cloud-init", "schema", "--config-file", str(path))
    assert proc.returncode == 0 and "Valid cloud-config" in proc.stdout, proc.stderr
    assert yaml.safe_load(path.read_text())["users"] == [{"name": "root", "lock_passwd": True}]


def test_cloud_init_schema_rejects_a_bad_document(tmp_path: Path) -> None:
    bad = tmp_path / "user-data"
    bad.write_text("#cloud-config\nssh_pwauth: false\nusers: [{name: x, lock_passwd: maybe}]\n")
    assert _run("cloud-init", "schema", "--config-file", str(bad)).returncode != 0


def test_ruby_accepts_every_recipe_and_template(example: Blueprint, tmp_path: Path) -> None:
    cookbook = _write(example, "chef", tmp_path) / "chef/cookbooks/attonix_base"
    rubies = sorted(cookbook.rglob("*.rb"))
    assert {p.name for p in rubies} >= {
        "metadata.rb",
        "default.rb",
        "hardening.rb",
        "firewall.rb",
        "haproxy.rb",
    }
    policies = sorted((tmp_path / "chef/policyfiles").glob("*.rb"))
    assert [p.stem for p in policies] == ["base_firewall", "base_firewall_load-balancer"]
    for path in [*rubies, *policies]:
        proc = _run("ruby", "-wc", str(path))
        assert proc.returncode == 0 and proc.stderr == "", f"{path}: {proc.stderr}"
    templates = sorted(cookbook.rglob("*.erb"))
    assert len(templates) == 3
    for path in templates:
        code = _run("erb", "-x", "-T", "-", str(path))
        assert code.returncode == 0, code.stderr
        proc = _run("ruby", "-wc", stdin=code.stdout)
        warnings = [w for w in proc.stderr.splitlines() if ERB_VOID_WARNING not in w]
        assert proc.returncode == 0 and not warnings, f"{path}: {proc.stderr}"
    for path in sorted((tmp_path / "chef").rglob("*.json")):
        json.loads(path.read_text())


def test_ruby_rejects_broken_ruby() -> None:
    assert _run("ruby", "-wc", stdin="package 'x' do\n").returncode != 0


# Renders a Chef template the way Chef does (ERB with '-' trimming) for one node.
_RENDER_ERB = """
require 'erb'
require 'json'
vars = JSON.parse(ARGV[1])
node = JSON.parse(ARGV[2])
ctx = Object.new
vars.each { |k, v| ctx.instance_variable_set("@#{k}", v) }
ctx.define_singleton_method(:node) { node }
print ERB.new(File.read(ARGV[0]), trim_mode: '-').result(ctx.instance_eval { binding })
"""


def _erb(path: Path, variables: dict[str, Any], node: dict[str, Any]) -> str:
    proc = _run("ruby", "-e", _RENDER_ERB, str(path), json.dumps(variables), json.dumps(node))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_haproxy_accepts_the_config_chef_renders(example: Blueprint, tmp_path: Path) -> None:
    out = _write(example, "chef", tmp_path)
    node = json.loads((out / "chef/nodes/lb-a.json").read_text())
    lbs = [lb["name"] for lb in node["normal"]["attonix"]["load_balancers"]]
    assert lbs == ["lb-edge"]
    templates = out / "chef/cookbooks/attonix_base/templates"
    cfg = _erb(templates / "haproxy.cfg.erb", {"load_balancers": lbs}, {})
    # The template is the Python-produced config, only filtered per node.
    assert cfg == haproxy.haproxy_config(example, haproxy.haproxy_lbs(example))
    assert "retry-on all-retryable-errors" in cfg and "option redispatch" in cfg
    assert "server cp-a 10.20.2.10:6443 check" in cfg
    # haproxy -c loads the TLS certificate: give it one in a directory of the test's own.
    certs = tmp_path / "certs"
    certs.mkdir()
    _run(
        "openssl",
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        str(certs / "key"),
        "-out",
        str(certs / "crt"),
        "-days",
        "1",
        "-subj",
        "/CN=lb-edge",
    )
    (certs / "lb-edge.pem").write_text((certs / "crt").read_text() + (certs / "key").read_text())
    cfg = cfg.replace(haproxy.CERT_DIR, str(certs))
    (tmp_path / "haproxy.cfg").write_text(cfg)
    proc = _run("haproxy", "-c", "-f", str(tmp_path / "haproxy.cfg"))
    assert proc.returncode == 0 and "Configuration file is valid" in proc.stdout, proc.stderr
    # A node in no load balancer gets only global and defaults, still a valid config.
    empty = _erb(templates / "haproxy.cfg.erb", {"load_balancers": []}, {})
    assert "frontend" not in empty
    (tmp_path / "empty.cfg").write_text(empty)
    assert _run("haproxy", "-c", "-f", str(tmp_path / "empty.cfg")).returncode == 0


def test_keepalived_template_renders_each_members_vrrp(example: Blueprint, tmp_path: Path) -> None:
    out = _write(example, "chef", tmp_path)
    node = json.loads((out / "chef/nodes/lb-b.json").read_text())
    lbs = node["normal"]["attonix"]["load_balancers"]
    text = _erb(
        out / "chef/cookbooks/attonix_base/templates/keepalived.conf.erb",
        {"load_balancers": lbs, "interface": "eth0"},
        {"hostname": "lb-b"},
    )
    assert "vrrp_instance lb-edge {" in text
    assert "priority 140" in text and "unicast_src_ip 10.10.0.6" in text
    assert "        10.10.0.5\n" in text and "        10.10.0.10\n" in text
    assert "interface eth0" in text and "router_id lb-b" in text
