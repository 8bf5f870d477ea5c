"""The blueprint's JSON Schema: every property explained, and a schema editors accept."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import yaml

from attonix.blueprint.schema import SCHEMA_DIALECT, json_schema


def _properties(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every (path, schema) under a ``properties`` keyword, anywhere in the document."""
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            yield f"{path}.{name}", sub
        for key, sub in node.items():
            yield from _properties(sub, f"{path}/{key}")
    elif isinstance(node, list):
        for i, sub in enumerate(node):
            yield from _properties(sub, f"{path}[{i}]")


def test_every_property_has_a_description() -> None:
    doc = json_schema()
    props = list(_properties(doc, "#"))
    assert len(props) > 300  # the walk reaches the definitions, not only the root
    missing = sorted(path for path, sub in props if not sub.get("description", "").strip())
    assert missing == [], (
        "blueprint fields without a description (add Field(description=...)): " + ", ".join(missing)
    )


def test_every_definition_has_a_description() -> None:
    defs = json_schema()["definitions"]
    assert sorted(n for n, d in defs.items() if not d.get("description")) == []


def test_walk_finds_a_missing_description() -> None:
    doc = {"definitions": {"X": {"properties": {"a": {"type": "string"}}}}}
    assert [p for p, s in _properties(doc, "#") if "description" not in s] == ["#/definitions/X.a"]


def test_schema_is_valid_draft_07() -> None:
    doc = json_schema()
    assert doc["$schema"] == SCHEMA_DIALECT
    jsonschema.Draft7Validator.check_schema(doc)
    assert "$defs" not in doc  # draft-07 names them 'definitions'
    refs = {r for _, r in _refs(doc)}
    assert refs and all(r.removeprefix("#/definitions/") in doc["definitions"] for r in refs)


def _refs(node: Any) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, sub in node.items():
            if key == "$ref":
                yield key, sub
            else:
                yield from _refs(sub)
    elif isinstance(node, list):
        for sub in node:
            yield from _refs(sub)


def test_example_blueprint_is_valid_against_the_schema(example_text: str) -> None:
    validator = jsonschema.Draft7Validator(json_schema())
    errors = [
        f"{list(e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(yaml.safe_load(example_text))
    ]
    assert errors == []


def test_schema_catches_what_an_editor_should_flag(example_text: str) -> None:
    doc = yaml.safe_load(example_text)
    doc["orchestration"]["clusters"][0]["kind"] = "kubernets"
    doc["hosts"][0]["colour"] = "red"
    errors = {
        tuple(e.absolute_path) for e in jsonschema.Draft7Validator(json_schema()).iter_errors(doc)
    }
    assert ("orchestration", "clusters", 0, "kind") in errors
    assert ("hosts", 0) in errors


def test_defaults_show_for_lists_built_by_a_factory() -> None:
    defs = json_schema()["definitions"]
    assert defs["Pipeline"]["properties"]["branches"]["default"] == ["main"]
    assert defs["AccessControl"]["properties"]["mfa_required_for"]["default"] == ["admin"]
    assert defs["Host"]["properties"]["cpus"]["default"] == 8
    # a nested section shows its fields' defaults, not one large object
    assert "default" not in defs["Security"]["properties"]["firewall"]
