"""docs/blueprint-reference.md is the model's reference, generated, and cannot fall behind."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attonix.blueprint.loader import load_bytes
from attonix.blueprint.reference import MINIMAL_EXAMPLE, markdown_reference
from attonix.blueprint.schema import json_schema
from attonix.cli import app

runner = CliRunner()
PAGE = Path(__file__).resolve().parents[3] / "docs" / "blueprint-reference.md"


def test_committed_page_is_the_generated_one() -> None:
    assert PAGE.read_text(encoding="utf-8") == markdown_reference(), (
        "docs/blueprint-reference.md is stale; regenerate it with "
        "`attonix schema -o markdown > docs/blueprint-reference.md`"
    )


def test_every_key_of_every_section_is_in_the_page() -> None:
    page = markdown_reference()
    doc = json_schema()
    for name, node in {"Blueprint": doc, **doc["definitions"]}.items():
        start = page.index(f"— {name}\n")
        table = page[start : page.find("<a id=", start)]
        for key, prop in node.get("properties", {}).items():
            row = next(r for r in table.splitlines() if r.startswith(f"| `{key}` |"))
            assert " ".join(prop["description"].split()) in row


def test_page_shows_type_default_and_limits() -> None:
    page = markdown_reference()
    assert (
        "| `replicas` | integer | `3` | Instances, the primary included (1 to 15). "
        "Limits: 1 to 15. |" in page
    )
    assert "| `metadata` | [Metadata](#metadata) | **required** |" in page
    assert '<a id="certificateauthority"></a>\n### `security.tls.ca` — CertificateAuthority' in page
    assert "# yaml-language-server: $schema=./blueprint.schema.json" in page
    assert "[examples/attonixcorp.yaml](../examples/attonixcorp.yaml)" in page


def test_minimal_example_validates() -> None:
    assert MINIMAL_EXAMPLE in markdown_reference()
    loaded = load_bytes(MINIMAL_EXAMPLE, file="minimal.yaml")
    assert loaded.blueprint.metadata.name == "example"


def test_start_commands_run_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page = PAGE.read_text(encoding="utf-8")
    start = page.index("```sh", page.index("## Start"))
    block = page[page.index("\n", start) + 1 : page.index("```", start + 5)]
    commands = [shlex.split(line.split("#", 1)[0]) for line in block.splitlines() if line.strip()]
    assert [c[1] for c in commands] == ["init", "validate", "check", "render"]
    monkeypatch.chdir(tmp_path)
    for argv in commands:
        result = runner.invoke(app, argv[1:])
        assert result.exit_code == 0, (argv, result.output)
    assert (tmp_path / "out" / "cloud-init").is_dir() and (tmp_path / "out" / "nftables").is_dir()
