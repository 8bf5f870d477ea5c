"""One throwaway Ceph cluster for the Ceph driver's tests (scripts/setup.d/32-ceph.sh)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _cluster import CephCluster, running


@pytest.fixture(scope="module")
def ceph_cluster() -> Iterator[CephCluster]:
    if shutil.which("ceph-mon") is None or shutil.which("radosgw") is None:
        pytest.skip("Ceph is not installed (scripts/setup.d/32-ceph.sh)")
    with running() as cluster:
        yield cluster
