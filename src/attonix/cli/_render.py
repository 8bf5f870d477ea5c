"""`attonix render`: one blueprint to the files of any registered target."""

from __future__ import annotations

import inspect
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from attonix.cli._common import (
    blueprint_source,
    deprecated,
    guarded,
    load_or_exit,
    no_cycle_collection,
    output_choice,
    split_legacy_file_flag,
    stderr,
    stdout,
    usage,
)
from attonix.cli._options import (
    RENDER_TARGETS,
    FileArg,
    FileOpt,
    LegacyFormat,
    output_option,
    target_name,
)

if TYPE_CHECKING:
    from attonix.render import Artifact

RENDER_FORMATS = ("yaml", "json")


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
    fmt: str,
    crd_dir: str | None,
    validate: bool,
    single_file: bool,
) -> list[Artifact]:
    """Render ``blueprint`` for ``target`` with the options its renderer understands."""
    from attonix.render import TARGETS, RenderError, renderer  # noqa: PLC0415

    if target not in TARGETS:
        raise RenderError(
            f"unknown target {target!r}",
            hint=f"Use one of: {', '.join(sorted(TARGETS))} (attonix render --help lists them).",
        )
    fn = renderer(target)
    wanted: dict[str, Any] = {"format": fmt, "validate": validate, "single_file": single_file}
    if crd_dir is not None:
        wanted["crd_dir"] = crd_dir
    options = _accepted(fn, wanted)
    if crd_dir is not None and "crd_dir" not in options:
        raise RenderError(
            f"target {target} does not take --crd-dir", hint="Drop --crd-dir for this target."
        )
    if fmt != "yaml" and "format" not in options:
        raise RenderError(f"target {target} has a fixed format", hint="Drop -o for this target.")
    return list(fn(blueprint, **options))


def _summary(paths: list[str], out: str, written: int) -> str:
    tops = Counter(p.split("/", 1)[0] for p in paths)
    parts = ", ".join(f"{top} ({n} file{'s' if n != 1 else ''})" for top, n in sorted(tops.items()))
    n = len(paths)
    if written == n:
        return f"wrote {n} file{'s' if n != 1 else ''} to {out}: {parts}"
    return f"wrote {written} of {n} files to {out} ({n - written} unchanged): {parts}"


def render(
    file: FileArg = None,
    file_opt: FileOpt = None,
    target: Annotated[
        list[str] | None,
        typer.Option(
            "--target",
            "-t",
            metavar="TARGET",
            help="What to render (repeat for several): " + ", ".join(RENDER_TARGETS) + ".",
        ),
    ] = None,
    output_dir: Annotated[
        str | None,
        typer.Option(
            "--output-dir",
            "-d",
            metavar="DIR",
            show_default=False,
            help="Write the files below DIR (default: out); '-' prints them to stdout.",
        ),
    ] = None,
    output: Annotated[str | None, output_option(RENDER_FORMATS, "yaml")] = None,
    crd_dir: Annotated[
        str | None,
        typer.Option(
            "--crd-dir",
            metavar="DIR",
            help="Directory of CRD manifests to validate custom resources against.",
        ),
    ] = None,
    no_validate: Annotated[
        bool, typer.Option("--no-validate", help="Skip schema validation of the output.")
    ] = False,
    legacy_format: LegacyFormat = None,
) -> None:
    """Render the blueprint into the files of one or more targets, deterministically.

    The files are written atomically below --output-dir, and files an earlier render of the
    same target wrote that are no longer produced are removed; other targets' files in the
    same directory are left alone, so every target can share one directory. With
    --output-dir - everything goes to stdout (multi-document YAML for Kubernetes). -o picks
    the serialisation of structured files. Output is validated unless --no-validate. Exit 0
    when written, 1 when the blueprint is invalid, 2 on a usage error, 3 when the output
    cannot be written or fails validation.

    \b
    Examples:
      attonix render examples/attonixcorp.yaml -t k8s --output-dir out/
      attonix render examples/attonixcorp.yaml -t k8s -t swarm -t diagram -d out/
      attonix render -f datacenter.yaml -t swarm --output-dir - | docker stack config -c -
      attonix render datacenter.yaml -t diagram --output-dir docs/
      cat datacenter.yaml | attonix render - -t nftables -d out/
    """
    file_opt, old = split_legacy_file_flag(file, file_opt, formats=RENDER_FORMATS)
    if output is not None and output not in RENDER_FORMATS:
        if output_dir is not None:
            usage(
                f"-o {output!r} is not an output format",
                hint=f"Use one of: {', '.join(RENDER_FORMATS)}; the directory is --output-dir.",
            )
        deprecated(f"-o {output} (meaning a directory)", f"--output-dir {output}")
        output, output_dir = None, output
    fmt = output_choice(output, choices=RENDER_FORMATS, default="yaml", legacy=legacy_format or old)
    if not target:
        usage("which target? --target is required", hint="Pass -t TARGET; -h lists them.")
    targets = list(dict.fromkeys(target_name(t, allowed=RENDER_TARGETS) for t in target))
    out_dir = output_dir if output_dir is not None else "out"
    with no_cycle_collection():
        loaded = guarded(load_or_exit)(blueprint_source(file, file_opt))
        to_stdout = out_dir == "-"
        paths: list[str] = []

        def produced() -> Iterator[Artifact]:
            """Every target's artifacts, each let go once consumed (so its content is freed
            as soon as it is written, not held until the last file)."""
            for name in targets:
                arts = guarded(build)(
                    loaded.blueprint,
                    name,
                    fmt=fmt,
                    crd_dir=crd_dir if name == "kubernetes" or len(targets) == 1 else None,
                    validate=not no_validate,
                    single_file=to_stdout,
                )
                arts.reverse()
                while arts:
                    art = arts.pop()
                    paths.append(art.path)
                    yield art

        if to_stdout:
            for art in list(produced()):  # every target rendered before anything is printed
                text = art.text()
                if art.format in ("yaml", "yaml-multi", "text"):
                    sys.stdout.write(f"# Source: {art.path}\n")
                if art.format == "yaml":
                    text = "---\n" + text  # keep documents of different files apart
                sys.stdout.write(text)
            stderr().print(f"rendered {len(paths)} artifact(s) for {', '.join(targets)}")
            return
        from attonix.render import write_artifacts  # noqa: PLC0415

        written = guarded(write_artifacts)(produced(), Path(out_dir))
    stdout().print(_summary(paths, out_dir, len(written)), markup=False)


def register(app: typer.Typer) -> None:
    """Add ``render`` to ``app``."""
    app.command(rich_help_panel="Render")(render)
