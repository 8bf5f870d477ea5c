"""The CLI's kubectl/helm/terraform habits, as a user meets them: -f FILE and - for stdin,
-o for formats, --output-dir for trees, one exit-code table, examples in every help, target
aliases, the old spellings kept with a warning, every missing secret in one run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.core import TyperGroup
from typer.main import get_command
from typer.testing import CliRunner

from attonix.cli import _options, app

ROOT = Path(__file__).resolve().parents[3]
SHOP = ROOT / "tests" / "fixtures" / "deploy" / "shop.yaml"
FRAGILE = ROOT / "tests" / "fixtures" / "policy" / "fragile.yaml"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _commands() -> list[tuple[str, object]]:
    root = get_command(app)
    assert isinstance(root, TyperGroup)
    out: list[tuple[str, object]] = []
    for name, cmd in root.commands.items():
        if isinstance(cmd, TyperGroup):
            out += [(f"{name} {sub}", c) for sub, c in cmd.commands.items()]
        else:
            out.append((name, cmd))
    return out


@pytest.mark.parametrize("command", [name for name, _ in _commands()])
def test_every_help_has_examples_and_no_bool_metavar(runner: CliRunner, command: str) -> None:
    result = runner.invoke(app, [*command.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert "Examples:\n    attonix " in result.stdout, result.stdout
    assert "<bool>" not in result.stdout


def test_root_help_groups_commands_and_states_exit_codes(runner: CliRunner) -> None:
    out = runner.invoke(app, ["--help"]).stdout
    for panel in ("Blueprint:", "Render:", "Deploy:", "Central Server:"):
        assert f"\n{panel}\n" in out
    assert "<bool>" not in out
    assert "2\n  usage error" in out or "2 usage" in out.replace("\n  ", " ")


def test_target_lists_match_the_registries() -> None:
    from attonix.deploy import DRIVERS
    from attonix.render import TARGETS

    assert tuple(TARGETS) == _options.RENDER_TARGETS
    assert set(_options.DEPLOY_TARGETS) == set(DRIVERS)
    assert set(_options.ALIASES.values()) <= set(TARGETS) | set(DRIVERS)


@pytest.mark.parametrize("command", ["validate", "check", "ha"])
def test_blueprint_as_file_option_and_from_stdin(
    runner: CliRunner, command: str, example_path: Path, example_text: str
) -> None:
    positional = runner.invoke(app, [command, str(example_path), "-o", "json"])
    by_flag = runner.invoke(app, [command, "-f", str(example_path), "-o", "json"])
    piped = runner.invoke(app, [command, "-", "-o", "json"], input=example_text)
    piped_flag = runner.invoke(app, [command, "-f", "-", "-o", "json"], input=example_text)
    assert positional.exit_code == by_flag.exit_code == piped.exit_code == piped_flag.exit_code == 0
    assert json.loads(positional.stdout) == json.loads(by_flag.stdout)
    from_stdin = json.loads(piped.stdout)
    assert from_stdin.get("file") == "<stdin>"
    assert json.loads(piped_flag.stdout) == from_stdin


def test_stdin_problems_name_stdin(runner: CliRunner, example_text: str) -> None:
    bad = example_text.replace("kind: swarm", "kind: swam", 1)
    result = runner.invoke(app, ["validate", "-"], input=bad)
    assert result.exit_code == 1
    assert "<stdin>:" in result.stderr and "error[BP012]" in result.stderr


def test_render_reads_stdin_and_takes_an_alias(
    runner: CliRunner, tmp_path: Path, example_text: str
) -> None:
    result = runner.invoke(
        app, ["render", "-", "-t", "k8s", "--output-dir", str(tmp_path)], input=example_text
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "k8s-prod" / "kustomization.yaml").is_file()
    as_json = runner.invoke(
        app,
        ["render", "-", "-t", "kubernetes", "-o", "json", "--output-dir", str(tmp_path / "j")],
        input=example_text,
    )
    assert as_json.exit_code == 0, as_json.output
    assert list((tmp_path / "j").rglob("*.json"))


def test_two_different_blueprints_is_a_usage_error(runner: CliRunner, example_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(example_path), "-f", str(FRAGILE)])
    assert result.exit_code == 2 and "two blueprints" in result.stderr
    assert runner.invoke(app, ["validate"]).exit_code == 2


def test_yaml_output_is_the_json_document(runner: CliRunner) -> None:
    as_json = json.loads(runner.invoke(app, ["check", str(FRAGILE), "-o", "json"]).stdout)
    as_yaml = yaml.safe_load(runner.invoke(app, ["check", str(FRAGILE), "-o", "yaml"]).stdout)
    assert as_yaml == as_json
    rules = yaml.safe_load(runner.invoke(app, ["rules", "-o", "yaml"]).stdout)
    assert rules[0]["id"] == "ATX001"


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "{bp}", "-o", "xml"],
        ["check", "{bp}", "-o", "html", "--output-file", "x"],
        ["check", "{bp}", "--fail-on", "sometimes"],
        ["ha", "{bp}", "-o", "xml"],
        ["ha", "{bp}", "--fail", "nowhere"],
        ["rules", "-o", "xml"],
        ["rules", "--explain", "ATX999"],
        ["render", "{bp}", "-t", "mainframe"],
        ["render", "{bp}"],
        ["render", "{bp}", "-t", "k8s", "-o", "toml", "--output-dir", "x"],
        ["plan", "{bp}", "-t", "mainframe"],
        ["plan", "{bp}"],
        ["status", "{bp}", "-t", "swarm", "-o", "xml"],
        ["destroy", "{bp}", "-t", "openstack"],
        ["users", "list", "-o", "xml"],
        ["console", "--api-url", "file:///etc"],
        ["validate", "--no-such-option"],
    ],
)
def test_usage_errors_exit_2_everywhere(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(app, [a.replace("{bp}", str(SHOP)) for a in args])
    assert result.exit_code == 2, (args, result.output)
    assert "Traceback" not in result.output


def test_old_spellings_still_work_with_a_warning(
    runner: CliRunner, tmp_path: Path, example_path: Path
) -> None:
    old = runner.invoke(app, ["validate", str(example_path), "--format", "json"])
    assert old.exit_code == 0 and json.loads(old.stdout)["valid"] is True
    assert "--format json is deprecated" in old.stderr and "-o json" in old.stderr
    short = runner.invoke(app, ["check", str(example_path), "-f", "json"])
    assert short.exit_code == 0 and json.loads(short.stdout)["findings"] == []
    assert "deprecated" in short.stderr
    report = tmp_path / "r.sarif"
    check = runner.invoke(app, ["check", str(FRAGILE), "--format", "sarif", "-o", str(report)])
    assert check.exit_code == 1
    assert json.loads(report.read_text())["version"] == "2.1.0"
    assert f"--output-file {report}" in check.stderr
    tree = tmp_path / "tree"
    render = runner.invoke(app, ["render", str(example_path), "-t", "swarm", "-o", str(tree)])
    assert render.exit_code == 0, render.output
    assert any(tree.rglob("*.yaml")) and f"--output-dir {tree}" in render.stderr


def test_missing_secrets_are_all_reported_in_one_run(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in [v for v in __import__("os").environ if v.startswith("ATTONIX_SECRET_")]:
        monkeypatch.delenv(var)
    result = runner.invoke(app, ["plan", str(SHOP), "-t", "swarm"])
    assert result.exit_code == 3, result.output
    err = result.stderr
    assert "ATTONIX_SECRET_API_TOKEN_TOKEN" in err
    assert "ATTONIX_SECRET_DB_CREDENTIALS_USERNAME" in err
    assert "ATTONIX_SECRET_DB_CREDENTIALS_PASSWORD" in err
    assert "2 secrets have no value" in err
