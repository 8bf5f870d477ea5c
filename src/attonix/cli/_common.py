"""What every CLI command shares: consoles, error reporting, exit codes, output formats."""

from __future__ import annotations

import enum
import functools
import json
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console

from attonix.blueprint import BlueprintInvalid, Loaded, load_file
from attonix.errors import Error

EXIT_OK = 0
EXIT_FAIL = 1  # invalid input, findings at/above the threshold, a failed operation
EXIT_USAGE = 2  # what Typer/Click use for usage errors

P = ParamSpec("P")
R = TypeVar("R")


class OutputFormat(enum.StrEnum):
    """Human text or machine JSON."""

    text = "text"
    json = "json"


def stdout() -> Console:
    """Console for results (honours NO_COLOR and pipes)."""
    return Console(highlight=False, soft_wrap=True)


def stderr() -> Console:
    """Console for diagnostics and progress."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, *, hint: str = "", code: int = EXIT_FAIL) -> NoReturn:
    """Print ``error: message`` (and the hint) to stderr and exit with ``code``."""
    err = stderr()
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    if hint:
        err.print(f"  [dim]hint:[/] {hint}")
    raise typer.Exit(code)


def print_json(data: Any) -> None:
    """Stable JSON on stdout."""
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def print_diagnostics(exc: BlueprintInvalid, fmt: OutputFormat = OutputFormat.text) -> None:
    """Print every blueprint diagnostic, compiler-style (text) or as a JSON document."""
    if fmt is OutputFormat.json:
        print_json({"valid": False, "diagnostics": [d.to_dict() for d in exc.diagnostics]})
        return
    err = stderr()
    for d in exc.diagnostics:
        colour = "red" if d.severity == "error" else "yellow"
        err.print(
            f"[bold]{d.location}[/]: [bold {colour}]{d.severity}[{d.code}][/]: "
            f"[cyan]{d.pointer}[/]: {_esc(d.message)}"
        )
        if d.hint:
            err.print(f"    [dim]hint:[/] {_esc(d.hint)}")
    n = len(exc.diagnostics)
    err.print(f"[bold red]{n} problem{'s' if n != 1 else ''}[/] in the blueprint.")


def _esc(text: str) -> str:
    return text.replace("[", "\\[")


def load_or_exit(path: str, fmt: OutputFormat = OutputFormat.text) -> Loaded:
    """Load a blueprint, or print its diagnostics and exit 1."""
    try:
        return load_file(path)
    except BlueprintInvalid as exc:
        print_diagnostics(exc, fmt)
        raise typer.Exit(EXIT_FAIL) from None


def guarded(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn ``attonix.Error`` into a clean message and exit 1; anything else into a short
    internal-error report — never a traceback (set ATTONIX_DEBUG=1 to see one)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except BlueprintInvalid as exc:
            print_diagnostics(exc)
            raise typer.Exit(EXIT_FAIL) from None
        except Error as exc:
            fail(exc.message, hint=exc.hint)
        except Exception as exc:
            if os.environ.get("ATTONIX_DEBUG"):
                raise
            fail(
                f"internal error: {type(exc).__name__}: {str(exc)[:500]}",
                hint="This is a bug in Attonix; rerun with ATTONIX_DEBUG=1 and report the output.",
                code=70,
            )

    return wrapper
