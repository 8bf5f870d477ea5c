"""``desired()`` of the Swarm, Podman and Kubernetes drivers hands out copies: a caller that
edits the returned list or the files in it changes neither what a later ``desired()`` returns
nor the desired state the driver plans and applies from (tests/integration/deploy/test_swarm.py
shows the same against a live swarm's plan)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from attonix.blueprint import load_file
from attonix.deploy import EnvSecretSource, get_driver
from attonix.render.base import Artifact

FIXTURES = Path(__file__).parents[2] / "fixtures" / "deploy"
CASES = {
    "swarm": "shop.yaml",
    "podman": "shop-podman.yaml",
    "kubernetes": "shop-kubernetes.yaml",
}


def _vandalise(content: Any) -> None:
    """Change every mapping and list in ``content`` in place, however deep."""
    if isinstance(content, dict):
        for value in content.values():
            _vandalise(value)
        content["vandalised"] = True
    elif isinstance(content, list):
        for item in content:
            _vandalise(item)
        content.append("vandalised")


@pytest.mark.parametrize("target", sorted(CASES))
def test_editing_what_desired_returns_leaves_the_plan_alone(target: str, tmp_path: Path) -> None:
    bp = load_file(FIXTURES / CASES[target]).blueprint
    driver = get_driver(target, bp, secrets=EnvSecretSource(bp.security.secrets, environ={}))
    driver._state = tmp_path  # type: ignore[attr-defined]
    state = driver.desired_state()  # type: ignore[attr-defined]
    files = copy.deepcopy(list(state.files))
    manifests = copy.deepcopy(list(state.manifests))
    specs = {w.name: copy.deepcopy(dict(w.spec)) for w in state.workloads}
    assert files and any(isinstance(a.content, dict | list) for a in files)

    handed = driver.desired()
    assert handed == files
    for a in handed:
        _vandalise(a.content)
    handed.append(Artifact(target, "extra.yaml", {"kind": "Extra"}))
    handed.pop(0)

    assert driver.desired_state() is state  # still the one rendering, unchanged
    assert list(state.files) == files
    assert list(state.manifests) == manifests
    assert {w.name: dict(w.spec) for w in state.workloads} == specs
    assert driver.desired() == files
