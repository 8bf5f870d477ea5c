"""What every CLI command shares: consoles, error reporting, exit codes, inputs and outputs.

Exit codes (one table for every command, also in docs/cli.md):

====  ==================================================================================
code  meaning
====  ==================================================================================
0     done, and the answer is yes: valid, no findings at or above --fail-on, no drift
1     the answer is no: the blueprint is invalid, findings reach --fail-on, the target has
      drifted or has changes pending (plan --detailed-exitcode), a loss takes something down,
      blueprints differ (blueprint diff), a deployment was rejected or cancelled
2     usage: an unknown option or value, a missing argument, options that contradict
3     the operation could not be completed: an engine, the Central Server or the file
      system refused or failed (the message says which, and what to do)
70    an internal error in Attonix (a bug; ATTONIX_DEBUG=1 shows the traceback)
====  ==================================================================================

Nothing heavy is imported here: rich, the blueprint model and the server load inside the
functions that need them, so ``attonix --version`` and ``--help`` answer at once.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, ParamSpec, TypeVar

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from attonix.blueprint.diagnostics import BlueprintInvalid
    from attonix.blueprint.loader import Loaded

EXIT_OK = 0
EXIT_FINDINGS = 1  # invalid blueprint, findings at/above the threshold, drift, changes pending
EXIT_USAGE = 2  # what Click uses for usage errors
EXIT_ERROR = 3  # an engine, the server or the file system refused or failed
EXIT_INTERNAL = 70  # EX_SOFTWARE: a bug
EXIT_FAIL = EXIT_FINDINGS  # older name, kept for callers

STDIN = "-"

P = ParamSpec("P")
R = TypeVar("R")


def stdout() -> Console:
    """Console for results (honours NO_COLOR and pipes)."""
    from rich.console import Console  # noqa: PLC0415

    return Console(highlight=False, soft_wrap=True)


def stderr() -> Console:
    """Console for diagnostics and progress."""
    from rich.console import Console  # noqa: PLC0415

    return Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, *, hint: str = "", code: int = EXIT_ERROR) -> NoReturn:
    """Print ``error: message`` (and the hint) to stderr and exit with ``code``."""
    err = stderr()
    err.print(f"[bold red]error:[/] {esc(message)}", markup=True, highlight=False)
    if hint:
        err.print(f"  [dim]hint:[/] {esc(hint)}")
    raise typer.Exit(code)


def usage(message: str, *, hint: str = "") -> NoReturn:
    """A usage error: exit 2, like Click's own."""
    fail(message, hint=hint, code=EXIT_USAGE)


def warn(message: str) -> None:
    """One ``warning:`` line on stderr."""
    stderr().print(f"[bold yellow]warning:[/] {esc(message)}")


def deprecated(old: str, new: str) -> None:
    """Say that ``old`` still works for this release and ``new`` is the spelling to use."""
    warn(f"{old} is deprecated and will be removed in the next release; use {new}")


def confirm(question: str, yes: bool) -> None:
    """Ask ``question`` (y/N) before a change to a live system; ``yes`` answers for scripts.
    Without a terminal to ask on, refuse (exit 2); a "no" exits 1 with nothing changed."""
    if yes:
        return
    if not sys.stdin.isatty():
        usage(
            "refusing to change a live target without confirmation (no terminal to ask on)",
            hint="Pass --yes to confirm non-interactively.",
        )
    if not typer.confirm(question, default=False):
        fail("cancelled; nothing was changed.", code=EXIT_FINDINGS)


def esc(text: str) -> str:
    """Escape rich markup in user-supplied text."""
    return text.replace("[", "\\[")


