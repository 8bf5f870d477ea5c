"""`attonix rotate`: replace one service's database login without losing a query."""

from __future__ import annotations

from typing import Annotated

import typer

from attonix.cli._common import (
    blueprint_source,
    guarded,
    load_or_exit,
    output_choice,
    print_document,
    split_legacy_file_flag,
    stderr,
)
from attonix.cli._options import FileArg, FileOpt, LegacyFormat, output_option

ROTATE_FORMATS = ("text", "json", "yaml")


@guarded
def rotate_cmd(
    file: FileArg = None,
    file_opt: FileOpt = None,
    database: Annotated[
        str, typer.Option("--database", "-d", metavar="NAME", help="A declared database.")
    ] = "",
    service: Annotated[
        str, typer.Option("--service", "-s", metavar="NAME", help="A service that uses it.")
    ] = "",
    kind: Annotated[
        str, typer.Option("--kind", "-k", metavar="KIND", help="owner, app or readonly.")
    ] = "app",
    drain_timeout: Annotated[
        float,
        typer.Option(
            "--drain-timeout",
            metavar="SECONDS",
            help="Seconds to wait for the old login's sessions to end.",
        ),
    ] = 60.0,
    secrets_file: Annotated[
        str | None,
        typer.Option(
            "--secrets-file",
            metavar="PATH",
            help="YAML/JSON file {secret: {key: value}} (mode 600).",
        ),
    ] = None,
    switch: Annotated[
        bool,
        typer.Option(
            "--switch/--no-switch",
            help="Roll the service on its Swarm, Podman or Kubernetes cluster onto the new login "
            "before the old one is dropped (default), or leave the consumers to reread it.",
        ),
    ] = True,
    output: Annotated[str | None, output_option(ROTATE_FORMATS, "text")] = None,
    legacy_format: LegacyFormat = None,
) -> None:
    """Rotate a database login in two phases: new login, consumers switched, old login dropped.

    The switch makes the new login current and rolls the service on its Swarm, Podman or
    Kubernetes cluster onto it (a new secret version, a rolling update, verified converged);
    the old login is dropped only after that, once no session uses it.

    Each step is recorded; if the rotation stops (the old login still has sessions, a server
    is down) run the same command again and it resumes where it stopped. Exit 0 when rotated,
    2 on a usage error, 3 when the rotation stopped.

    \b
    Examples:
      attonix rotate datacenter.yaml -d pg-main -s api
      attonix rotate -f datacenter.yaml -d pg-main -s api --kind readonly -o json
    """
    from rich.text import Text  # noqa: PLC0415

    from attonix.cli._common import usage  # noqa: PLC0415
    from attonix.deploy import (  # noqa: PLC0415
        ChainSecretSource,
        EnvSecretSource,
        FileSecretSource,
        SecretSource,
    )
    from attonix.deploy.consumers import switch_consumers  # noqa: PLC0415
    from attonix.deploy.databases import DatabaseDriver  # noqa: PLC0415
    from attonix.deploy.databases.rotation import RotationStopped, rotate  # noqa: PLC0415

    file_opt, old = split_legacy_file_flag(file, file_opt, formats=ROTATE_FORMATS)
    fmt = output_choice(output, choices=ROTATE_FORMATS, default="text", legacy=legacy_format or old)
    if not database or not service:
        usage("--database and --service are required", hint="attonix rotate FILE -d DB -s SERVICE")
    bp = load_or_exit(blueprint_source(file, file_opt)).blueprint
    source: SecretSource = EnvSecretSource(bp.security.secrets)
    if secrets_file:
        source = ChainSecretSource(FileSecretSource(secrets_file, bp.security.secrets), source)
    driver = DatabaseDriver(bp, cluster=database, secrets=source)
    err = stderr()

    def progress(message: str) -> None:
        err.print(Text(f"  {message}", style="dim"))

    def roll(_credential: str, _values: dict[str, str]) -> None:
        switch_consumers(bp, service, kind, secrets=source, progress=progress)

    try:
        state = rotate(
            driver,
            database=database,
            service=service,
            kind=kind,
            progress=progress,
            drain_timeout=drain_timeout,
            switch=roll if switch else None,
        )
    except RotationStopped as exc:
        if fmt != "text":
            print_document({"done": False, **exc.state.to_dict(), "error": exc.message}, fmt)
        raise
    if fmt != "text":
        print_document({"done": True, **state.to_dict()}, fmt)
    else:
        err.print(Text(f"rotated: {state.old_login} -> {state.new_login}", style="bold green"))


def register(app: typer.Typer) -> None:
    """Add this module's command to ``app``."""
    app.command("rotate", rich_help_panel="Deploy")(rotate_cmd)
