"""`attonix rotate`: replace one service's database login without losing a query."""

from __future__ import annotations

import typer
from rich.text import Text

from attonix.cli._common import OutputFormat, guarded, load_or_exit, print_json, stderr
from attonix.deploy import ChainSecretSource, EnvSecretSource, FileSecretSource, SecretSource
from attonix.deploy.databases import DatabaseDriver
from attonix.deploy.databases.rotation import RotationStopped, rotate


@guarded
def rotate_cmd(
    file: str = typer.Argument(..., help="The blueprint file."),
    database: str = typer.Option(..., "--database", "-d", help="A declared database."),
    service: str = typer.Option(..., "--service", "-s", help="A service that uses it."),
    kind: str = typer.Option("app", "--kind", "-k", help="owner, app or readonly."),
    drain_timeout: float = typer.Option(
        60.0, "--drain-timeout", help="Seconds to wait for the old login's sessions to end."
    ),
    secrets_file: str | None = typer.Option(
        None, "--secrets-file", help="YAML/JSON file {secret: {key: value}} (mode 600)."
    ),
    fmt: OutputFormat = typer.Option(OutputFormat.text, "--format", "-f"),
) -> None:
    """Rotate a database login in two phases: new login, consumers switched, old login dropped.

    Each step is recorded; if the rotation stops (the old login still has sessions, a server
    is down) run the same command again and it resumes where it stopped.
    """
    bp = load_or_exit(file).blueprint
    source: SecretSource = EnvSecretSource(bp.security.secrets)
    if secrets_file:
        source = ChainSecretSource(FileSecretSource(secrets_file, bp.security.secrets), source)
    driver = DatabaseDriver(bp, cluster=database, secrets=source)
    err = stderr()

    def progress(message: str) -> None:
        err.print(Text(f"  {message}", style="dim"))

    try:
        state = rotate(
            driver,
            database=database,
            service=service,
            kind=kind,
            progress=progress,
            drain_timeout=drain_timeout,
        )
    except RotationStopped as exc:
        if fmt is OutputFormat.json:
            print_json({"done": False, **exc.state.to_dict(), "error": exc.message})
        raise
    if fmt is OutputFormat.json:
        print_json({"done": True, **state.to_dict()})
    else:
        err.print(Text(f"rotated: {state.old_login} -> {state.new_login}", style="bold green"))


def register(app: typer.Typer) -> None:
    """Add this module's command to ``app``."""
    app.command("rotate", rich_help_panel="Deploy")(rotate_cmd)
