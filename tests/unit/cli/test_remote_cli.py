"""The remote commands offline: every example in their help, in the README and in docs/cli.md
parses; usage errors exit 2 and missing contexts exit 3 with what to do; building the command
line imports no client, httpx or server."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from typer.core import TyperGroup
from typer.main import get_command
from typer.testing import CliRunner

from attonix.cli import app

ROOT = Path(__file__).resolve().parents[3]
REMOTE = ("login", "logout", "context", "blueprint", "findings", "deployment", "audit log")


def _examples() -> list[str]:
    """``attonix …`` lines from the remote commands' help, the README and docs/cli.md."""
    lines: list[str] = []
    root = get_command(app)
    assert isinstance(root, TyperGroup)
    for name, cmd in root.commands.items():
        subs = cmd.commands.items() if isinstance(cmd, TyperGroup) else [("", cmd)]
        for sub, c in subs:
            if f"{name} {sub}".strip().startswith(REMOTE):
                lines += re.findall(r"^\s+(attonix .+)$", c.help or "", re.M)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Use the Central Server from the CLI") :]
    docs = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    docs = docs[docs.index("## Use a Central Server") :]
    for text in (section[: section.index("\n## ")], docs):
        for block in re.findall(r"```sh\n(.*?)```", text, re.S):
            lines += [ln for ln in block.splitlines() if ln.startswith("attonix ")]
    return lines


EXAMPLES = _examples()


def test_there_are_examples_for_every_remote_command() -> None:
    said = " ".join(EXAMPLES)
    for verb in (
        "login", "logout", "context list", "context use", "context set", "context current",
        "context delete", "blueprint upload", "blueprint list", "blueprint diff", "findings",
        "deployment request", "deployment approve", "deployment watch", "audit log",
    ):  # fmt: skip
        assert f"attonix {verb}" in said, verb


@pytest.mark.parametrize("line", EXAMPLES)
def test_example_parses(line: str) -> None:
    args = shlex.split(line.split("  #", 1)[0].split(" < ", 1)[0].split(" | ", 1)[0])[1:]
    cmd = get_command(app)
    while isinstance(cmd, TyperGroup):
        name, args = args[0], args[1:]
        assert name in cmd.commands, line
        cmd = cmd.commands[name]
    ctx = cmd.make_context("attonix", list(args))  # raises a UsageError on a bad option
    assert ctx.params


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("ATTONIX_CONFIG", str(tmp_path / "config.yaml"))
    monkeypatch.delenv("ATTONIX_CONTEXT", raising=False)
    return CliRunner()


@pytest.mark.parametrize(
    "args",
    [
        ["login", "https://attonix.example/api/v1"],
        ["login", "ftp://attonix.example"],
        ["login", "https://attonix.example", "--token", "-u", "ada"],
        ["deployment", "request", "-t", "mainframe"],
        ["deployment", "approve", "0"],
        ["blueprint", "diff", "x.yaml", "--to", "3"],
        ["audit", "log", "-o", "xml"],
        ["context", "set"],
    ],
)
def test_usage_errors_exit_2(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, (args, result.output)
    assert "Traceback" not in result.output


def test_without_a_context_the_user_is_told_to_log_in(runner: CliRunner) -> None:
    result = runner.invoke(app, ["blueprint", "list"])
    assert result.exit_code == 3
    assert "error: no Central Server context is in use" in result.stderr
    assert "attonix login https://SERVER" in result.stderr
    assert json.loads(runner.invoke(app, ["context", "list", "-o", "json"]).stdout) == []


def test_a_context_without_an_environment_asks_for_one(runner: CliRunner, tmp_path: Path) -> None:
    from attonix.client.config import Config, Context, Credentials

    config = Config(path=tmp_path / "config.yaml")
    config.put(Context("lab", "http://127.0.0.1:9", credentials=Credentials("session", "t")))
    config.current = "lab"
    config.save()
    result = runner.invoke(app, ["findings"])
    assert result.exit_code == 2
    assert "context 'lab' has none and -e was not given" in result.stderr
    assert runner.invoke(app, ["context", "set", "--env", "prod"]).exit_code == 0
    assert Config.load(config.path).contexts["lab"].environment == "prod"
    assert runner.invoke(app, ["context", "delete", "lab"]).exit_code == 0
    assert Config.load(config.path).contexts == {}


def test_building_the_command_line_imports_no_client() -> None:
    code = (
        "import sys; import attonix.cli; "
        "print([m for m in ('httpx', 'attonix.client', 'attonix.server', 'fastapi') "
        "if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
