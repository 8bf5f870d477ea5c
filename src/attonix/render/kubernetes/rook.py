"""Rook-Ceph: the CephCluster on the blueprint's storage hosts, and per pool a CephBlockPool,
CephObjectStore or CephFilesystem with its StorageClass. All in namespace ``rook-ceph``."""

from __future__ import annotations

from typing import Any

from attonix.blueprint.model import Ceph, CephPool
from attonix.blueprint.naming import derived
from attonix.policy.placement import monitor_rule
from attonix.render.kubernetes._context import ROOK_NAMESPACE, Ctx, obj
from attonix.render.workloads import TOPOLOGY_KEYS

API = "ceph.rook.io/v1"
STORAGE = "storage.k8s.io/v1"
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"


def object_store_endpoint(pool: CephPool) -> str:
    """The in-cluster HTTPS endpoint of an object store's gateway."""
    return f"https://rook-ceph-rgw-{pool.name}.{ROOK_NAMESPACE}.svc:443"


def bucket_class(pool: CephPool) -> str:
    """The StorageClass whose ObjectBucketClaims create buckets in ``pool``."""
    return derived(pool.name, "bucket")


def rgw_tls_secret(pool: CephPool) -> str:
    """The Secret with the object gateway's certificate."""
    return derived(pool.name, "rgw-tls")


def monitor_placement(ctx: Ctx, ceph: Ceph) -> dict[str, Any]:
    """The placement contract's monitor rule: at most one monitor per failure domain.

    ``allowMultiplePerNode: false`` already keeps one per host; above host level a required
    pod anti-affinity on Rook's monitor label keeps one per rack or zone, so no single domain
    can hold a majority of the monitors.
    """
    level = monitor_rule(ctx.bp, ceph).level
    if level == "host":
        return {}
    term = {
        "topologyKey": TOPOLOGY_KEYS[level],
        "labelSelector": {"matchLabels": {"app": "rook-ceph-mon"}},
    }
    return {"mon": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}}


def manager_placement(ceph: Ceph) -> dict[str, Any]:
    """Managers (active and standby) preferably in different domains of the failure domain.

    Preferred, not required: a standby manager is not needed for data availability, and a
    required rule would leave it pending where there are fewer domains than managers.
    """
    if ceph.failure_domain == "host" or ceph.managers < 2:
        return {}
    term = {
        "weight": 100,
        "podAffinityTerm": {
            "topologyKey": TOPOLOGY_KEYS[ceph.failure_domain],
            "labelSelector": {"matchLabels": {"app": "rook-ceph-mgr"}},
        },
    }
    return {"mgr": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [term]}}}


def ceph_cluster(ctx: Ctx, ceph: Ceph) -> dict[str, Any]:
    """A CephCluster: monitors and managers, OSDs on the listed hosts' disks, encryption."""
    hosts = ctx.bp.hosts_by_name
    nodes = [
        {"name": h, "devices": [{"name": d.removeprefix("/dev/")} for d in hosts[h].disks]}
        for h in ceph.hosts
        if h in hosts and hosts[h].disks
    ]
    storage: dict[str, Any] = {"useAllNodes": False, "useAllDevices": False}
    if ceph.encryption:
        storage["config"] = {"encryptedDevice": "true"}
    storage["nodes"] = nodes
    placement = {**monitor_placement(ctx, ceph), **manager_placement(ceph)}
    return obj(
        API,
        "CephCluster",
        ceph.name,
        namespace=ROOK_NAMESPACE,
        labels=ctx.labels(ceph.name, component="storage", version=ceph.image.rsplit(":", 1)[-1]),
        spec={
            "cephVersion": {"image": ceph.image, "allowUnsupported": False},
            "dataDirHostPath": "/var/lib/rook",
            "mon": {"count": ceph.monitors, "allowMultiplePerNode": False},
            "mgr": {
                "count": ceph.managers,
                "allowMultiplePerNode": False,
                "modules": [{"name": "pg_autoscaler", "enabled": True}],
            },
            "dashboard": {"enabled": True, "ssl": True},
            "network": {
                "connections": {
                    "encryption": {"enabled": ceph.network_encryption},
                    "compression": {"enabled": False},
                    "requireMsgr2": ceph.network_encryption,
                }
            },
            "crashCollector": {"disable": False},
            "storage": storage,
            "disruptionManagement": {"managePodBudgets": True},
            **({"placement": placement} if placement else {}),
        },
    )


