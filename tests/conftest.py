"""Shared fixtures: paths to the repository, the example blueprint and the shared test data."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "attonixcorp.yaml"


@pytest.fixture(scope="session")
def example_path() -> Path:
    """The Attonixcorp example blueprint."""
    return EXAMPLE


@pytest.fixture(scope="session")
def example_text() -> str:
    """The example blueprint's text."""
    return EXAMPLE.read_text(encoding="utf-8")


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--update-golden`` rewrites the golden files of renderer tests after review."""
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="Rewrite golden files and the docs' screenshots (review the diff).",
    )
