"""The ceph target against a real Ceph 16 (one mon, one mgr, three memstore OSDs, one MDS,
radosgw).

The tests share one cluster and run in file order: converge, idempotence, placement as
declared, keys limited to their pools, CephFS subvolumes reached only with their service's key,
S3 with the provisioned user and its quota, drift, an object Attonix did not create, destroy
with a decoy left alone.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from _cluster import CephCluster
from botocore.exceptions import ClientError

from attonix.blueprint import Blueprint, load_file
from attonix.deploy import DeployError, EnvSecretSource
from attonix.deploy.ceph import CephDriver

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FIXTURE = Path(__file__).parents[2] / "fixtures" / "ceph" / "store.yaml"
PROBE = Path(__file__).parent / "_cephfs_probe.py"
SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.fixture(scope="module")
def blueprint() -> Blueprint:
    return load_file(FIXTURE).blueprint


@pytest.fixture(scope="module")
def driver(
    tmp_path_factory: pytest.TempPathFactory, ceph_cluster: CephCluster, blueprint: Blueprint
) -> Iterator[CephDriver]:
    state = tmp_path_factory.mktemp("cephstate")
    (state / "connections.yaml").write_text(
        "ceph:\n  store:\n"
        f"    conf: {ceph_cluster.conf}\n    keyring: {ceph_cluster.keyring}\n"
        f"    rgw_url: {ceph_cluster.rgw_url}\n"
    )
    # Only for this module: a connections file left in the environment would point every
    # later test's drivers at this (by then stopped) cluster's file.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ATTONIX_CONNECTIONS", str(state / "connections.yaml"))
        yield CephDriver(
            blueprint,
            cluster="store",
            secrets=EnvSecretSource(blueprint.security.secrets, environ={}),
            state=state,
        )


def rados(
    cluster: CephCluster, key: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    keyring = cluster.root / f"{key['entity']}.keyring"
    keyring.write_text(f"[{key['entity']}]\n\tkey = {key['key']}\n")
    keyring.chmod(0o600)
    return subprocess.run(
        ["rados", "-c", str(cluster.conf), "-k", str(keyring), "-n", key["entity"], *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_apply_creates_everything_and_a_second_plan_is_empty(
    driver: CephDriver, ceph_cluster: CephCluster
) -> None:
    # The machine has librados' binding (the ceph CLI's own): monitor commands go through it.
    assert driver.admin.uses_librados
    plan = driver.plan()
    assert {c.key for c in plan.of("create")} >= {
        "rule/attonix-host",
        "rule/attonix-rack",
        "rule/attonix-zone",
        "pool/orders-rbd",
        "pool/billing-rbd",
        "pool/objects",
        "image/orders-rbd/orders-data",
        "image/billing-rbd/billing-data",
        "key/client.attonix-cephtest-test-orders",
        "key/client.attonix-cephtest-test-billing",
        "user/attonix-cephtest-test-orders",
        "bucket/orders-exports",
        "placement/objects",
        "pool/files",
        "pool/files-metadata",
        "filesystem/files",
        "group/files/orders",
        "group/files/billing",
        "subvolume/files/orders/orders-shared",
        "subvolume/files/billing/billing-reports",
    }
    first = driver.apply(plan)
    # A gateway without a realm reads placement targets when it starts: the bucket on the
    # new target waits for a restart, and apply says so.
    assert not first.ok and "when they restart" in first.error, first.error
    assert "create bucket/orders-exports" in first.error
    ceph_cluster.restart_rgw()
    result = driver.apply(driver.plan())
    assert result.ok, result.error
    again = driver.plan()
    assert again.is_empty, [(c.key, c.diff) for c in again.pending]


def test_pools_match_the_blueprint(driver: CephDriver, ceph_cluster: CephCluster) -> None:
    pools = {p["pool_name"]: p for p in ceph_cluster.ceph_json("osd", "pool", "ls", "detail")}
    rules = {r["rule_id"]: r for r in ceph_cluster.ceph_json("osd", "crush", "rule", "dump")}

    def domain(pool: str) -> str:
        steps = rules[pools[pool]["crush_rule"]]["steps"]
        return next(s["type"] for s in steps if s["op"].startswith("choose"))

    assert (pools["orders-rbd"]["size"], pools["orders-rbd"]["min_size"]) == (3, 2)
    assert (pools["billing-rbd"]["size"], pools["billing-rbd"]["min_size"]) == (2, 1)
    assert domain("orders-rbd") == "host" and domain("billing-rbd") == "rack"
    assert domain("objects") == "zone"
    assert pools["billing-rbd"]["quota_max_bytes"] == 64 * 2**20
    assert "rbd" in pools["orders-rbd"]["application_metadata"]
    assert "rgw" in pools["objects"]["application_metadata"]
    # The copies really are spread: each placement group of the zone pool on three zones.
    pgs = ceph_cluster.ceph_json("pg", "ls-by-pool", "objects")
    stats = pgs["pg_stats"] if isinstance(pgs, dict) else pgs
    assert stats and all(len(set(pg["acting"])) == 3 for pg in stats)
    statuses = {s.name: s for s in driver.status()}
    assert statuses["pool/orders-rbd"].desired == 3
    assert statuses["objects"].converged


def test_a_services_key_works_on_its_pool_and_is_refused_on_another(
    driver: CephDriver, ceph_cluster: CephCluster, tmp_path: Path
) -> None:
    orders = driver.credentials.read("ceph.store.client.attonix-cephtest-test-orders")
    assert orders is not None
    payload = tmp_path / "obj"
    payload.write_text("order 42")
    put = rados(ceph_cluster, orders, "-p", "orders-rbd", "put", "probe", str(payload))
    assert put.returncode == 0, put.stderr
    got = rados(ceph_cluster, orders, "-p", "orders-rbd", "get", "probe", str(tmp_path / "back"))
    assert got.returncode == 0 and (tmp_path / "back").read_text() == "order 42"
    for pool in ("billing-rbd", "objects"):
        denied = rados(ceph_cluster, orders, "-p", pool, "put", "probe", str(payload))
        assert denied.returncode != 0
        assert "Operation not permitted" in denied.stderr or "EPERM" in denied.stderr
        ls = rados(ceph_cluster, orders, "-p", pool, "ls")
        assert ls.returncode != 0
    # Nor may it administer the cluster.
    keyring = ceph_cluster.root / f"{orders['entity']}.keyring"
    admin = subprocess.run(
        [
            "ceph",
            "-c",
            str(ceph_cluster.conf),
            "-k",
            str(keyring),
            "-n",
            orders["entity"],
            "auth",
            "ls",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert admin.returncode != 0


def test_subvolumes_have_their_size_and_namespace(ceph_cluster: CephCluster) -> None:
    info = ceph_cluster.ceph_json(
        "fs", "subvolume", "info", "files", "orders-shared", "--group_name=orders"
    )
    assert isinstance(info, dict)
    assert info["bytes_quota"] == 4 * 2**20
    assert info["pool_namespace"] == "fsvolumens_orders-shared"
    assert info["data_pool"] == "files"
    (fs,) = ceph_cluster.ceph_json("fs", "ls")  # type: ignore[misc]
    assert fs["metadata_pool"] == "files-metadata" and fs["data_pools"] == ["files"]
    # The group of orders has its declared quota; billing's group has none.
    group = ceph_cluster.ceph_json("fs", "subvolumegroup", "info", "files", "orders")
    assert isinstance(group, dict) and group["bytes_quota"] == 8 * 2**20
    other = ceph_cluster.ceph_json("fs", "subvolumegroup", "info", "files", "billing")
    assert isinstance(other, dict) and other["bytes_quota"] == "infinite"


def _subvolume_path(cluster: CephCluster, group: str, name: str) -> str:
    path = cluster.ceph("fs", "subvolume", "getpath", "files", name, f"--group_name={group}")
    return path.strip()


def test_a_services_key_reaches_its_own_subvolume_only(
    driver: CephDriver, ceph_cluster: CephCluster, tmp_path: Path
) -> None:
    """Through libcephfs (the client a mount uses) as the service: its own subvolume is
    writable and shows its quota; another service's subvolume and the filesystem's root are
    refused by the metadata server; in RADOS, the other subvolume's namespace is refused."""
    probe = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import cephfs"], capture_output=True, check=False, timeout=30
    )
    if probe.returncode != 0:
        pytest.skip("python3-cephfs is not installed (scripts/setup.d/32-ceph.sh)")
    orders = driver.credentials.read("ceph.store.client.attonix-cephtest-test-orders")
    assert orders is not None
    keyring = tmp_path / "orders.keyring"
    keyring.write_text(f"[{orders['entity']}]\n\tkey = {orders['key']}\n")
    keyring.chmod(0o600)
    own = _subvolume_path(ceph_cluster, "orders", "orders-shared")
    other = _subvolume_path(ceph_cluster, "billing", "billing-reports")
    done = subprocess.run(
        [
            *(SYSTEM_PYTHON, str(PROBE), str(ceph_cluster.conf), str(keyring)),
            *(orders["entity"], "files", own, other),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["read_back"] == "order 42"
    assert seen["quota"] == str(4 * 2**20)
    assert seen["other"] != "ok" and "Permission" in seen["other"], seen
    assert seen["root"] != "ok" and "Permission" in seen["root"], seen
    # The data objects: its own namespace is readable, the other service's is not.
    mine = rados(ceph_cluster, orders, "-p", "files", "-N", "fsvolumens_orders-shared", "ls")
    assert mine.returncode == 0 and mine.stdout.strip(), mine.stderr
    theirs = rados(ceph_cluster, orders, "-p", "files", "-N", "fsvolumens_billing-reports", "ls")
    assert theirs.returncode != 0


def test_s3_with_the_provisioned_user_and_its_quota(
    driver: CephDriver, ceph_cluster: CephCluster
) -> None:
    creds = driver.credentials.read("rgw.store.attonix-cephtest-test-orders")
    assert creds is not None
    s3 = boto3.client(
        "s3",
        endpoint_url=creds["endpoint"],
        aws_access_key_id=creds["access_key"],
        aws_secret_access_key=creds["secret_key"],
        region_name="default",
    )
    s3.put_object(Bucket="orders-exports", Key="a", Body=b"x" * 600 * 1024)
    assert s3.get_object(Bucket="orders-exports", Key="a")["Body"].read() == b"x" * 600 * 1024
    # The bucket is on its pool's placement target, and the object's data is in that pool.
    stats = json.loads(
        subprocess.run(
            [
                *("radosgw-admin", "-c", str(ceph_cluster.conf), "-k", str(ceph_cluster.keyring)),
                *("bucket", "stats", "--bucket=orders-exports"),
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    assert stats["placement_rule"].split("/")[0] == "objects"
    listed = ceph_cluster.rados("-p", "objects", "ls").split()
    assert f"{stats['marker']}_a" in listed, listed
    elsewhere = ceph_cluster.rados("-p", "default.rgw.buckets.data", "ls", check=False)
    assert f"{stats['marker']}_a" not in elsewhere
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket="orders-exports", Key="b", Body=b"y" * 600 * 1024)
    assert exc.value.response["Error"]["Code"] == "QuotaExceeded"
    # max_buckets is the number of buckets it owns: it cannot make another.
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket="orders-sneaky")
    assert exc.value.response["Error"]["Code"] == "TooManyBuckets"


def test_drift_shows_in_the_next_plan(driver: CephDriver, ceph_cluster: CephCluster) -> None:
    ceph_cluster.ceph("osd", "pool", "set", "orders-rbd", "size", "2")
    ceph_cluster.ceph("osd", "pool", "set-quota", "billing-rbd", "max_bytes", "0")
    ceph_cluster.ceph(
        "auth", "caps", "client.attonix-cephtest-test-billing", "mon", "allow r", "osd", "allow *"
    )
    subprocess.run(
        [
            "radosgw-admin",
            "-c",
            str(ceph_cluster.conf),
            "-k",
            str(ceph_cluster.keyring),
            "quota",
            "set",
            "--quota-scope=bucket",
            "--bucket=orders-exports",
            "--max-size=99999999",
        ],
        check=True,
        capture_output=True,
    )
    ceph_cluster.ceph(
        "fs", "subvolume", "resize", "files", "billing-reports", "1048576", "--group_name=billing"
    )
    # A group quota raised by hand, and one set where the blueprint declares none.
    ceph_cluster.ceph("fs", "subvolumegroup", "resize", "files", "orders", "16777216")
    ceph_cluster.ceph("fs", "subvolumegroup", "resize", "files", "billing", "1048576")
    plan = driver.plan()
    updated = {c.key: c.diff for c in plan.of("update")}
    assert set(updated) == {
        "pool/orders-rbd",
        "pool/billing-rbd",
        "key/client.attonix-cephtest-test-billing",
        "bucket/orders-exports",
        "subvolume/files/billing/billing-reports",
        "group/files/orders",
        "group/files/billing",
    }
    assert "-size: 1048576" in updated["subvolume/files/billing/billing-reports"]
    assert "-quota: 16777216" in updated["group/files/orders"]
    assert "+quota: 8388608" in updated["group/files/orders"]
    assert "-quota: 1048576" in updated["group/files/billing"]
    assert "-size: 2" in updated["pool/orders-rbd"] and "+size: 3" in updated["pool/orders-rbd"]
    assert "osd: allow *" in updated["key/client.attonix-cephtest-test-billing"]
    # The gateway rounds quotas up to 4 KiB.
    assert "-quota_max_size: 100000768" in updated["bucket/orders-exports"]
    assert not all(s.converged for s in driver.status())
    result = driver.apply(plan)
    assert result.ok, result.error
    assert driver.plan().is_empty
    group = ceph_cluster.ceph_json("fs", "subvolumegroup", "info", "files", "billing")
    assert isinstance(group, dict) and group["bytes_quota"] == "infinite"


def _cli_driver(driver: CephDriver) -> CephDriver:
    """The same blueprint and state, with monitor commands through the ``ceph`` CLI."""
    return CephDriver(
        driver.bp,
        cluster="store",
        secrets=EnvSecretSource([], environ={}),
        state=driver.state_directory,
        librados=False,
    )


def test_the_cli_reads_and_writes_what_librados_does(
    driver: CephDriver, ceph_cluster: CephCluster
) -> None:
    """Without librados' binding the same commands go through the ``ceph`` CLI: a plan reads
    every kind of object (drift on two of them and nothing else), and its apply puts it right
    (one full read through the CLI is enough: each costs a process per command)."""
    cli = _cli_driver(driver)
    assert not cli.admin.uses_librados
    ceph_cluster.ceph("osd", "pool", "set", "orders-rbd", "min_size", "1")
    ceph_cluster.ceph("auth", "caps", "client.attonix-cephtest-test-orders", "mon", "allow r")
    plan = cli.plan()
    assert {c.key for c in plan.pending} == {
        "pool/orders-rbd",
        "key/client.attonix-cephtest-test-orders",
    }
    result = cli.apply(plan)
    assert result.ok, result.error
    assert driver.plan().is_empty


def test_an_unregistered_object_with_a_wanted_name_stops_the_plan(
    driver: CephDriver, ceph_cluster: CephCluster, blueprint: Blueprint
) -> None:
    ceph_cluster.ceph("osd", "pool", "create", "squatter", "8")
    pools = [
        *blueprint.storage.ceph[0].pools,
        blueprint.storage.ceph[0].pools[0].model_copy(update={"name": "squatter"}),
    ]
    ceph = blueprint.storage.ceph[0].model_copy(update={"pools": pools})
    other = blueprint.model_copy(
        update={"storage": blueprint.storage.model_copy(update={"ceph": [ceph]})}
    )
    drv = CephDriver(
        other,
        cluster="store",
        secrets=EnvSecretSource([], environ={}),
        state=driver.state_directory,
    )
    with pytest.raises(DeployError) as exc:
        drv.plan()
    assert "pool 'squatter' already exists" in exc.value.message


def test_destroy_removes_only_what_attonix_created(
    driver: CephDriver, ceph_cluster: CephCluster
) -> None:
    ceph_cluster.ceph("auth", "get-or-create", "client.decoy", "mon", "allow r")
    listed = driver.removals()
    assert "delete pool/orders-rbd on Ceph cluster store" in listed
    assert len(listed) == 20 and not any("squatter" in x or "decoy" in x for x in listed)
    result = driver.destroy()
    assert result.ok, result.error
    pools = {p["pool_name"] for p in ceph_cluster.ceph_json("osd", "pool", "ls", "detail")}
    assert not pools & {"orders-rbd", "billing-rbd", "objects", "files", "files-metadata"}
    assert ceph_cluster.ceph_json("fs", "ls") == []
    assert "squatter" in pools
    entities = {e["entity"] for e in ceph_cluster.ceph_json("auth", "ls")["auth_dump"]}
    assert "client.decoy" in entities
    assert not any(e.startswith("client.attonix-cephtest") for e in entities)
    rules = {r["rule_name"] for r in ceph_cluster.ceph_json("osd", "crush", "rule", "dump")}
    assert not any(r.startswith("attonix-") for r in rules)
    assert driver.plan().counts()["create"] == 20
