"""The Ceph driver's pure parts: what a blueprint asks for, and bucket validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from attonix.blueprint import BlueprintInvalid, load_bytes, load_file
from attonix.deploy import DeployError, EnvSecretSource, get_driver
from attonix.deploy.ceph.admin import load_connection
from attonix.deploy.ceph.desired import to_bytes, wanted

FIXTURE = Path(__file__).parents[2] / "fixtures" / "ceph" / "store.yaml"


def test_keys_are_limited_to_the_services_own_pools() -> None:
    bp = load_file(FIXTURE).blueprint
    wants = {(w.kind, w.name): w.view for w in wanted(bp, bp.storage.ceph[0])}
    assert wants[("key", "client.attonix-cephtest-test-orders")] == {
        "mon": "profile rbd, allow r fsname=files",
        "osd": "profile rbd pool=orders-rbd, "
        "allow rw pool=files namespace=fsvolumens_orders-shared",
        "mds": "allow rw fsname=files path=/volumes/orders",
    }
    assert wants[("pool", "billing-rbd")]["rule"] == "attonix-rack"
    assert wants[("pool", "billing-rbd")]["quota_max_bytes"] == 64 * 2**20
    assert wants[("user", "attonix-cephtest-test-orders")] == {"max_buckets": 1}
    # The bucket goes on its pool's placement target, which keeps everything in that pool.
    assert wants[("bucket", "orders-exports")]["placement"] == "objects"
    assert wants[("placement", "objects")] == {
        "data_pool": "objects",
        "index_pool": "objects",
        "data_extra_pool": "objects",
    }
    assert not any(k == "placement" and n != "objects" for k, n in wants)
    assert wants[("image", "orders-rbd/orders-data")] == {"size": 16 * 2**20}
    assert to_bytes(None) == 0 and to_bytes("3Ki") == 3072


def test_a_filesystem_pool_becomes_a_cephfs_with_a_subvolume_per_volume() -> None:
    bp = load_file(FIXTURE).blueprint
    wants = wanted(bp, bp.storage.ceph[0])
    views = {(w.kind, w.name): w.view for w in wants}
    assert views[("filesystem", "files")] == {
        "metadata_pool": "files-metadata",
        "data_pools": ["files"],
    }
    # The metadata pool is replicated like the data pool, without the data pool's quota.
    assert views[("pool", "files-metadata")] == {**views[("pool", "files")], "quota_max_bytes": 0}
    assert views[("subvolume", "files/billing/billing-reports")] == {
        "size": 2 * 2**20,
        "namespace": "fsvolumens_billing-reports",
    }
    assert ("group", "files/orders") in views and ("group", "files/billing") in views
    # Creation order: pools before their filesystem, groups before subvolumes, keys after.
    kinds = [w.kind for w in wants]
    assert kinds.index("filesystem") > max(i for i, k in enumerate(kinds) if k == "pool")
    assert max(i for i, k in enumerate(kinds) if k == "group") < kinds.index("subvolume")
    assert kinds.index("key") > max(i for i, k in enumerate(kinds) if k == "subvolume")
    # A service with block volumes only keeps the rbd-only caps.
    block_only = FIXTURE.read_text().replace(
        "- {name: reports, pool: files, size: 2Mi, mount_path: /reports}", ""
    )
    bp2 = load_bytes(block_only).blueprint
    views2 = {(w.kind, w.name): w.view for w in wanted(bp2, bp2.storage.ceph[0])}
    assert views2[("key", "client.attonix-cephtest-test-billing")] == {
        "mon": "profile rbd",
        "osd": "profile rbd pool=billing-rbd",
    }


def test_a_pool_named_like_a_filesystems_metadata_pool_is_refused() -> None:
    text = (
        FIXTURE.read_text()
        .replace("{name: orders-rbd, type: block", "{name: files-metadata, type: block")
        .replace("pool: orders-rbd", "pool: files-metadata")
    )
    with pytest.raises(BlueprintInvalid) as exc:
        load_bytes(text)
    (diag,) = [d for d in exc.value.diagnostics if "metadata pool" in d.message]
    # At the cluster's entry, the line of "- name: store".
    assert diag.pointer == "storage.ceph[0]"
    assert text.splitlines()[diag.location.line - 1].strip() == "- name: store"


def test_buckets_are_validated_at_their_line() -> None:
    text = FIXTURE.read_text()
    bad_service = text.replace("service: orders, quota", "service: nobody, quota")
    with pytest.raises(BlueprintInvalid) as exc:
        load_bytes(bad_service)
    assert any("nobody" in d.message and "buckets" in d.pointer for d in exc.value.diagnostics)
    on_block = text.replace(
        "{name: orders-rbd, type: block, replicas: 3, min_size: 2}",
        "{name: orders-rbd, type: block, replicas: 3, min_size: 2,"
        " buckets: [{name: bb1, service: orders}]}",
    )
    with pytest.raises(BlueprintInvalid) as exc:
        load_bytes(on_block)
    assert any("buckets need an object pool" in d.message for d in exc.value.diagnostics)


def test_target_picks_the_hosts_cluster_and_needs_a_connection(tmp_path: Path) -> None:
    bp = load_file(FIXTURE).blueprint
    drv = get_driver("ceph", bp, cluster=None, secrets=EnvSecretSource([], environ={}))
    assert drv.cluster == "store"
    with pytest.raises(DeployError) as exc:
        get_driver("ceph", bp, cluster="nope", secrets=EnvSecretSource([], environ={}))
    assert "no Ceph cluster in mode 'hosts' named 'nope'" in exc.value.message
    path = tmp_path / "connections.yaml"
    with pytest.raises(DeployError) as exc:
        load_connection(path, "store")
    assert "no connection is configured for Ceph cluster 'store'" in exc.value.message
    path.write_text("ceph: {store: {conf: /etc/ceph/ceph.conf, secret: x}}")
    with pytest.raises(DeployError) as exc:
        load_connection(path, "store")
    assert "unknown setting(s) secret" in exc.value.message


def test_a_subvolume_group_carries_its_declared_quota_or_none() -> None:
    bp = load_file(FIXTURE).blueprint
    views = {(w.kind, w.name): w.view for w in wanted(bp, bp.storage.ceph[0])}
    assert views[("group", "files/orders")] == {"quota": 8 * 2**20}
    assert views[("group", "files/billing")] == {"quota": 0}


@pytest.mark.parametrize(
    ("groups", "pointer", "words"),
    [
        # Below the service's volumes on the pool together (orders has 4Mi there).
        ("[{service: orders, quota: 3Mi}]", "subvolume_groups[0].quota", "less than"),
        ("[{service: orders, quota: 0Mi}]", "subvolume_groups[0].quota", "less than"),
        # No volume of that service on the pool: no group to bound.
        ("[{service: orders, quota: 8Mi}, {service: ghost, quota: 1Mi}]", "[1].service", None),
        ("[{service: orders, quota: 8Mi}, {service: orders, quota: 9Mi}]", "[1].service", None),
    ],
)
def test_a_bad_subvolume_group_is_a_diagnostic_at_its_line(
    groups: str, pointer: str, words: str | None
) -> None:
    text = FIXTURE.read_text().replace(
        "subvolume_groups:\n            - {service: orders, quota: 8Mi}\n",
        f"subvolume_groups: {groups}\n",
    )
    assert groups in text
    with pytest.raises(BlueprintInvalid) as exc:
        load_bytes(text, file="store.yaml")
    found = [d for d in exc.value.diagnostics if "subvolume_groups" in d.pointer]
    assert found, [d.message for d in exc.value.diagnostics]
    assert found[0].pointer.endswith(pointer)
    assert words is None or words in found[0].message
    assert found[0].hint


def test_subvolume_groups_on_a_block_pool_are_refused() -> None:
    text = FIXTURE.read_text().replace(
        "{name: orders-rbd, type: block, replicas: 3, min_size: 2}",
        "{name: orders-rbd, type: block, replicas: 3, min_size: 2,"
        " subvolume_groups: [{service: orders, quota: 1Gi}]}",
    )
    with pytest.raises(BlueprintInvalid) as exc:
        load_bytes(text)
    assert "subvolume_groups need a filesystem pool" in str(exc.value)
