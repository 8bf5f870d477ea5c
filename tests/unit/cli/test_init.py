"""`attonix init`: a starter blueprint that validates, checks clean and renders for every target."""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attonix.blueprint.loader import load_bytes
from attonix.cli import app
from attonix.render.registry import TARGETS

runner = CliRunner()
STARTER = files("attonix.blueprint").joinpath("starter.yaml").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def starter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("init") / "datacenter.yaml"
    result = runner.invoke(app, ["init", str(path)])
    assert result.exit_code == 0, result.output
    return path


def test_init_writes_the_commented_starter(starter: Path) -> None:
    text = starter.read_text(encoding="utf-8")
    assert text == STARTER
    assert text.startswith("# yaml-language-server: $schema=./blueprint.schema.json\n")
    assert "docs/blueprint-reference.md" in text
    assert sum(line.lstrip().startswith("#") for line in text.splitlines()) >= 20


def test_init_without_a_file_prints_it() -> None:
    for args in (["init"], ["init", "-"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0
        assert result.stdout == STARTER


def test_init_keeps_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "datacenter.yaml"
    path.write_text("mine\n", encoding="utf-8")
    result = runner.invoke(app, ["init", str(path)])
    assert result.exit_code == 2
    assert "exists; nothing was written" in result.stderr and "--force" in result.stderr
    assert path.read_text(encoding="utf-8") == "mine\n"
    assert [p.name for p in tmp_path.iterdir()] == ["datacenter.yaml"]  # no temporary left


def test_init_force_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "datacenter.yaml"
    path.write_text("mine\n", encoding="utf-8")
    result = runner.invoke(app, ["init", str(path), "--force"])
    assert result.exit_code == 0
    assert path.read_text(encoding="utf-8") == STARTER


def test_init_into_a_missing_directory_says_so(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "nope" / "dc.yaml")])
    assert result.exit_code == 3
    assert "cannot write" in result.stderr and "Traceback" not in result.output


def test_starter_validates(starter: Path) -> None:
    result = runner.invoke(app, ["validate", str(starter), "-o", "json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["summary"]
    assert summary == {"hosts": 11, "clusters": 3, "databases": 1, "services": 4}
    kinds = {c.kind for c in load_bytes(STARTER).blueprint.orchestration.clusters}
    assert kinds == {"kubernetes", "swarm", "podman"}


def test_starter_checks_clean(starter: Path) -> None:
    # Not one finding, at any severity: a newcomer's first `check` should not start with noise.
    result = runner.invoke(app, ["check", str(starter), "--fail-on", "info", "-o", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["findings"] == []


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_starter_renders_for_every_target(starter: Path, tmp_path: Path, target: str) -> None:
    # Rendering validates its output (the targets' own schemas) unless told not to.
    result = runner.invoke(
        app, ["render", str(starter), "-t", target, "--output-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != ".attonix-manifest.json"]
    assert written, f"the starter renders nothing for {target}"
