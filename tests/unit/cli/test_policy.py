"""`attonix check`, `attonix rules` and `attonix ha` through the real Typer app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from attonix.cli import app

FRAGILE = Path(__file__).resolve().parents[2] / "fixtures" / "policy" / "fragile.yaml"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_check_example_passes_at_medium(runner: CliRunner, example_path: Path) -> None:
    result = runner.invoke(app, ["check", str(example_path), "--fail-on", "medium"])
    assert result.exit_code == 0, result.output
    assert "no findings" in result.output


def test_check_reports_findings_with_location_and_fix(runner: CliRunner) -> None:
    result = runner.invoke(app, ["check", str(FRAGILE)])
    assert result.exit_code == 1
    out = result.output
    assert "HIGH" in out
    assert f"{FRAGILE}:27:17  ATX010  ceph/ceph" in out
    assert (
        "losing host 'node-1', rack 'r1' or zone 'z1' takes service/web down: all 2 replicas lost"
        in out
    )
    assert "fix: Set 'monitors: 3' (or 5)." in out
    assert "finding(s) in" in out


def test_check_threshold_and_json(runner: CliRunner, tmp_path: Path, example_text: str) -> None:
    data = yaml.safe_load(example_text)
    data["security"]["tls"]["min_version"] = "1.2"  # ATX041, severity info
    path = tmp_path / "dc.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    assert runner.invoke(app, ["check", str(path), "--fail-on", "low"]).exit_code == 0
    result = runner.invoke(app, ["check", str(path), "--fail-on", "info", "-o", "json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [f["rule"] for f in report["findings"]] == ["ATX041"]
    assert report["findings"][0]["line"] > 1


def test_check_writes_sarif_to_a_file(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "report.sarif"
    result = runner.invoke(app, ["check", str(FRAGILE), "-o", "sarif", "--output-file", str(out)])
    assert result.exit_code == 1
    assert f"wrote sarif report to {out}" in result.output
    sarif = json.loads(out.read_text(encoding="utf-8"))
    assert sarif["version"] == "2.1.0"
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} >= {"ATX010", "ATX080", "ATX090"}


def test_check_invalid_blueprint_and_bad_option(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: attonix.io/v1\nkind: DataCenter\nmetadata: {name: x}\n")
    result = runner.invoke(app, ["check", str(bad)])
    assert result.exit_code == 1
    assert "missing required key" in result.output
    assert "Traceback" not in result.output
    usage = runner.invoke(app, ["check", str(FRAGILE), "--fail-on", "severe"])
    assert usage.exit_code == 2


def test_rules_table_and_explain(runner: CliRunner) -> None:
    table = runner.invoke(app, ["rules"])
    assert table.exit_code == 0
    assert "ATX001" in table.output and "ATX099" in table.output
    explain = runner.invoke(app, ["rules", "--explain", "atx048"])
    assert explain.exit_code == 0
    assert "Plaintext credential in an environment variable" in explain.output
    assert "fix:" in explain.output
    unknown = runner.invoke(app, ["rules", "--explain", "ATX999"])
    assert unknown.exit_code == 2  # a usage error
    assert "unknown rule id 'ATX999'" in unknown.output


def test_ha_example_survives_any_host(
    runner: CliRunner, example_path: Path, example_text: str
) -> None:
    hosts = len(yaml.safe_load(example_text)["hosts"])
    result = runner.invoke(app, ["ha", str(example_path), "--fail", "host"])
    assert result.exit_code == 0, result.output
    assert f"survives the loss of any single host ({hosts} analysed)" in result.output
    assert result.output.count(": OK") + result.output.count(": DEGRADED") == hosts
    assert "DOWN" not in result.output


def test_ha_fragile_names_what_breaks(runner: CliRunner) -> None:
    result = runner.invoke(app, ["ha", str(FRAGILE), "--fail", "r1", "-f", "json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["survives"] is False
    (loss,) = doc["losses"]
    down = {i["component"] for i in loss["impacts"] if i["state"] == "down"}
    assert down == {"ceph/ceph", "service/web", "load-balancer/edge"}
    text = runner.invoke(app, ["ha", str(FRAGILE), "--fail", "host"])
    assert text.exit_code == 1
    assert "does not survive" in text.output
    assert "lb-1" in text.output and "all 1 load-balancer host(s) lost" in text.output


def test_ha_unknown_domain_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(app, ["ha", str(FRAGILE), "--fail", "rack-z"])
    assert result.exit_code == 2
    assert "not a level nor the name of a host, rack or zone" in result.output


def test_one_finding_per_component_and_rule_listing_its_domains(runner: CliRunner) -> None:
    """replicas: 2 pinned to one rack is one ATX090 for service/web, not one per host, rack
    and zone; the domains are listed in text, JSON and SARIF alike."""
    text = runner.invoke(app, ["check", str(FRAGILE)])
    assert text.output.count("ATX090") == 1 and text.output.count("ATX092") == 1
    report = json.loads(runner.invoke(app, ["check", str(FRAGILE), "-o", "json"]).stdout)
    keys = [(f["rule"], f["component"]) for f in report["findings"]]
    assert len(keys) == len(set(keys)), keys
    web = next(f for f in report["findings"] if f["rule"] == "ATX090")
    assert web["failure_domains"] == [
        {"level": "host", "name": "node-1"},
        {"level": "rack", "name": "r1"},
        {"level": "zone", "name": "z1"},
    ]
    ceph = next(f for f in report["findings"] if f["rule"] == "ATX092")
    domains = [(d["level"], d["name"]) for d in ceph["failure_domains"]]
    assert len(domains) == len(set(domains)) >= 6  # every host, rack and zone, once
    assert {("host", "node-1"), ("rack", "r1"), ("zone", "z1"), ("zone", "z2")} <= set(domains)
    sarif = json.loads(runner.invoke(app, ["check", str(FRAGILE), "-o", "sarif"]).stdout)
    results = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "ATX090"]
    assert len(results) == 1
    assert results[0]["properties"]["failureDomains"] == web["failure_domains"]
    fingerprints = [
        r["partialFingerprints"]["attonixFinding/v1"] for r in sarif["runs"][0]["results"]
    ]
    assert len(fingerprints) == len(set(fingerprints))


def test_an_invalid_blueprint_is_a_sarif_result(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "dc.yaml"
    bad.write_text(
        "apiVersion: attonix.io/v1\nkind: DataCenter\nmetadata: {name: X}\n", encoding="utf-8"
    )
    result = runner.invoke(app, ["check", str(bad), "-o", "sarif"])
    assert result.exit_code == 1
    run = json.loads(result.stdout)["runs"][0]
    messages = {r["message"]["text"].split(":", 1)[0]: r["ruleId"] for r in run["results"]}
    assert messages == {"security": "BP011", "metadata.domain": "BP011", "metadata.name": "BP012"}
    first = run["results"][0]
    assert first["level"] == "error"
    assert first["locations"][0]["physicalLocation"]["region"]["startLine"] >= 1
    assert {r["id"] for r in run["tool"]["driver"]["rules"]} == {
        r["ruleId"] for r in run["results"]
    }
    # and into a report file, for code scanning uploads
    out = tmp_path / "r.sarif"
    result = runner.invoke(app, ["check", str(bad), "-o", "sarif", "--output-file", str(out)])
    assert result.exit_code == 1 and "problem" in result.output
    assert json.loads(out.read_text())["runs"][0]["results"]
    valid = runner.invoke(app, ["validate", str(bad), "-o", "sarif"])
    assert valid.exit_code == 1 and json.loads(valid.stdout)["runs"][0]["results"]
