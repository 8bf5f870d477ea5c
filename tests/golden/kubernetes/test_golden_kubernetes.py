"""Golden files: the rendered Kubernetes tree of each case under this directory.

Review a change, then rewrite them with ``pytest tests/golden/kubernetes --update-golden``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from attonix.blueprint.loader import load_file
from attonix.render import render

HERE = Path(__file__).resolve().parent
CASES = sorted(p.name for p in HERE.iterdir() if (p / "blueprint.yaml").is_file())


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, request: pytest.FixtureRequest) -> None:
    bp = load_file(HERE / case / "blueprint.yaml").blueprint
    got = {a.path: a.text() for a in render(bp, "kubernetes")}
    expected_dir = HERE / case / "expected"
    if request.config.getoption("--update-golden"):
        shutil.rmtree(expected_dir, ignore_errors=True)
        for rel, text in got.items():
            dest = expected_dir / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text, encoding="utf-8")
    want = {
        p.relative_to(expected_dir).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(expected_dir.rglob("*"))
        if p.is_file()
    }
    assert sorted(got) == sorted(want), "files differ; rerun with --update-golden after review"
    for rel in sorted(got):
        assert got[rel] == want[rel], f"{rel} differs; rerun with --update-golden after review"
