"""Rook and the database operators as they would work when applied: the topology labels Rook
reads on every node, daemons spread over the failure domain, backups that trust the internal
CA, and MongoDB/MySQL backups that are really rendered."""

from __future__ import annotations

from typing import Any

import yaml
from tests.unit.render._sites import text

from attonix.blueprint.loader import load_bytes
from attonix.render import render

DATABASES = """
- {name: pg, engine: postgresql, version: "16", cluster: kube, credentials_secret: db-creds,
   backup: {object_pool: objects}}
- {name: my, engine: mysql, version: "8.4", cluster: kube, credentials_secret: db-creds,
   backup: {object_pool: objects}}
- {name: mongo, engine: mongodb, version: "7.0", cluster: kube, credentials_secret: db-creds,
   backup: {object_pool: objects, schedule: "0 30 1 * * *"}}
"""


def _render(*, failure_domain: str = "rack") -> dict[str, Any]:
    src = text(databases=DATABASES).replace(
        "      hosts: [n-1, n-2, n-3]\n",
        f"      hosts: [n-1, n-2, n-3]\n      failure_domain: {failure_domain}\n",
    )
    bp = load_bytes(src, file="site.yaml").blueprint
    return {a.path: a.content for a in render(bp, "kubernetes")}


def _docs(arts: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [d for d in arts.values() if isinstance(d, dict) and d.get("kind") == kind]


def test_every_node_carries_the_topology_labels_rook_reads() -> None:
    arts = _render()
    nodes = yaml.safe_load(arts["kube/node-labels.yaml"])["nodes"]
    assert sorted(nodes) == ["cp-1", "n-1", "n-2", "n-3"]
    for labels in nodes.values():
        assert labels["topology.rook.io/rack"].startswith("r")
        assert labels["topology.kubernetes.io/zone"].startswith("z")
    (pool,) = _docs(arts, "CephBlockPool")
    assert pool["spec"]["failureDomain"] == "rack"
    # Workloads spread over racks with the very label Rook's CRUSH map is built from.
    (cluster,) = _docs(arts, "CephCluster")
    placement = cluster["spec"]["placement"]
    mon = placement["mon"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert mon[0]["topologyKey"] == "topology.rook.io/rack"
    mgr = placement["mgr"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert mgr[0]["podAffinityTerm"]["topologyKey"] == "topology.rook.io/rack"


def test_cnpg_backups_trust_the_internal_ca_of_the_object_gateway() -> None:
    arts = _render()
    (pg,) = [c for c in _docs(arts, "Cluster") if c["metadata"]["name"] == "pg"]
    store = pg["spec"]["backup"]["barmanObjectStore"]
    assert store["endpointURL"].startswith("https://rook-ceph-rgw-objects.")
    ca = store["endpointCA"]
    assert ca["key"] == "ca.crt"
    certs = {c["spec"]["secretName"]: c for c in _docs(arts, "Certificate")}
    rgw = certs["objects-rgw-tls"]
    assert certs[ca["name"]]["metadata"]["namespace"] == "databases"
    # The CA in that secret is the issuer of the gateway's certificate.
    assert certs[ca["name"]]["spec"]["issuerRef"] == rgw["spec"]["issuerRef"]


def test_mysql_and_mongodb_backups_are_scheduled_dumps_to_the_object_store() -> None:
    arts = _render()
    jobs = {j["metadata"]["name"]: j for j in _docs(arts, "CronJob")}
    assert sorted(jobs) == ["mongo-backup", "my-backup"]
    mongo = jobs["mongo-backup"]
    assert mongo["spec"]["schedule"] == "30 1 * * *"
    pod = mongo["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    dump = pod["initContainers"][0]["command"][2]
    upload = pod["containers"][0]["command"][2]
    assert "mongodump" in dump and "tlsCAFile=" in dump
    assert "s3://mongo-backups/mongo/" in upload and "--ca-bundle" in upload
    assert "https://rook-ceph-rgw-objects.rook-ceph.svc:443" in upload
    assert "password" not in yaml.safe_dump(pod["containers"][0].get("env", []))
    (my,) = _docs(arts, "InnoDBCluster")
    assert "backupProfiles" not in my["spec"]  # its S3 storage cannot trust a private CA
    claims = sorted(c["metadata"]["name"] for c in _docs(arts, "ObjectBucketClaim"))
    assert claims == ["mongo-backups", "my-backups", "pg-backups"]
    policies = {p["metadata"]["name"] for p in _docs(arts, "NetworkPolicy")}
    assert {"mongo-backup", "my-backup"} <= policies