def print_json(data: Any) -> None:
    """Stable JSON on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def print_yaml(data: Any) -> None:
    """Stable YAML on stdout (the same document as ``-o json``)."""
    import yaml  # noqa: PLC0415

    # Round-trip through JSON so enums, dates and tuples print as their JSON forms.
    plain = json.loads(json.dumps(data, default=str))
    sys.stdout.write(yaml.safe_dump(plain, sort_keys=True, allow_unicode=True))


def print_document(data: Any, fmt: str) -> None:
    """Print ``data`` as ``json`` or ``yaml``."""
    if fmt == "yaml":
        print_yaml(data)
    else:
        print_json(data)


# --------------------------------------------------------------------------- inputs


def blueprint_source(argument: str | None, option: str | None) -> str:
    """The one blueprint a command reads: FILE or ``-f FILE`` (``-`` is stdin)."""
    if argument is not None and option is not None and argument != option:
        usage(
            f"two blueprints given: {argument!r} and -f {option!r}",
            hint="Name the blueprint once, as FILE or with -f FILE.",
        )
    path = argument if argument is not None else option
    if not path:
        usage(
            "which blueprint? none was given",
            hint="Pass it as FILE or -f FILE; '-' reads it from stdin.",
        )
    return path


def output_choice(
    value: str | None,
    *,
    choices: Sequence[str],
    default: str,
    legacy: str | None = None,
    legacy_name: str = "--format",
) -> str:
    """The ``-o`` format, checked against ``choices``; ``legacy`` is the old ``--format``."""
    if legacy is not None:
        deprecated(f"{legacy_name} {legacy}", f"-o {legacy}")
        if value is None:
            value = legacy
    if value is None:
        return default
    if value not in choices:
        usage(
            f"-o {value!r} is not an output format of this command",
            hint=f"Use one of: {', '.join(choices)}.",
        )
    return value


def split_legacy_file_flag(
    argument: str | None, option: str | None, *, formats: Sequence[str]
) -> tuple[str | None, str | None]:
    """Accept the old ``-f FORMAT`` for one release: ``-f`` now names the blueprint.

    Returns (blueprint option, legacy format). ``-f json`` is read as the old format only
    when a blueprint is also given as FILE and no file called ``json`` exists.
    """
    if (
        option is not None
        and argument is not None
        and option in formats
        and not os.path.exists(option)
    ):
        deprecated(f"-f {option} (meaning --format)", f"-o {option}")
        return None, option
    return option, None


def read_blueprint(path: str) -> Loaded:
    """Load the blueprint at ``path`` (``-``: stdin); raise ``BlueprintInvalid`` if not valid."""
    from attonix.blueprint import BlueprintInvalid, load_bytes, load_file  # noqa: PLC0415
    from attonix.blueprint.source import MAX_BYTES  # noqa: PLC0415

    if path != STDIN:
        return load_file(path)
    if sys.stdin is None or (sys.stdin.isatty() if hasattr(sys.stdin, "isatty") else False):
        usage("'-' reads the blueprint from stdin, but stdin is a terminal", hint="Pipe it in.")
    stream = getattr(sys.stdin, "buffer", None)
    data: bytes | str = (
        stream.read(MAX_BYTES + 1) if stream is not None else sys.stdin.read(MAX_BYTES + 1)
    )
    if len(data) > MAX_BYTES:
        from attonix.blueprint.diagnostics import Diagnostic, Location  # noqa: PLC0415

        problem = Diagnostic(
            code="BP001",
            message=f"stdin carries more than {MAX_BYTES // 1048576} MiB, the blueprint limit",
            location=Location("<stdin>", 1, 1),
            hint="Check you piped the right file.",
        )
        raise BlueprintInvalid([problem])
    return load_bytes(data, file="<stdin>")


def print_diagnostics(exc: BlueprintInvalid, fmt: str = "text") -> None:
    """Print every blueprint diagnostic, compiler-style (text) or as a JSON/YAML document."""
    if fmt in ("json", "yaml"):
        doc = {"valid": False, "diagnostics": [d.to_dict() for d in exc.diagnostics]}
        print_document(doc, fmt)
        return
    if fmt == "sarif":
        from attonix.policy.reports import diagnostics_sarif  # noqa: PLC0415

        print_json(diagnostics_sarif(exc.diagnostics, root=os.getcwd()))
        return
    err = stderr()
    for d in exc.diagnostics:
        colour = "red" if d.severity == "error" else "yellow"
        err.print(
            f"[bold]{esc(str(d.location))}[/]: [bold {colour}]{d.severity}\\[{d.code}][/]: "
            f"[cyan]{esc(d.pointer)}[/]: {esc(d.message)}"
        )
        if d.hint:
            err.print(f"    [dim]hint:[/] {esc(d.hint)}")
    n = len(exc.diagnostics)
    err.print(f"[bold red]{n} problem{'s' if n != 1 else ''}[/] in the blueprint.")


def load_or_exit(path: str, fmt: str = "text") -> Loaded:
    """Load a blueprint (``-``: stdin), or print its diagnostics and exit 1."""
    from attonix.blueprint.diagnostics import BlueprintInvalid  # noqa: PLC0415

    try:
        return read_blueprint(path)
    except BlueprintInvalid as exc:
        print_diagnostics(exc, fmt)
        raise typer.Exit(EXIT_FINDINGS) from None


def guarded(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn ``attonix.Error`` into a clean message and exit 3; anything else into a short
    internal-error report (exit 70) — never a traceback (ATTONIX_DEBUG=1 shows one)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from attonix.errors import Error  # noqa: PLC0415

        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Error as exc:
            # Only a loaded blueprint module can have raised BlueprintInvalid; asking
            # sys.modules keeps commands that never read a blueprint from importing the model.
            diagnostics = sys.modules.get("attonix.blueprint.diagnostics")
            if diagnostics is not None and isinstance(exc, diagnostics.BlueprintInvalid):
                print_diagnostics(exc)
                raise typer.Exit(EXIT_FINDINGS) from None
            fail(exc.message, hint=exc.hint)
        except Exception as exc:
            if os.environ.get("ATTONIX_DEBUG"):
                raise
            fail(
                f"internal error: {type(exc).__name__}: {str(exc)[:500]}",
                hint="This is a bug in Attonix; rerun with ATTONIX_DEBUG=1 and report the output.",
                code=EXIT_INTERNAL,
            )

    return wrapper


@contextlib.contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Pause the cyclic garbage collector for a command's bulk work (load, check, render).

    Reading, validating, checking and rendering a blueprint build millions of plain objects
    (its data, source map, model, the rules' indexes, the rendered dicts and lists) with no
    cycles among them; the collector's passes over that growing heap cost as much as the
    model's validation, or a third of a large render, and free nothing."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
