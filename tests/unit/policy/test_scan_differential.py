"""The secret scan and the failure-domain analysis give what their direct forms give.

``model_strings`` walks the validated model instead of its JSON dump, and the analysis counts
touched domains once per candidate set; both are compared with the direct computation on the
example, the policy fixtures, generated blueprints and hypothesis-drawn blueprints.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from tests.generative.strategies import blueprints

from attonix.blueprint import BlueprintInvalid, load_bytes, load_file
from attonix.blueprint.model import Blueprint
from attonix.policy.failure_domains import _analyze, _tracked
from attonix.policy.placement import LEVELS
from attonix.policy.secret_scan import model_strings, strings

ROOT = Path(__file__).resolve().parents[3]


def _module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


generate = _module("_attonix_bench_generate_scan", ROOT / "bench" / "generate.py")


def assert_same(bp: Blueprint) -> None:
    assert model_strings(bp) == strings(bp.model_dump(mode="json", by_alias=True))
    items = _tracked(bp)
    direct = [dataclasses.replace(t, rule=None, count_judge=None) for t in items]
    assert any(t.rule is not None for t in items) or not bp.services.backend
    for level in LEVELS:
        for down_only in (False, True):
            fast = _analyze(bp, level, None, items, down_only=down_only)
            slow = _analyze(bp, level, None, direct, down_only=down_only)
            assert fast == slow


@pytest.mark.parametrize(
    "path",
    [
        ROOT / "examples" / "attonixcorp.yaml",
        *sorted((ROOT / "tests" / "fixtures" / "policy").glob("*.yaml")),
    ],
)
def test_files(path: Path) -> None:
    assert_same(load_file(path).blueprint)


@pytest.mark.parametrize(("services", "databases", "hosts"), [(40, 4, 12), (300, 20, 60)])
def test_generated_blueprints(services: int, databases: int, hosts: int) -> None:
    text = generate.generate_blueprint(services, databases=databases, hosts=hosts)
    assert_same(load_bytes(text.encode()).blueprint)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blueprints())
def test_drawn_blueprints(data: dict[str, object]) -> None:
    try:
        loaded = load_bytes(yaml.safe_dump(data).encode())
    except BlueprintInvalid:
        return
    assert_same(loaded.blueprint)
