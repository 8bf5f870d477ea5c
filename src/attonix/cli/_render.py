"""`attonix render`: one blueprint to the files of any registered target."""

from __future__ import annotations

import enum
import inspect
import sys
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer

from attonix.cli._common import guarded, load_or_exit, stderr, stdout
from attonix.render import TARGETS, Artifact, RenderError, renderer, write_artifacts


class RenderFormat(enum.StrEnum):
    """Serialisation of structured files."""

    yaml = "yaml"
    json = "json"


def _accepted(fn: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The options ``fn`` accepts; asking a renderer for one it lacks is an error only if set."""
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return options
    return {k: v for k, v in options.items() if k in params}


def build(
    blueprint: Any,
    target: str,
    *,
    fmt: RenderFormat,
    crd_dir: str | None,
    validate: bool,
    single_file: bool,
) -> list[Artifact]:
    """Render ``blueprint`` for ``target`` with the options its renderer understands."""
    if target not in TARGETS:
        raise RenderError(
            f"unknown target {target!r}",
            hint=f"Use one of: {', '.join(sorted(TARGETS))} (attonix render --help lists them).",
        )
    fn = renderer(target)
    wanted: dict[str, Any] = {"format": fmt.value, "validate": validate, "single_file": single_file}
    if crd_dir is not None:
        wanted["crd_dir"] = crd_dir
    options = _accepted(fn, wanted)
    if crd_dir is not None and "crd_dir" not in options:
        raise RenderError(
            f"target {target} does not take --crd-dir", hint="Drop --crd-dir for this target."
        )
    if fmt is not RenderFormat.yaml and "format" not in options:
        raise RenderError(
            f"target {target} has a fixed format", hint="Drop --format for this target."
        )
    return list(fn(blueprint, **options))


def _summary(artifacts: list[Artifact], out: str) -> str:
    tops = Counter(a.path.split("/", 1)[0] for a in artifacts)
    parts = ", ".join(f"{top} ({n} file{'s' if n != 1 else ''})" for top, n in sorted(tops.items()))
    return f"wrote {len(artifacts)} file{'s' if len(artifacts) != 1 else ''} to {out}: {parts}"


def render(
    file: Annotated[str, typer.Argument(help="The blueprint YAML file.")],
    target: Annotated[
        str,
        typer.Option(
            "--target",
            "-t",
            help="What to render: " + ", ".join(f"{k} ({v[2]})" for k, v in TARGETS.items()),
        ),
    ],
    output: Annotated[
        str, typer.Option("--output", "-o", help="Output directory, or '-' for stdout.")
    ] = "out",
    fmt: Annotated[
        RenderFormat, typer.Option("--format", "-f", help="yaml or json.")
    ] = RenderFormat.yaml,
    crd_dir: Annotated[
        str | None,
        typer.Option(
            "--crd-dir", help="Directory of CRD manifests to validate custom resources against."
        ),
    ] = None,
    no_validate: Annotated[
        bool, typer.Option("--no-validate", help="Skip schema validation of the output.")
    ] = False,
) -> None:
    """Render the blueprint into the files of one target, deterministically.

    With -o DIR the files are written atomically below DIR, and files an earlier render wrote
    that are no longer produced are removed. With -o - everything goes to stdout (multi-document
    YAML for Kubernetes). Output is validated unless --no-validate.

    Example: attonix render examples/attonixcorp.yaml --target kubernetes -o out/
    """
    loaded = guarded(load_or_exit)(file)
    to_stdout = output == "-"
    artifacts = guarded(build)(
        loaded.blueprint,
        target,
        fmt=fmt,
        crd_dir=crd_dir,
        validate=not no_validate,
        single_file=to_stdout,
    )
    if to_stdout:
        for art in artifacts:
            text = art.text()
            if art.format in ("yaml", "yaml-multi", "text"):
                sys.stdout.write(f"# Source: {art.path}\n")
            if art.format == "yaml":
                text = "---\n" + text  # keep documents of different files apart
            sys.stdout.write(text)
        stderr().print(f"rendered {len(artifacts)} artifact(s) for {target}")
        return
    guarded(write_artifacts)(artifacts, Path(output))
    stdout().print(_summary(artifacts, output))


def register(app: typer.Typer) -> None:
    """Add ``render`` to ``app``."""
    app.command(rich_help_panel="Render")(render)
