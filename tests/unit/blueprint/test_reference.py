"""docs/blueprint-reference.md is the model's reference, generated, and cannot fall behind."""

from __future__ import annotations

from pathlib import Path

from attonix.blueprint.loader import load_bytes
from attonix.blueprint.reference import MINIMAL_EXAMPLE, markdown_reference
from attonix.blueprint.schema import json_schema

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
