"""`attonix validate` and `attonix schema` as a user meets them."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from attonix.cli import app

runner = CliRunner()


def test_validate_example(example_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(example_path)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.stdout
    assert "20 hosts, 3 clusters, 4 databases, 8 services" in result.stdout


def test_validate_json_for_automation(example_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(example_path), "-o", "json"])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["valid"] is True and doc["summary"]["databases"] == 4


def test_validate_reports_problems_compiler_style(tmp_path: Path, example_text: str) -> None:
    bad = tmp_path / "dc.yaml"
    bad.write_text(example_text.replace("kind: swarm", "kind: swam", 1), encoding="utf-8")
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1
    line = next(i for i, text in enumerate(bad.read_text().splitlines(), 1) if "swam" in text)
    assert f"{bad}:{line}:13: error[BP012]: orchestration.clusters[1].kind:" in result.stderr
    assert "hint: Use one of the listed values." in result.stderr
    assert "Traceback" not in result.output


def test_validate_json_errors(tmp_path: Path) -> None:
    bad = tmp_path / "dc.yaml"
    bad.write_text("apiVersion: attonix.io/v1\nkind: DataCenter\nmetadata: {name: x}\n")
    result = runner.invoke(app, ["validate", "-f", str(bad), "-o", "json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["valid"] is False
    by_path = {d["path"]: d for d in doc["diagnostics"]}
    assert by_path["metadata.domain"]["code"] == "BP011"
    assert by_path["metadata.domain"]["line"] == 3
    assert by_path["security"]["message"] == "missing required key 'security'"


def test_validate_missing_file_is_one_sentence(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path / "none.yaml")])
    assert result.exit_code == 1
    assert "no such file" in result.stderr and "Traceback" not in result.output


def test_usage_error_exits_2() -> None:
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 2


def test_schema_is_json_schema_of_the_blueprint() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert {
        "metadata",
        "hosts",
        "orchestration",
        "storage",
        "security",
        "cicd",
        "configuration",
        "databases",
        "services",
        "users",
        "ha",
        "policy",
    } <= set(doc["properties"])
    assert doc["additionalProperties"] is False
    assert doc["properties"]["apiVersion"]["const"] == "attonix.io/v1"
    assert doc["properties"]["hosts"]["description"].startswith("The Ubuntu machines")


def test_help_teaches() -> None:
    result = runner.invoke(app, ["validate", "--help"])
    assert result.exit_code == 0
    assert "Examples:\n    attonix validate examples/attonixcorp.yaml\n" in result.stdout


def test_schema_markdown_is_the_reference_page() -> None:
    page = Path(__file__).resolve().parents[3] / "docs" / "blueprint-reference.md"
    result = runner.invoke(app, ["schema", "-o", "markdown"])
    assert result.exit_code == 0
    assert result.stdout == page.read_text(encoding="utf-8")


def test_schema_refuses_an_unknown_format() -> None:
    result = runner.invoke(app, ["schema", "-o", "xml"])
    assert result.exit_code == 2
    assert "json, markdown" in result.stderr
