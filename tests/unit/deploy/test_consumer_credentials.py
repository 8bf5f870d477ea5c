"""A service's database mount on Swarm and Podman holds the service's own login.

The renderers name one engine secret per (database, service); the engines' secret source fills
it from the service's current ``app`` login in the credential store, so a rotation's new
version changes the versioned engine secret name (and rolls the service), and a database
Attonix does not provision falls back to its declared ``credentials_secret``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from attonix.blueprint import load_file
from attonix.blueprint.model import Blueprint
from attonix.deploy import EnvSecretSource, SecretMissing
from attonix.deploy.credentials import ConsumerCredentials, FileCredentialStore
from attonix.deploy.podman import PodmanDriver
from attonix.render import render

FIXTURE = Path(__file__).parents[2] / "fixtures" / "databases" / "rotation-podman.yaml"
CRED = "attonix-rottest.test.ledger-pg.ledger.app"
ADMIN = {
    "ATTONIX_SECRET_PG_ADMIN_USERNAME": "postgres",
    "ATTONIX_SECRET_PG_ADMIN_PASSWORD": "admin-pw-never-mounted",
}


def test_podman_mounts_the_service_login_secret_not_the_admin_secret() -> None:
    bp = load_file(FIXTURE).blueprint
    (doc,) = [a.content for a in render(bp, "podman") if a.path.endswith("ledger.yaml")]
    pod = doc["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "db-ledger-pg")
    assert volume["secret"]["secretName"] == "attonix-rottest-ledger-pg.ledger"
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "db-ledger-pg")
    assert mount == {
        "name": "db-ledger-pg",
        "mountPath": "/run/secrets/databases/ledger-pg",
        "readOnly": True,
    }
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["LEDGER_PG_CREDENTIALS_DIR"] == "/run/secrets/databases/ledger-pg"
    assert env["LEDGER_PG_HOST"] == "ledger.rottest.example.com"  # the managed endpoint
    assert "pg-admin" not in str(doc)


def test_swarm_mounts_one_secret_per_database_and_service() -> None:
    data = load_file(FIXTURE).blueprint.model_dump(by_alias=True)
    data["orchestration"]["clusters"][0].update(kind="swarm", control_plane=["node-1"])
    # A second database run by the swarm itself: its container keeps the admin secret.
    data["databases"].append(
        {"name": "notes-pg", "engine": "postgresql", "version": "15", "cluster": "podman-rot",
         "replicas": 1, "credentials_secret": "pg-admin", "database": "notes", "tls": False,
         "backup": {"enabled": False}}
    )  # fmt: skip
    data["services"]["backend"][0]["databases"].append("notes-pg")
    (art,) = render(Blueprint.model_validate(data), "swarm")
    stack = art.content
    sources = [s["source"] for s in stack["services"]["ledger"]["secrets"]]
    assert sources == [
        "ledger-pg.ledger_username",
        "ledger-pg.ledger_password",
        "notes-pg.ledger_username",
        "notes-pg.ledger_password",
    ]
    database = [s["source"] for s in stack["services"]["notes-pg"]["secrets"]]
    assert database == ["pg-admin_username", "pg-admin_password"]


def test_the_source_reads_the_current_login_and_falls_back_to_the_declared_secret(
    tmp_path: Path,
) -> None:
    bp = load_file(FIXTURE).blueprint
    store = FileCredentialStore(tmp_path)
    source = ConsumerCredentials(bp, EnvSecretSource(bp.security.secrets, environ=ADMIN), store)
    # Not provisioned by Attonix: the user's credentials_secret, as before.
    assert source.get("ledger-pg.ledger") == {
        "username": "postgres",
        "password": "admin-pw-never-mounted",
    }
    login = {"username": "atx_g1", "password": "p1", "host": "h", "port": "5432"}
    store.promote(CRED, store.put(CRED, login))
    assert source.get("ledger-pg.ledger") == {"username": "atx_g1", "password": "p1"}
    pending = store.put(CRED, {**login, "username": "atx_g2", "password": "p2"})
    assert source.get("ledger-pg.ledger")["username"] == "atx_g1"  # pending is not current
    store.promote(CRED, pending)
    assert source.get("ledger-pg.ledger")["username"] == "atx_g2"
    # Declared secrets pass through.
    assert source.get("pg-admin")["username"] == "postgres"
    store.promote(CRED, store.put(CRED, {"username": "u"}))
    with pytest.raises(SecretMissing) as exc:
        source.get("ledger-pg.ledger")
    assert "has no password" in exc.value.message


def test_a_new_login_version_renames_the_podman_secret(tmp_path: Path) -> None:
    bp = load_file(FIXTURE).blueprint
    store = FileCredentialStore(tmp_path / "credentials")
    driver = PodmanDriver(
        bp,
        cluster="podman-rot",
        secrets=EnvSecretSource(bp.security.secrets, environ=ADMIN),
        state=tmp_path,
    )
    state = driver.desired_state()

    def engine_names() -> dict[str, str]:
        names = driver._secret_names(state).values()
        return {name: keys[0].secret for name, keys in names}

    store.promote(CRED, store.put(CRED, {"username": "atx_g1", "password": "p1"}))
    first = engine_names()
    assert list(first.values()) == ["ledger-pg.ledger"]
    assert engine_names() == first  # stable while the login is unchanged
    store.promote(CRED, store.put(CRED, {"username": "atx_g2", "password": "p2"}))
    second = engine_names()
    assert second.keys() != first.keys()
    assert all(name.startswith("attonix-rottest-ledger-pg.ledger-") for name in second)
