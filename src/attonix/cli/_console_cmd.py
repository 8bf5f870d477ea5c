"""`attonix console`: the command; the static file server lives in ``_console`` and is
imported only when the command runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from attonix.cli._common import EXIT_USAGE, fail, stderr

DEFAULT_API_URL = "http://127.0.0.1:8080"


def console(
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, metavar="PORT", help="Port to listen on.")
    ] = 8081,
    host: Annotated[
        str, typer.Option("--host", metavar="ADDRESS", help="Address to listen on.")
    ] = "127.0.0.1",
    api_url: Annotated[
        str,
        typer.Option(
            "--api-url",
            metavar="URL",
            envvar="ATTONIX_CONSOLE_API_URL",
            help="Base URL of the Central Server's API, as the browser reaches it.",
        ),
    ] = DEFAULT_API_URL,
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            metavar="DIR",
            envvar="ATTONIX_CONSOLE_DIR",
            help="The built console (default: frontend/dist of this checkout).",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No access log.")] = False,
) -> None:
    """Serve the web console on its own origin; it talks to the API at --api-url.

    Start the API with `attonix serve` and allow this console's origin there
    (ATTONIX_CORS_ORIGINS, default http://127.0.0.1:8081).

    \b
    Examples:
      attonix console
      attonix console --port 9000 --api-url https://api.example.com
    """
    from attonix.cli._console import api_origin, default_console_dir, make_server  # noqa: PLC0415

    root = directory or default_console_dir()
    try:
        api_origin(api_url)
    except ValueError as exc:
        fail(str(exc), hint="Pass --api-url http://HOST:PORT", code=EXIT_USAGE)
    try:
        server = make_server(root=root, api_url=api_url, host=host, port=port, quiet=quiet)
    except FileNotFoundError:
        fail(
            f"the console is not built: {root / 'index.html'} is missing",
            hint="Run `scripts/setup.d/40-console.sh` (or `npm ci && npm run build` in "
            "frontend/), or point --dir / ATTONIX_CONSOLE_DIR at a build.",
        )
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    bound_host, bound_port = server.server_address[:2]
    stderr().print(
        f"Attonix console on http://{bound_host!s}:{bound_port} (API {api_url})",
        markup=False,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def register(app: typer.Typer) -> None:
    """Add ``console`` to ``app``."""
    app.command("console", rich_help_panel="Central Server")(console)
