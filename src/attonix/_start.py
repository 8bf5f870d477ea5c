"""The `attonix` process's entry point: answers `--version` before importing the CLI.

Typer, and the pydantic it builds parameter adapters with, take most of a bare start; a user
asking only for the version (or a script probing for the tool) should not wait for them.
"""

import sys

from attonix import __version__


def main() -> None:
    """Console-script entry point: the version at once, anything else through the CLI."""
    if sys.argv[1:] == ["--version"]:
        sys.stdout.write(f"attonix {__version__}\n")
        return
    from attonix.cli import main as cli_main  # noqa: PLC0415 - the point of this module

    cli_main()
