"""`attonix validate` and `attonix schema`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from attonix.blueprint import Blueprint
from attonix.cli._common import OutputFormat, guarded, load_or_exit, print_json, stdout


def validate(
    file: Annotated[str, typer.Argument(help="The blueprint YAML file.")],
    output: Annotated[
        OutputFormat, typer.Option("--format", "-f", help="text, or json for automation.")
    ] = OutputFormat.text,
) -> None:
    """Check a blueprint against the schema and its cross-references.

    Every problem is reported at once, compiler-style, as FILE:LINE:COL with the dotted path
    and one sentence on what to do. Exit 0 when valid, 1 when not.

    Example: attonix validate examples/attonixcorp.yaml
    """
    loaded = guarded(load_or_exit)(file, output)
    bp = loaded.blueprint
    summary = {
        "hosts": len(bp.hosts),
        "clusters": len(bp.orchestration.clusters),
        "databases": len(bp.databases),
        "services": len(bp.services.backend) + len(bp.services.frontend),
    }
    if output is OutputFormat.json:
        print_json({"valid": True, "file": loaded.file, "diagnostics": [], "summary": summary})
        return
    parts = ", ".join(f"{v} {k}" for k, v in summary.items())
    stdout().print(f"[bold green]valid[/]: {loaded.file} ({parts})")


def schema() -> None:
    """Print the blueprint's JSON Schema (for editors: point yaml-language-server at it).

    Example: attonix schema > datacenter.schema.json
    """
    doc = Blueprint.model_json_schema(by_alias=True)
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    doc["$id"] = "https://attonix.io/schemas/blueprint-v1.json"
    typer.echo(json.dumps(doc, indent=2, sort_keys=True))


def register(app: typer.Typer) -> None:
    """Add the blueprint commands to ``app``."""
    app.command(rich_help_panel="Blueprint")(validate)
    app.command(rich_help_panel="Blueprint")(schema)