def _replicated(ceph: Ceph, pool: CephPool) -> dict[str, Any]:
    return {
        "failureDomain": pool.failure_domain or ceph.failure_domain,
        "replicated": {"size": pool.replicas, "requireSafeReplicaSize": pool.replicas > 1},
        "parameters": {"min_size": str(pool.min_size)},
    }


def _storage_class(
    ctx: Ctx, name: str, *, provisioner: str, parameters: dict[str, str], default: bool
) -> dict[str, Any]:
    return obj(
        STORAGE,
        "StorageClass",
        name,
        namespace=None,
        labels=ctx.labels(name, component="storage-class"),
        annotations={DEFAULT_CLASS: "true"} if default else None,
        provisioner=provisioner,
        parameters=parameters,
        reclaimPolicy="Retain",
        allowVolumeExpansion=True,
        volumeBindingMode="WaitForFirstConsumer",
    )


def _csi_secrets(kind: str) -> dict[str, str]:
    # Secrets Rook's operator creates for its CSI drivers; referenced by name only.
    p = "csi.storage.k8s.io"
    return {
        f"{p}/provisioner-secret-name": f"rook-csi-{kind}-provisioner",
        f"{p}/provisioner-secret-namespace": ROOK_NAMESPACE,
        f"{p}/controller-expand-secret-name": f"rook-csi-{kind}-provisioner",
        f"{p}/controller-expand-secret-namespace": ROOK_NAMESPACE,
        f"{p}/node-stage-secret-name": f"rook-csi-{kind}-node",
        f"{p}/node-stage-secret-namespace": ROOK_NAMESPACE,
    }


def pool_objects(ctx: Ctx, ceph: Ceph, pool: CephPool) -> list[dict[str, Any]]:
    """The Rook resource of one pool and the StorageClass that exposes it."""
    labels = ctx.labels(pool.name, component="storage")
    rep = _replicated(ceph, pool)
    if pool.type == "block":
        return [
            obj(API, "CephBlockPool", pool.name, namespace=ROOK_NAMESPACE, labels=labels, spec=rep),
            _storage_class(
                ctx,
                pool.name,
                provisioner=f"{ROOK_NAMESPACE}.rbd.csi.ceph.com",
                parameters={
                    "clusterID": ROOK_NAMESPACE,
                    "pool": pool.name,
                    "imageFormat": "2",
                    "imageFeatures": "layering",
                    "csi.storage.k8s.io/fstype": "ext4",
                    **_csi_secrets("rbd"),
                },
                default=pool.default,
            ),
        ]
    if pool.type == "object":
        store = obj(
            API,
            "CephObjectStore",
            pool.name,
            namespace=ROOK_NAMESPACE,
            labels=labels,
            spec={
                "metadataPool": {k: v for k, v in rep.items() if k != "parameters"},
                "dataPool": {k: v for k, v in rep.items() if k != "parameters"},
                "preservePoolsOnDelete": True,
                "gateway": {
                    "securePort": 443,
                    "sslCertificateRef": rgw_tls_secret(pool),
                    "instances": 2,
                },
            },
        )
        return [
            store,
            _storage_class(
                ctx,
                bucket_class(pool),
                provisioner=f"{ROOK_NAMESPACE}.ceph.rook.io/bucket",
                parameters={"objectStoreName": pool.name, "objectStoreNamespace": ROOK_NAMESPACE},
                default=False,
            ),
        ]
    fs = obj(
        API,
        "CephFilesystem",
        pool.name,
        namespace=ROOK_NAMESPACE,
        labels=labels,
        spec={
            "metadataPool": {k: v for k, v in rep.items() if k != "parameters"},
            "dataPools": [{"name": "data0", **{k: v for k, v in rep.items() if k != "parameters"}}],
            "preserveFilesystemOnDelete": True,
            "metadataServer": {"activeCount": 1, "activeStandby": True},
        },
    )
    return [
        fs,
        _storage_class(
            ctx,
            pool.name,
            provisioner=f"{ROOK_NAMESPACE}.cephfs.csi.ceph.com",
            parameters={
                "clusterID": ROOK_NAMESPACE,
                "fsName": pool.name,
                "pool": f"{pool.name}-data0",
                **_csi_secrets("cephfs"),
            },
            default=pool.default,
        ),
    ]


def rook(ctx: Ctx) -> list[dict[str, Any]]:
    """Every Rook resource and StorageClass of the cluster."""
    out: list[dict[str, Any]] = []
    for ceph in ctx.ceph:
        out.append(ceph_cluster(ctx, ceph))
        for pool in ceph.pools:
            out.extend(pool_objects(ctx, ceph, pool))
    return out
