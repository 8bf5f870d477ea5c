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
        "mon": "profile rbd",
        "osd": "profile rbd pool=orders-rbd",
    }
    assert wants[("pool", "billing-rbd")]["rule"] == "attonix-rack"
    assert wants[("pool", "billing-rbd")]["quota_max_bytes"] == 64 * 2**20
    assert wants[("user", "attonix-cephtest-test-orders")] == {"max_buckets": 1}
    assert wants[("image", "orders-rbd/orders-data")] == {"size": 16 * 2**20}
    assert to_bytes(None) == 0 and to_bytes("3Ki") == 3072


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
