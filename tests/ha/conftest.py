"""The HA cluster fixture (one per run: starting it costs ~15-30 s) and the figures record.

Every fault-injection test records its numbers with the ``figures`` fixture; they are printed
at the end of the run and written as JSON to ``$ATTONIX_HA_RESULTS`` when that is set.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import harness

FIGURES: dict[str, dict[str, Any]] = {}


def _missing() -> str:
    if os.geteuid() != 0:
        return "the HA harness runs PostgreSQL as the postgres user: run as root"
    for tool in ("haproxy", "runuser"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (scripts/setup.d/23-host-tools.sh)"
    if not (harness.PG_BIN / "initdb").exists():
        return (
            f"no PostgreSQL server binaries in {harness.PG_BIN} (scripts/setup.d/30-databases.sh)"
        )
    return ""


@pytest.fixture(scope="session")
def ha() -> Iterator[harness.Cluster]:
    """Postgres primary + standby, three API replicas, two workers, HAProxy (lb-edge)."""
    if reason := _missing():
        pytest.fail(reason)
    with harness.cluster() as c:
        yield c


@pytest.fixture(scope="session")
def admin_token(ha: harness.Cluster) -> str:
    """An administrator's access token, signed in through the load balancer."""
    secret = ha.user("ha-admin", admin=True)
    return harness.login(harness.LB_URL, "ha-admin", secret=secret, client_ip="192.0.2.200")


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Callable[..., None]:
    """Record a test's figures under its name."""

    def record(**values: Any) -> None:
        FIGURES.setdefault(request.node.name, {}).update(values)

    return record


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the recorded figures (and write them where ATTONIX_HA_RESULTS says)."""
    if not FIGURES:
        return
    terminalreporter.section("HA figures")
    for name, values in FIGURES.items():
        terminalreporter.write_line(f"{name}: {json.dumps(values, sort_keys=True)}")
    if out := os.environ.get("ATTONIX_HA_RESULTS"):
        Path(out).write_text(json.dumps(FIGURES, indent=2, sort_keys=True) + "\n")
