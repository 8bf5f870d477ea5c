"""The replication check on a real primary and streaming standby (PostgreSQL 15, loopback).

``status`` reads pg_stat_replication and synchronous_standby_names from the primary and judges
them against the declared replicas and synchronous_replicas.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from _clusters import PG_BIN, PRIMARY_HBA, PgServer, start_pg, start_standby, temp_base

from attonix.blueprint import Blueprint, load_file
from attonix.deploy import EnvSecretSource
from attonix.deploy.base import ServiceStatus
from attonix.deploy.databases import DatabaseDriver
from conftest import FIXTURE

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[PgServer, PgServer]]:
    if not (PG_BIN / "pg_basebackup").exists():
        pytest.skip("PostgreSQL 15 server binaries are not installed")
    with temp_base("attonix-dbtest-repl-") as base:
        primary = start_pg(base, hba=PRIMARY_HBA, name="primary")
        standby = None
        try:
            standby = start_standby(base, primary, name="standby1")
            yield primary, standby
        finally:
            if standby is not None:
                standby.stop()
            primary.stop()


def status(pg: PgServer, tmp: Path, *, replicas: int, sync: int) -> ServiceStatus:
    bp: Blueprint = load_file(FIXTURE).blueprint
    dbs = [
        d.model_copy(update={"replicas": replicas, "synchronous_replicas": sync})
        if d.name == "orders-pg"
        else d
        for d in bp.databases
    ]
    bp = bp.model_copy(update={"databases": dbs})
    (tmp / "connections.yaml").write_text(
        f"databases:\n  orders-pg: {{host: 127.0.0.1, port: {pg.port}, sslmode: require}}\n"
    )
    secrets = EnvSecretSource(
        bp.security.secrets,
        environ={
            "ATTONIX_SECRET_PG_ADMIN_USERNAME": pg.superuser,
            "ATTONIX_SECRET_PG_ADMIN_PASSWORD": pg.password,
        },
    )
    drv = DatabaseDriver(bp, cluster="orders-pg", secrets=secrets, state=tmp)
    if not drv.plan().is_empty:
        assert drv.apply(drv.plan()).ok
    (st,) = drv.status()
    return st


def wait_streaming(primary: PgServer, *, sync: str | None = None) -> None:
    for _ in range(100):
        with psycopg.connect(primary.dsn(), autocommit=True) as conn:
            rows = conn.execute("SELECT state, sync_state FROM pg_stat_replication").fetchall()
        if rows and rows[0][0] == "streaming" and (sync is None or rows[0][1] == sync):
            return
        time.sleep(0.1)
    raise AssertionError(f"standby not streaming ({rows})")


def test_one_async_standby_matches_two_replicas(
    pair: tuple[PgServer, PgServer], tmp_path: Path
) -> None:
    primary, _ = pair
    wait_streaming(primary)
    st = status(primary, tmp_path, replicas=2, sync=0)
    assert st.converged, st.message
    assert "primary, standbys: standby1 streaming/async" in st.message


def test_fewer_standbys_than_declared_fails_status(
    pair: tuple[PgServer, PgServer], tmp_path: Path
) -> None:
    st = status(pair[0], tmp_path, replicas=3, sync=0)
    assert not st.converged
    assert "1 of 2 standby(s) streaming" in st.message


def test_synchronous_replicas_are_read_not_assumed(
    pair: tuple[PgServer, PgServer], tmp_path: Path
) -> None:
    primary, _ = pair
    st = status(primary, tmp_path, replicas=2, sync=1)
    assert not st.converged
    assert "0 of 1 synchronous standby(s) (synchronous_standby_names empty)" in st.message
    with psycopg.connect(primary.dsn(), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET synchronous_standby_names = 'standby1'")
        conn.execute("SELECT pg_reload_conf()")
    try:
        wait_streaming(primary, sync="sync")
        st = status(primary, tmp_path, replicas=2, sync=1)
        assert st.converged, st.message
        assert "standby1 streaming/sync" in st.message
    finally:
        with psycopg.connect(primary.dsn(), autocommit=True) as conn:
            conn.execute("ALTER SYSTEM RESET synchronous_standby_names")
            conn.execute("SELECT pg_reload_conf()")


def test_pointing_at_the_standby_is_reported(
    pair: tuple[PgServer, PgServer], tmp_path: Path
) -> None:
    _, standby = pair
    with psycopg.connect(standby.dsn(), autocommit=True) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
    bp = load_file(FIXTURE).blueprint
    (tmp_path / "connections.yaml").write_text(
        f"databases:\n  orders-pg: {{host: 127.0.0.1, port: {standby.port}, sslmode: require}}\n"
    )
    secrets = EnvSecretSource(
        bp.security.secrets,
        environ={
            "ATTONIX_SECRET_PG_ADMIN_USERNAME": standby.superuser,
            "ATTONIX_SECRET_PG_ADMIN_PASSWORD": standby.password,
        },
    )
    drv = DatabaseDriver(bp, cluster="orders-pg", secrets=secrets, state=tmp_path)
    (st,) = drv.status()
    assert not st.converged
    assert "the configured endpoint is a standby, not the primary" in st.message


def test_a_lost_standby_shows(pair: tuple[PgServer, PgServer], tmp_path: Path) -> None:
    primary, standby = pair
    standby.stop()
    for _ in range(100):
        with psycopg.connect(primary.dsn(), autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_stat_replication").fetchall():
                break
        time.sleep(0.1)
    st = status(primary, tmp_path, replicas=2, sync=0)
    assert not st.converged
    assert "0 of 1 standby(s) streaming" in st.message
    assert "standbys: none" in st.message
