"""The `attonix` command: a thin Typer front over the same service functions as the API."""

from __future__ import annotations

import typer

from attonix import __version__
from attonix.cli import _blueprint, _console, _deploy, _policy, _render, _rotate, _server

app = typer.Typer(
    name="attonix",
    help=(
        "One blueprint, every layer, secure and highly available by construction.\n\n"
        "Describe the data center once in a blueprint, then: validate it, check it against "
        "security and HA policy, render files for every target, plan and apply them to live "
        "systems, or serve the Central Server that operators log into."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
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
for _module in (_blueprint, _policy, _render, _deploy, _rotate, _server, _console):
    _module.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
