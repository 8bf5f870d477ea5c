"""The database driver's pure parts: names, labels, connection settings, credential files."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from attonix.blueprint import load_file
from attonix.deploy import DeployError, EnvSecretSource
from attonix.deploy.credentials import FileCredentialStore
from attonix.deploy.databases import DatabaseDriver
from attonix.deploy.databases._scram import mysql_native, scram_sha_256
from attonix.deploy.databases.connections import endpoint_for, load_endpoints
from attonix.deploy.databases.desired import Label, database_spec, short_name

FIXTURE = Path(__file__).parents[2] / "fixtures" / "databases" / "shop-db.yaml"


def test_short_names_fit_the_engine_and_stay_stable() -> None:
    long = "x" * 40
    name = short_name(long, long, "readonly", limit=32)
    assert len(name) == 32
    assert name == short_name(long, long, "readonly", limit=32)
    assert name != short_name(long, long + "y", "readonly", limit=32)
    assert short_name("orders-db", "app", limit=63) == "orders_db_app"


def test_labels_round_trip_and_foreign_comments_are_not_labels() -> None:
    label = Label("bp", "prod", "orders", service="api", kind="app", generation=3)
    assert Label.decode(label.encode()) == label
    for text in (None, "", "a comment", "attonix:{not json", 'attonix:{"bp": 1}'):
        assert Label.decode(text) is None
    assert label.owned_by("bp", "prod") and not label.owned_by("bp", "staging")


def test_spec_has_three_groups_and_three_logins_per_consumer() -> None:
    bp = load_file(FIXTURE).blueprint
    spec = database_spec(bp, bp.databases_by_name["orders-my"])
    assert spec.groups == {
        "owner": "atx_orders_owner",
        "rw": "atx_orders_rw",
        "ro": "atx_orders_ro",
    }
    assert [(lg.service, lg.kind, lg.connection_limit) for lg in spec.logins] == [
        ("orders", "owner", 2),
        ("orders", "app", 20),
        ("orders", "readonly", 5),
    ]
    assert all(len(lg.name(99, limit=32)) <= 32 for lg in spec.logins)


def test_scram_verifier_shape_and_mysql_hash() -> None:
    verifier = scram_sha_256("pw", salt=b"0" * 16)
    assert verifier.startswith("SCRAM-SHA-256$4096:MDAwMDAwMDAwMDAwMDAwMA==$")
    assert "pw" not in verifier.split("$", 1)[1]
    # The well-known mysql_native_password hash of "password".
    assert mysql_native("password") == "*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("databases: [1, 2]", "must map database names"),
        ("databases: {orders-pg: {port: 5432}}", "'host' is missing"),
        ("databases: {orders-pg: {host: h, sslmode: maybe}}", "sslmode 'maybe'"),
        ("databases: {orders-pg: {host: h, port: five}}", "port must be a number"),
        ("databases: {orders-pg: {host: h, password: x}}", "unknown setting(s) password"),
        ("databases: {orders-pg: [unclosed", "cannot read the connections file"),
    ],
)
def test_bad_connection_settings_are_clear_errors(tmp_path: Path, text: str, needle: str) -> None:
    bp = load_file(FIXTURE).blueprint
    path = tmp_path / "connections.yaml"
    path.write_text(text)
    with pytest.raises(DeployError) as exc:
        endpoint_for(bp.databases_by_name["orders-pg"], load_endpoints(path))
    assert needle in exc.value.message


def test_a_database_without_a_server_is_named(tmp_path: Path) -> None:
    bp = load_file(FIXTURE).blueprint
    driver = DatabaseDriver(
        bp,
        cluster="orders-pg",
        secrets=EnvSecretSource(bp.security.secrets, environ={}),
        state=tmp_path,
    )
    with pytest.raises(DeployError) as exc:
        driver.plan()
    assert "no server is configured for database 'orders-pg'" in exc.value.message
    with pytest.raises(DeployError):
        DatabaseDriver.pick(bp, "nope")


def test_credential_store_is_private_and_versioned(tmp_path: Path) -> None:
    store = FileCredentialStore(tmp_path / "creds")
    v1 = store.put("a.b", {"password": "one"})
    assert store.read("a.b") is None  # pending until promoted
    store.promote("a.b", v1)
    v2 = store.put("a.b", {"password": "two"})
    assert store.read("a.b") == {"password": "one"}
    store.promote("a.b", v2)
    assert store.read("a.b") == {"password": "two"}
    store.forget("a.b", keep=v2)
    assert store.read("a.b", v1) is None
    mode = (tmp_path / "creds" / "a.b.json").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600
    assert stat.S_IMODE((tmp_path / "creds").stat().st_mode) == 0o700
    with pytest.raises(DeployError):
        store.put("../escape", {})


def test_the_target_is_registered_and_needs_no_orchestration_cluster() -> None:
    from attonix.deploy import get_driver

    bp = load_file(FIXTURE).blueprint
    secrets = EnvSecretSource(bp.security.secrets, environ={})
    driver = get_driver("databases", bp, cluster=None, secrets=secrets)
    assert isinstance(driver, DatabaseDriver) and driver.cluster == "all"
    assert get_driver("databases", bp, cluster="orders-pg", secrets=secrets).cluster == "orders-pg"


def test_replication_judgement() -> None:
    from attonix.deploy.databases.replication import Standby, Topology, judge

    bp = load_file(FIXTURE).blueprint
    db = bp.databases_by_name["orders-pg"].model_copy(
        update={"replicas": 3, "synchronous_replicas": 1}
    )
    both = Topology(
        False,
        "ANY 1 (a, b)",
        (
            Standby("a", "10.0.0.2", "streaming", "quorum"),
            Standby("b", "x", "catchup", "potential"),
        ),
    )
    summary, problems = judge(both, db)
    assert problems == ["1 of 2 standby(s) streaming"]
    assert "a streaming/quorum, b catchup/potential" in summary
    managed = db.model_copy(update={"managed": object()})
    assert judge(Topology(False, ""), managed)[1] == []
