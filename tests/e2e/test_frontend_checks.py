"""The console's own checks, run from pytest so CI runs them: lint, type-check, unit tests, and
the generated API types matching the server's current OpenAPI document."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import FRONTEND, ROOT

pytestmark = pytest.mark.integration


def _npm(*args: str, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    if not (FRONTEND / "node_modules").exists():
        pytest.fail("frontend/node_modules is missing: run scripts/setup.d/40-run-console.sh")
    return subprocess.run(
        ["npm", "run", "--silent", *args],
        cwd=FRONTEND,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize("script", ["lint", "typecheck", "test"])
def test_frontend_script_passes(script: str) -> None:
    proc = _npm(script)
    assert proc.returncode == 0, f"npm run {script} failed:\n{proc.stdout}\n{proc.stderr}"


def test_generated_api_types_match_the_server(tmp_path: Path) -> None:
    """The committed client types are regenerated from the live OpenAPI; any drift fails."""
    dumped = subprocess.run(
        [sys.executable, str(FRONTEND / "scripts" / "dump_openapi.py")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    spec = tmp_path / "openapi.json"
    spec.write_text(dumped)
    committed_spec = json.loads((FRONTEND / "openapi.json").read_text())
    assert json.loads(dumped) == committed_spec, (
        "frontend/openapi.json is stale: run `npm run gen:api` in frontend/ and commit"
    )
    out = tmp_path / "schema.d.ts"
    subprocess.run(
        [str(FRONTEND / "node_modules" / ".bin" / "openapi-typescript"), str(spec), "-o", str(out)],
        cwd=FRONTEND,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    committed = (FRONTEND / "src" / "api" / "schema.d.ts").read_text()
    assert out.read_text() == committed, (
        "frontend/src/api/schema.d.ts differs from the types generated from the server's "
        "OpenAPI: run `npm run gen:api` in frontend/, fix any type errors, and commit"
    )
