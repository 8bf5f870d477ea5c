"""The `attonix` command: a thin Typer front over the same service functions as the API.

Help is plain text, grouped by layer like kubectl's, and every module defers its heavy imports
to the commands that need them, so that `attonix --version` and `--help` answer at once.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from attonix import __version__
from attonix.cli import (
    _blueprint,
    _console_cmd,
    _deploy,
    _policy,
    _remote,
    _remote_work,
    _render,
    _rotate,
    _server,
)

EPILOG = (
    "Exit codes: 0 ok; 1 invalid blueprint, findings, drift or changes pending; 2 usage "
    "error; 3 the operation failed (engine, server, file system); 70 internal error. "
    "See docs/cli.md."
)


class _GroupedHelp(TyperGroup):
    """Lists commands under their layer's heading (Blueprint, Render, Deploy, ...)."""

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """One section per help panel, in registration order."""
        panels: dict[str, list[tuple[str, str]]] = {}
        width = max((len(n) for n in self.commands), default=0)
        limit = formatter.width - 6 - width
        for name, cmd in self.commands.items():
            if cmd.hidden:
                continue
            panel = getattr(cmd, "rich_help_panel", None) or "Commands"
            panels.setdefault(panel, []).append((name, cmd.get_short_help_str(limit)))
        for panel, rows in panels.items():
            with formatter.section(panel):
                formatter.write_dl(rows)


app = typer.Typer(
    name="attonix",
    cls=_GroupedHelp,
    help=(
        "One blueprint, every layer, secure and highly available by construction.\n\n"
        "Describe the data center once in a blueprint, then: validate it, check it against "
        "security and HA policy, render files for every target, plan and apply them to live "
        "systems, or serve the Central Server that operators log into — and use it from here."
    ),
    epilog=EPILOG,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"attonix {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Attonix."""


# Explicit registration, in the order shown in --help.
for _module in (
    _blueprint,
    _policy,
    _render,
    _deploy,
    _rotate,
    _server,
    _console_cmd,
    _remote,
    _remote_work,
):
    _module.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
