"""`attonix init`, `attonix validate` and `attonix schema`."""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer

from attonix.cli._common import (
    EXIT_ERROR,
    STDIN,
    blueprint_source,
    fail,
    guarded,
    load_or_exit,
    output_choice,
    print_document,
    print_json,
    split_legacy_file_flag,
    usage,
)
from attonix.cli._options import FileArg, FileOpt, LegacyFormat, output_option

VALIDATE_FORMATS = ("text", "json", "yaml", "sarif")


def validate(
    file: FileArg = None,
    file_opt: FileOpt = None,
    output: Annotated[str | None, output_option(VALIDATE_FORMATS, "text")] = None,
    legacy_format: LegacyFormat = None,
) -> None:
    """Check a blueprint against the schema and its cross-references.

    Every problem is reported at once, compiler-style, as FILE:LINE:COL with the dotted path
    and one sentence on what to do. Exit 0 when valid, 1 when not, 2 on a usage error.

    \b
    Examples:
      attonix validate examples/attonixcorp.yaml
      attonix validate -f datacenter.yaml -o json
      cat datacenter.yaml | attonix validate -
      attonix validate datacenter.yaml -o sarif > validate.sarif
    """
    file_opt, old = split_legacy_file_flag(file, file_opt, formats=VALIDATE_FORMATS)
    fmt = output_choice(
        output, choices=VALIDATE_FORMATS, default="text", legacy=legacy_format or old
    )
    path = blueprint_source(file, file_opt)
    loaded = guarded(load_or_exit)(path, fmt)
    bp = loaded.blueprint
    summary = {
        "hosts": len(bp.hosts),
        "clusters": len(bp.orchestration.clusters),
        "databases": len(bp.databases),
        "services": len(bp.services.backend) + len(bp.services.frontend),
    }
    if fmt == "sarif":
        from attonix.policy.reports import diagnostics_sarif  # noqa: PLC0415

        print_json(diagnostics_sarif([], root=os.getcwd()))
        return
    if fmt != "text":
        doc = {"valid": True, "file": loaded.file, "diagnostics": [], "summary": summary}
        print_document(doc, fmt)
        return
    parts = ", ".join(f"{v} {k}" for k, v in summary.items())
    # click's styling, not rich: the one line does not justify importing rich (~30 ms).
    typer.echo(f"{typer.style('valid', fg='green', bold=True)}: {loaded.file} ({parts})")


SCHEMA_FORMATS = ("json", "markdown")


def schema(
    output: Annotated[str | None, output_option(SCHEMA_FORMATS, "json")] = None,
) -> None:
    """Print the blueprint's JSON Schema (draft-07) for editors' completion and hover help.

    Every field carries its meaning, units, limits, default and examples. ``-o markdown``
    prints the same as the reference page (docs/blueprint-reference.md).

    \b
    Examples:
      attonix schema > blueprint.schema.json
      # then, as the first line of datacenter.yaml (VS Code YAML, JetBrains, Neovim):
      # yaml-language-server: $schema=./blueprint.schema.json
      attonix schema -o markdown > blueprint-reference.md
    """
    fmt = output_choice(output, choices=SCHEMA_FORMATS, default="json")
    if fmt == "markdown":
        from attonix.blueprint.reference import markdown_reference  # noqa: PLC0415

        typer.echo(markdown_reference(), nl=False)
        return
    from attonix.blueprint.schema import json_schema  # noqa: PLC0415

    typer.echo(json.dumps(json_schema(), indent=2, sort_keys=True))


def init(
    path: Annotated[
        str | None,
        typer.Argument(
            metavar="FILE", help="Where to write the blueprint; none or '-' prints it to stdout."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE if it exists.")] = False,
) -> None:
    """Write a commented starter blueprint to begin from.

    The starter is a small data center (Kubernetes, Swarm and Podman clusters, Ceph, a
    PostgreSQL database, firewall zones, Chef, a pipeline, OpenStack and vSphere) that
    validates, checks clean and renders for every target; its comments say what to change.
    An existing FILE is kept unless --force.

    \b
    Examples:
      attonix init datacenter.yaml
      attonix init > datacenter.yaml
      attonix init datacenter.yaml --force
    """
    from importlib.resources import files  # noqa: PLC0415

    text = files("attonix.blueprint").joinpath("starter.yaml").read_text(encoding="utf-8")
    if path is None or path == STDIN:
        typer.echo(text, nl=False)
        return
    if os.path.lexists(path) and not force:
        usage(f"{path} exists; nothing was written", hint="Add --force to overwrite it.")
    _write_new(path, text, replace=force)
    typer.echo(f"wrote {path}; next: attonix validate {path} && attonix check {path}", err=True)


def _write_new(path: str, text: str, *, replace: bool) -> None:
    """Write ``text`` to ``path`` whole or not at all; without ``replace`` never clobber."""
    import tempfile  # noqa: PLC0415

    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".attonix-init-", dir=folder)
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}", hint="Check that its directory exists.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if path appeared meanwhile: never overwrite silently
    except FileExistsError:
        usage(f"{path} exists; nothing was written", hint="Add --force to overwrite it.")
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror}", code=EXIT_ERROR)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def register(app: typer.Typer) -> None:
    """Add the blueprint commands to ``app``."""
    app.command(rich_help_panel="Blueprint")(init)
    app.command(rich_help_panel="Blueprint")(validate)
    app.command(rich_help_panel="Blueprint")(schema)
