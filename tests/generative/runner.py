"""Draw blueprints, check every property, and collect failures (shared by CI and the long run).

``run(count, seed=..., workdir=...)`` draws ``count`` blueprints with a fixed seed, checks the
in-process properties of each (``checks.check_blueprint``), writes the outputs of each batch
under ``workdir`` and runs the real validators once per batch (``checks.check_tree``). A
failing blueprint is kept as ``workdir/failed/<n>.yaml`` beside its problems, so that it can
be rendered again by hand.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, given, seed, settings

from .checks import Problem, check_blueprint, check_tree, load, write
from .strategies import blueprints


@dataclass
class Report:
    """What a run drew, accepted and found."""

    drawn: int = 0
    accepted: int = 0
    refused: int = 0
    problems: list[tuple[int, Problem]] = field(default_factory=list)
    seconds: float = 0.0
    #: Files each real validator checked, and objects the Kubernetes checks saw.
    validated: dict[str, int] = field(default_factory=dict)

    @property
    def failed_blueprints(self) -> int:
        """How many distinct blueprints failed at least one property."""
        return len({n for n, _ in self.problems})

    def summary(self) -> str:
        """One line for humans and logs."""
        return (
            f"{self.drawn} blueprints drawn, {self.accepted} accepted by validate, "
            f"{self.refused} refused, {self.failed_blueprints} failed a property "
            f"({len(self.problems)} problems) in {self.seconds:.0f} s"
        )


def _draw(count: int, seed_value: int, name_limit: int = 63) -> list[dict[str, Any]]:
    drawn: list[dict[str, Any]] = []

    @seed(seed_value)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(blueprints(name_limit=name_limit))
    def collect(doc: dict[str, Any]) -> None:
        drawn.append(doc)

    collect()
    return drawn


def run(
    count: int,
    *,
    seed_value: int,
    workdir: Path,
    batch: int = 50,
    external: bool = True,
    name_limit: int = 63,
    progress: Callable[[Report], None] | None = None,
) -> Report:
    """Draw ``count`` blueprints and check them all; never raises on a failed property."""
    start = time.monotonic()
    report = Report()
    failed_dir = workdir / "failed"
    for first in range(0, count, batch):
        # Each batch is drawn with its own seed, so a long run reports as it goes.
        docs = _draw(min(batch, count - first), seed_value + first, name_limit)
        tree = workdir / "batch"
        shutil.rmtree(tree, ignore_errors=True)
        owners: dict[str, int] = {}
        for n, doc in enumerate(docs, start=first):
            report.drawn += 1
            bp = load(doc)
            if bp is None:
                report.refused += 1
                _keep(failed_dir, n, doc, [Problem("generator", "validate", "refused a draw")])
                continue
            report.accepted += 1
            rendered, problems = check_blueprint(bp)
            for target, artifacts in rendered.items():
                report.validated[f"rendered {target}"] = report.validated.get(
                    f"rendered {target}", 0
                ) + len(artifacts)
            out = tree / f"bp{n}"
            write(rendered, out)
            owners[f"bp{n}"] = n
            report.problems += [(n, p) for p in problems]
            if problems:
                _keep(failed_dir, n, doc, problems)
        if external:
            for p in check_tree(tree, report.validated):
                n = next((owners[k] for k in owners if f"/{k}/" in p.where + p.message), -1)
                report.problems.append((n, p))
                if n >= 0:
                    _keep(failed_dir, n, docs[n - first], [p])
        report.seconds = time.monotonic() - start
        if progress is not None:
            progress(report)
    shutil.rmtree(workdir / "batch", ignore_errors=True)
    report.seconds = time.monotonic() - start
    return report


def _keep(failed_dir: Path, n: int, doc: dict[str, Any], problems: list[Problem]) -> None:
    failed_dir.mkdir(parents=True, exist_ok=True)
    (failed_dir / f"{n}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    with (failed_dir / f"{n}.problems.txt").open("a", encoding="utf-8") as fh:
        fh.writelines(f"{p}\n" for p in problems)
