"""Fixtures for the database provisioning tests: throwaway TLS servers and a blueprint."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from _clusters import PG_BIN, MariaServer, PgServer, running_pg, start_mariadb, temp_base

FIXTURE = Path(__file__).parents[2] / "fixtures" / "databases" / "shop-db.yaml"

#: Plaintext is refused for the TLS database only; everything else needs a SCRAM password.
PG_HBA = [
    "local all all scram-sha-256",
    "hostnossl atx_orders all 127.0.0.1/32 reject",
    "hostnossl atx_ledger all 127.0.0.1/32 reject",  # test_rotation_engine.py
    "host all all 127.0.0.1/32 scram-sha-256",
]


@pytest.fixture(scope="module")
def pg_server() -> Iterator[PgServer]:
    if not (PG_BIN / "initdb").exists():
        pytest.skip(
            "PostgreSQL 15 server binaries are not installed (scripts/setup.d/30-databases.sh)"
        )
    with running_pg("attonix-dbtest-pg-", hba=PG_HBA) as server:
        yield server


@pytest.fixture(scope="module")
def maria_server() -> Iterator[MariaServer]:
    if shutil.which("mariadb-install-db") is None:
        pytest.skip("MariaDB is not installed (scripts/setup.d/30-databases.sh)")
    with temp_base("attonix-dbtest-maria-") as base:
        server = start_mariadb(base)
        try:
            yield server
        finally:
            server.stop()
