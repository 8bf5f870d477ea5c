"""What a command imports decides how fast it starts: each command loads only its own layers.

Timing tests would be flaky on a shared machine; the set of modules a fresh process has loaded
when it exits is not. (Figures: bench/bench_cli.py.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

# Runs the real entry point in a fresh interpreter, then prints the loaded module names.
_PROBE = """
import atexit, json, sys
atexit.register(lambda: sys.__stderr__.write("MODULES " + json.dumps(sorted(sys.modules))))
sys.argv = ["attonix", *sys.argv[1:]]
from attonix._start import main
main()
"""


def _modules_after(*argv: str) -> tuple[set[str], str]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    marker = result.stderr.rindex("MODULES ")
    return set(json.loads(result.stderr[marker + len("MODULES ") :])), result.stdout


def _roots(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_version_imports_no_cli_framework_and_no_model() -> None:
    modules, out = _modules_after("--version")
    assert out.startswith("attonix ")
    assert not {"typer", "click", "rich", "pydantic", "pydantic_core", "yaml"} & _roots(modules)
    assert not {m for m in modules if m.startswith("attonix.") and m != "attonix._start"} - {
        "attonix.errors"
    }


def test_validate_loads_the_blueprint_layer_only(example_path: Path) -> None:
    modules, out = _modules_after("validate", str(example_path))
    assert out.startswith("valid: ")
    assert "attonix.blueprint.loader" in modules
    assert not {"rich", "fastapi", "sqlalchemy", "httpx", "jinja2"} & _roots(modules)
    heavier = ("attonix.policy", "attonix.render", "attonix.deploy", "attonix.server")
    assert not [m for m in modules if m.startswith(heavier)]
