"""The README's examples are executed: the tour's commands succeed and the error example is
what Attonix really prints."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from attonix.cli import app
from attonix.render.registry import TARGETS

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
runner = CliRunner()


def _block_after(marker: str) -> list[str]:
    start = README.index("```", README.index(marker))
    body = README[README.index("\n", start) + 1 : README.index("```", start + 3)]
    return body.rstrip("\n").splitlines()


TOUR = [
    line.split("#", 1)[0].strip()
    for line in _block_after("## A tour")
    if line.startswith("attonix ")
]


def test_the_tour_has_the_main_commands() -> None:
    verbs = [shlex.split(c)[1] for c in TOUR]
    assert verbs == ["validate", "check", "rules", "ha", "render", "render", "render", "schema"]


@pytest.mark.parametrize("command", TOUR)
def test_tour_command_succeeds(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    args = shlex.split(command.replace("out/", f"{tmp_path}/"))[1:]
    if ">" in args:
        args = args[: args.index(">")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    if args[0] == "render":
        targets = [args[i + 1] for i, a in enumerate(args) if a == "-t"]
        assert any(tmp_path.rglob("*.svg" if "diagram" in targets else "*.y*ml"))
    if args[0] == "check":
        assert "no findings" in result.output
    if args[0] == "ha":
        assert "survives the loss of any single zone" in result.output


def test_tour_renders_every_target_into_one_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tour's renders, in order, into one directory: none removes another's files, every
    target is there, and kubectl kustomize builds the Kubernetes tree."""
    monkeypatch.chdir(ROOT)
    rendered: list[str] = []
    for command in TOUR:
        args = shlex.split(command.replace("out/", f"{tmp_path}/"))[1:]
        if args[0] != "render":
            continue
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        rendered += [args[i + 1] for i, a in enumerate(args) if a == "-t"]
    names = {"k8s": "kubernetes"}
    assert sorted(names.get(t, t) for t in rendered) == sorted(TARGETS)
    for top in ("k8s-prod", "diagram", "swarm", "podman", "cloud-init", "nftables", "chef"):
        assert any(p.is_file() for p in (tmp_path / top).rglob("*")), top
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is required (scripts/setup.d installs it)"
    built = subprocess.run(
        [kubectl, "kustomize", str(tmp_path / "k8s-prod")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    assert built.stdout.count("\nkind: ") > 100


def test_error_example_is_real(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (ROOT / "examples" / "attonixcorp.yaml").read_text(encoding="utf-8")
    text = text.replace("    engine: mysql", "    engin: mysql", 1)
    text = re.sub(r"(primary: true\n(?:    .*\n)*?    replicas: )3\n", r"\1three\n", text, count=1)
    (tmp_path / "dc.yaml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "300")
    result = runner.invoke(app, ["validate", "dc.yaml"])
    assert result.exit_code == 1
    shown = _block_after("A broken blueprint is reported")
    printed = result.stderr.splitlines()
    assert len(printed) == len(shown)
    for want, got in zip(shown, printed, strict=True):
        assert got.startswith(want.removesuffix("...").rstrip()), (want, got)
