"""Blueprints for policy tests: the example, edited as data and written back as real YAML."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from attonix.blueprint import Loaded, load_file

TODAY = dt.date(2026, 6, 1)

Mutate = Callable[[dict[str, Any]], object]


@pytest.fixture(scope="session")
def example_data(example_path: Path) -> dict[str, Any]:
    """The example blueprint as plain data (never mutate it: copy first)."""
    data: dict[str, Any] = yaml.safe_load(example_path.read_text(encoding="utf-8"))
    return data


@pytest.fixture
def today() -> dt.date:
    """The fixed 'today' of policy tests."""
    return TODAY


@pytest.fixture
def build(
    tmp_path: Path, example_data: dict[str, Any]
) -> Callable[[Mutate], tuple[Loaded, list[str]]]:
    """Edit a copy of the example, write it as block YAML, load it; return it and its lines."""

    def make(mutate: Mutate) -> tuple[Loaded, list[str]]:
        data = copy.deepcopy(example_data)
        mutate(data)
        path = tmp_path / "datacenter.yaml"
        text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=200)
        path.write_text(text, encoding="utf-8")
        return load_file(path), text.splitlines()

    return make
