"""The databases driver against a real MongoDB, gated: no MongoDB server can run here.

Set ATTONIX_TEST_MONGODB_URL to an administrator URL with userAdminAnyDatabase and
readWriteAnyDatabase, e.g. ``mongodb://admin:pw@127.0.0.1:27017/?authSource=admin``.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from attonix.blueprint import load_file
from attonix.deploy import EnvSecretSource
from attonix.deploy.databases import DatabaseDriver

pymongo = pytest.importorskip("pymongo")
URL = os.environ.get("ATTONIX_TEST_MONGODB_URL", "")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not URL, reason="set ATTONIX_TEST_MONGODB_URL to run against MongoDB"),
]

BLUEPRINT = """
apiVersion: attonix.io/v1
kind: DataCenter
metadata: {name: attonix-mongotest, environment: test, domain: mongotest.example.com}
hosts: [{name: node-1, address: 127.0.0.1, zone: a, rack: r, roles: [compute]}]
orchestration:
  clusters: [{name: k8s, kind: kubernetes, version: "1.33", control_plane: [node-1]}]
security:
  tls: {ca: {name: ca, common_name: CA}}
  secrets: [{name: mongo-admin, keys: [username, password]}]
storage:
  ceph:
    - {name: rook, kubernetes_cluster: k8s,
       pools: [{name: blk, type: block}, {name: obj, type: object}]}
databases:
  - {name: events, engine: mongodb, version: "7.0", cluster: k8s, replicas: 3,
     credentials_secret: mongo-admin, database: atx_events, tls: false}
  - {name: audit, engine: mongodb, version: "7.0", cluster: k8s, replicas: 3,
     credentials_secret: mongo-admin, database: atx_audit, tls: false}
services:
  backend:
    - {name: ingest, cluster: k8s, image: localhost/x:1, ports: [{name: http, port: 8080}],
       databases: [events]}
    - {name: auditor, cluster: k8s, image: localhost/x:1, ports: [{name: http, port: 8080}],
       databases: [audit]}
"""


def test_mongodb_cycle(tmp_path: Path) -> None:
    url = urlsplit(URL)
    (tmp_path / "bp.yaml").write_text(BLUEPRINT)
    bp = load_file(tmp_path / "bp.yaml").blueprint
    (tmp_path / "connections.yaml").write_text(
        "databases:\n"
        + "".join(
            f"  {n}: {{host: {url.hostname}, port: {url.port or 27017}, admin_database: admin}}\n"
            for n in ("events", "audit")
        )
    )
    secrets = EnvSecretSource(
        bp.security.secrets,
        environ={
            "ATTONIX_SECRET_MONGO_ADMIN_USERNAME": unquote(url.username or ""),
            "ATTONIX_SECRET_MONGO_ADMIN_PASSWORD": unquote(url.password or ""),
        },
    )
    driver = DatabaseDriver(bp, cluster="all", secrets=secrets, state=tmp_path)
    admin = pymongo.MongoClient(URL)
    admin["atx_decoy"]["x"].insert_one({"decoy": True})
    try:
        result = driver.apply(driver.plan())
        assert result.ok, result.error
        assert driver.plan().is_empty
        app = driver.credentials.read("attonix-mongotest.test.events.ingest.app")
        ro = driver.credentials.read("attonix-mongotest.test.events.ingest.readonly")
        assert app is not None and ro is not None
        host, port = url.hostname, url.port or 27017
        with pymongo.MongoClient(
            host=host,
            port=port,
            username=app["username"],
            password=app["password"],
            authSource="atx_events",
        ) as client:
            client["atx_events"]["e"].insert_one({"n": 1})
            with pytest.raises(pymongo.errors.OperationFailure):
                client["atx_audit"]["e"].find_one()
        with pymongo.MongoClient(
            host=host,
            port=port,
            username=ro["username"],
            password=ro["password"],
            authSource="atx_events",
        ) as client:
            assert client["atx_events"]["e"].find_one({"n": 1})
            with pytest.raises(pymongo.errors.OperationFailure):
                client["atx_events"]["e"].insert_one({"n": 2})
        assert driver.destroy().ok
        assert "atx_events" not in admin.list_database_names()
        assert "atx_decoy" in admin.list_database_names()
    finally:
        admin.drop_database("atx_decoy")
        admin.close()
