"""Rook and the database operators as they would work when applied: the topology labels Rook
reads on every node, daemons spread over the failure domain, backups that trust the internal
CA, and MongoDB/MySQL backups that are really rendered."""

from __future__ import annotations

import datetime
import os
import subprocess
from pathlib import Path
from typing import Any

import yaml
from tests.unit.render._sites import text

from attonix.blueprint.loader import load_bytes
from attonix.render import render

DATABASES = """
- {name: pg, engine: postgresql, version: "16", cluster: kube, credentials_secret: db-creds,
   backup: {object_pool: objects}}
- {name: my, engine: mysql, version: "8.4", cluster: kube, credentials_secret: db-creds,
   backup: {object_pool: objects, retention_days: 7}}
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


def test_dumps_older_than_the_retention_are_deleted_after_each_upload(tmp_path: Path) -> None:
    # The rendered upload script run by a real shell, awk and date; only `aws` is a stand-in
    # that lists a bucket and records what it is asked to do.
    arts = _render()
    (job,) = [j for j in _docs(arts, "CronJob") if j["metadata"]["name"] == "my-backup"]
    script = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"][2]
    assert "7 * 86400" in script  # the blueprint's retention_days
    now = datetime.datetime.now(datetime.UTC)
    stamp = lambda days: (now - datetime.timedelta(days=days)).strftime("%Y%m%dT%H%M%SZ")  # noqa: E731
    listing = [
        f"2026-01-01 00:00:00 1 {stamp(30)}-my.sql.gz",  # older than 7 days: deleted
        f"2026-01-01 00:00:00 1 {stamp(8)}-my.sql.gz",  # deleted
        f"2026-01-01 00:00:00 1 {stamp(6)}-my.sql.gz",  # kept
        f"2026-01-01 00:00:00 1 {stamp(30)}-other.sql.gz",  # not this database's dump: kept
        "2026-01-01 00:00:00 1 notes.txt",  # kept
    ]
    bin_dir, secrets = tmp_path / "bin", tmp_path / "bucket"
    bin_dir.mkdir()
    secrets.mkdir()
    (secrets / "AWS_ACCESS_KEY_ID").write_text("id")
    (secrets / "AWS_SECRET_ACCESS_KEY").write_text("key")
    (tmp_path / "listing").write_text("\n".join(listing) + "\n")
    aws = bin_dir / "aws"
    aws.write_text(
        f'#!/bin/sh\necho "$*" >> {tmp_path}/calls\n'
        f'[ "$2" = ls ] && cat {tmp_path}/listing\nexit 0\n'
    )
    aws.chmod(0o755)
    script = script.replace("/run/secrets/bucket", str(secrets))
    proc = subprocess.run(
        ["/bin/sh", "-c", script],
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    removed = sorted(c.split()[2].rsplit("/", 1)[1] for c in calls if c.startswith("s3 rm"))
    assert removed == sorted([f"{stamp(30)}-my.sql.gz", f"{stamp(8)}-my.sql.gz"])
    assert calls[0].startswith("s3 cp /dump/my.sql.gz s3://my-backups/my/")
