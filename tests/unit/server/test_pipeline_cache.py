"""A blueprint's load, findings and renders are computed once per content hash and reused
(identical re-upload, another environment, later reads), and recomputed when the Attonix
version or the policy configuration changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from attonix.server import environments, pipeline
from attonix.server.audit import Actor
from attonix.server.context import ServerContext

# A valid blueprint with policy findings (so cached findings are compared, not empty lists).
EXAMPLE = (Path(__file__).resolve().parents[2] / "fixtures" / "policy" / "fragile.yaml").read_text()
ALICE = Actor("alice")


def _computed() -> dict[str, int]:
    stats = pipeline.cache_stats()
    return {kind: stats[kind]["computed"] for kind in ("load", "findings", "render")}


def _delta(before: dict[str, int]) -> dict[str, int]:
    return {kind: n - before[kind] for kind, n in _computed().items()}


def test_identical_content_is_computed_once(ctx: ServerContext) -> None:
    pipeline.clear_cache()
    for name in ("prod", "stage"):
        environments.create_environment(ctx, name=name, actor=ALICE)
    before = _computed()
    first = environments.upload(ctx, environment="prod", source=EXAMPLE, actor=ALICE)
    assert _delta(before) == {"load": 1, "findings": 1, "render": 0}
    # The same text again, and in another environment: nothing is recomputed.
    again = environments.upload(ctx, environment="prod", source=EXAMPLE, actor=ALICE)
    other = environments.upload(ctx, environment="stage", source=EXAMPLE, actor=ALICE)
    assert _delta(before) == {"load": 1, "findings": 1, "render": 0}
    assert first.version.findings == again.version.findings == other.version.findings
    assert first.version.findings, "the example has findings: the cached list is compared"
    # Renders too: the second listing of a target reuses the first.
    files = environments.rendered_files(ctx, "prod", 1, "kubernetes")
    assert environments.rendered_files(ctx, "stage", 1, "kubernetes") == files
    assert _delta(before) == {"load": 1, "findings": 1, "render": 1}
    # A changed text is new content.
    environments.upload(ctx, environment="prod", source=EXAMPLE + "\n# edited\n", actor=ALICE)
    assert _delta(before) == {"load": 2, "findings": 2, "render": 1}


def test_a_new_version_or_policy_configuration_recomputes(
    ctx: ServerContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline.clear_cache()
    loaded = pipeline.load(EXAMPLE, filename="datacenter.yaml")
    found = pipeline.findings(loaded)
    before = _computed()
    assert pipeline.findings(pipeline.load(EXAMPLE, filename="datacenter.yaml")) == found
    assert _delta(before) == {"load": 0, "findings": 0, "render": 0}
    # The policy configuration: without the rule behind the first finding, it is gone.
    rule = found[0]["rule"]
    monkeypatch.setattr(pipeline, "RULES", tuple(r for r in pipeline.RULES if r.id != rule))
    fewer = pipeline.findings(pipeline.load(EXAMPLE, filename="datacenter.yaml"))
    assert _delta(before) == {"load": 0, "findings": 1, "render": 0}
    assert rule not in {f["rule"] for f in fewer}
    # Another Attonix version: everything is new.
    monkeypatch.setattr(pipeline, "__version__", "99.0.0")
    pipeline.findings(pipeline.load(EXAMPLE, filename="datacenter.yaml"))
    assert _delta(before) == {"load": 1, "findings": 2, "render": 0}
