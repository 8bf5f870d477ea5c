"""The blueprint's JSON Schema, as editors read it.

Written as JSON Schema draft-07: the YAML extension of VS Code (yaml-language-server) and
the JetBrains IDEs ship draft-07 and only warn on 2020-12 ("not yet fully supported"). The
model's output uses nothing draft-07 lacks once ``$defs`` is named ``definitions``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, NoDefault
from pydantic_core import core_schema

from attonix.blueprint.model import Blueprint

SCHEMA_DIALECT = "http://json-schema.org/draft-07/schema#"
SCHEMA_ID = "https://attonix.io/schemas/blueprint-v1.json"


class _WithFactoryDefaults(GenerateJsonSchema):
    """Shows the defaults of list and dict fields, which the model builds with a factory.

    Nested sections (a model built by its factory) keep no ``default``: each of their own
    fields shows its default instead, which reads better than one large object.
    """

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        factory = schema.get("default_factory")
        if factory is None or schema.get("default_factory_takes_data"):
            return super().get_default_value(schema)
        value = factory()  # type: ignore[call-arg]
        return NoDefault if isinstance(value, BaseModel) else value


def json_schema() -> dict[str, Any]:
    """The blueprint's JSON Schema (draft-07), every property with a description."""
    doc = Blueprint.model_json_schema(
        by_alias=True,
        ref_template="#/definitions/{model}",
        schema_generator=_WithFactoryDefaults,
    )
    doc["definitions"] = doc.pop("$defs")
    return {"$schema": SCHEMA_DIALECT, "$id": SCHEMA_ID, **doc}
