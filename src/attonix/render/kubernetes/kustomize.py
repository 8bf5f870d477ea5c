"""Lay rendered objects out as a kustomize tree: one file per object under
``<cluster>/<namespace>/`` (``<cluster>/cluster-scoped/`` for cluster-wide kinds), a
``kustomization.yaml`` listing them, and the node labels the hosts must carry."""

from __future__ import annotations

from typing import Any, Literal

from attonix.blueprint.model import Blueprint, Cluster
from attonix.render.base import Artifact, dump_yaml
from attonix.render.labels import COMPONENT, NAME
from attonix.render.workloads import TOPOLOGY_KEYS

TARGET = "kubernetes"
CLUSTER_SCOPED = "cluster-scoped"

#: Apply order: what others depend on first (kustomize sorts the same way when it builds).
KIND_ORDER = [
    "Namespace",
    "StorageClass",
    "ClusterIssuer",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "NetworkPolicy",
    "Certificate",
    "CephCluster",
    "CephBlockPool",
    "CephObjectStore",
    "CephFilesystem",
    "ObjectBucketClaim",
    "Service",
    "Cluster",
    "ScheduledBackup",
    "InnoDBCluster",
    "MongoDBCommunity",
    "Deployment",
    "StatefulSet",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "Ingress",
]
_RANK = {k: i for i, k in enumerate(KIND_ORDER)}


def sort_key(doc: dict[str, Any]) -> tuple[int, str, str, str]:
    """Stable order of objects: by kind rank, then namespace, then name."""
    meta = doc["metadata"]
    return (
        _RANK.get(doc["kind"], len(KIND_ORDER)),
        meta.get("namespace", ""),
        doc["kind"],
        meta["name"],
    )


def object_path(cluster: str, doc: dict[str, Any], *, ext: str) -> str:
    """Where one object is written inside the tree."""
    meta = doc["metadata"]
    folder = meta.get("namespace", CLUSTER_SCOPED)
    return f"{cluster}/{folder}/{doc['kind'].lower()}-{meta['name']}.{ext}"


#: ``app.kubernetes.io/component`` values naming exactly one blueprint component, and the
#: kind of its ``kind/name`` id.
_COMPONENT_KINDS = {"service": "service", "frontend": "frontend", "database": "database"}


def component_of(doc: dict[str, Any]) -> str:
    """The ``kind/name`` component id of an object, from its labels ('' when shared)."""
    labels = (doc.get("metadata") or {}).get("labels") or {}
    kind = _COMPONENT_KINDS.get(str(labels.get(COMPONENT, "")))
    name = str(labels.get(NAME, ""))
    return f"{kind}/{name}" if kind and name else ""


def node_labels(bp: Blueprint, cluster: Cluster) -> str:
    """A YAML document (with an explanatory header) of the labels each node must carry."""
    hosts = bp.hosts_by_name
    names = list(dict.fromkeys([*cluster.control_plane, *cluster.workers]))
    data = {
        "nodes": {
            n: {
                TOPOLOGY_KEYS["host"]: n,
                TOPOLOGY_KEYS["zone"]: hosts[n].zone,
                TOPOLOGY_KEYS["rack"]: hosts[n].rack,
                **dict(sorted(hosts[n].labels.items())),
            }
            for n in names
            if n in hosts
        }
    }
    header = (
        "# Node labels the topology spread constraints, placement and Rook rely on.\n"
        "# Not a Kubernetes object (kustomize ignores this file); apply with, per node:\n"
        "#   kubectl label node NODE KEY=VALUE ... --overwrite\n"
    )
    return header + dump_yaml(data)


def tree(
    bp: Blueprint,
    cluster: Cluster,
    docs: list[dict[str, Any]],
    *,
    fmt: Literal["yaml", "json"],
) -> list[Artifact]:
    """The artifacts of one cluster's kustomize tree."""
    ext = "json" if fmt == "json" else "yaml"
    arts = [
        Artifact(TARGET, object_path(cluster.name, d, ext=ext), d, fmt, component_of(d))
        for d in docs
    ]
    resources = sorted(a.path.split("/", 1)[1] for a in arts)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": resources,
    }
    arts.append(Artifact(TARGET, f"{cluster.name}/kustomization.yaml", kustomization, "yaml"))
    arts.append(
        Artifact(TARGET, f"{cluster.name}/node-labels.yaml", node_labels(bp, cluster), "text")
    )
    return sorted(arts, key=lambda a: a.path)


def single_file(
    cluster: Cluster, docs: list[dict[str, Any]], *, fmt: Literal["yaml", "json"]
) -> Artifact:
    """Every object of a cluster in one file: multi-document YAML, or a JSON ``v1`` List."""
    if fmt == "json":
        content = {"apiVersion": "v1", "kind": "List", "items": docs}
        return Artifact(TARGET, f"{cluster.name}.json", content, "json")
    return Artifact(TARGET, f"{cluster.name}.yaml", docs, "yaml-multi")
