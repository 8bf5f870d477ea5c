"""What every Kubernetes builder needs to know about one cluster, computed once."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from attonix.blueprint.model import Blueprint, Ceph, CephPool, Cluster, Database, Service
from attonix.render.base import RenderError
from attonix.render.labels import blueprint_labels, component_labels
from attonix.render.workloads import Workload, namespace_of

ROOK_NAMESPACE = "rook-ceph"
DATABASES_NAMESPACE = "databases"
CERT_MANAGER_NAMESPACE = "cert-manager"
#: Namespaces the operators run in (their pods reach the databases they manage).
OPERATOR_NAMESPACES = {
    "postgresql": "cnpg-system",
    "mysql": "mysql-operator",
    "mongodb": DATABASES_NAMESPACE,  # the community operator watches its own namespace
}


def obj(
    api_version: str,
    kind: str,
    name: str,
    *,
    namespace: str | None,
    labels: dict[str, str],
    annotations: dict[str, str] | None = None,
    **body: Any,
) -> dict[str, Any]:
    """A Kubernetes object with metadata first and the body keys in the order given."""
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **body}


@dataclass(frozen=True)
class Ctx:
    """One cluster of a blueprint, with its workloads, databases and Ceph."""

    bp: Blueprint
    cluster: Cluster

    @functools.cached_property
    def workloads(self) -> list[Workload]:
        """Backend services then frontends of this cluster, in blueprint order."""
        every: list[Workload] = [*self.bp.services.backend, *self.bp.services.frontend]
        return [w for w in every if w.cluster == self.cluster.name]

    @property
    def databases(self) -> list[Database]:
        """Operator-run databases of this cluster."""
        return [d for d in self.bp.databases if d.cluster == self.cluster.name]

    @property
    def ceph(self) -> list[Ceph]:
        """Ceph clusters Rook runs in this cluster."""
        return [
            c
            for c in self.bp.storage.ceph
            if c.mode == "rook" and c.kubernetes_cluster == self.cluster.name
        ]

    @functools.cached_property
    def clients(self) -> dict[str, list[Service]]:
        """Database name -> the backend services of this cluster that use it, in order."""
        out: dict[str, list[Service]] = {}
        for w in self.workloads:
            if isinstance(w, Service):
                for name in dict.fromkeys(w.databases):
                    out.setdefault(name, []).append(w)
        return out

    @functools.cached_property
    def callers(self) -> dict[str, list[Workload]]:
        """Workload name -> the workloads whose replicas call it (``depends_on``, and the
        ``backends`` of a frontend that calls from the server)."""
        out: dict[str, list[Workload]] = {}
        for w in self.workloads:
            for target in w.connects_to():
                out.setdefault(target, []).append(w)
        return out

    def workload_namespaces(self) -> list[str]:
        """Namespaces of the workloads, sorted."""
        return sorted({namespace_of(self.bp, w) for w in self.workloads})

    def labels(self, name: str, *, component: str, version: str = "") -> dict[str, str]:
        """Standard labels of a component rendered for this cluster."""
        return component_labels(self.bp, name, component=component, version=version)

    def base_labels(self) -> dict[str, str]:
        """The blueprint's own labels (for shared objects such as namespaces)."""
        return blueprint_labels(self.bp)

    def pool(self, name: str | None, *, kind: str, what: str) -> tuple[Ceph, CephPool]:
        """A Ceph pool of type ``kind`` by name, or the cluster's default/first one."""
        if name is not None:
            found = self.bp.pools_by_name.get(name)
            if found is None or found[1].type != kind:
                raise RenderError(
                    f"{what}: pool {name!r} is not a Ceph {kind} pool",
                    hint=f"Name a pool of type {kind} under storage.ceph[].pools.",
                )
            return found
        candidates = [(c, p) for c in self.ceph for p in c.pools if p.type == kind]
        if not candidates:
            raise RenderError(
                f"{what} needs a Ceph {kind} pool in cluster {self.cluster.name}; there is none",
                hint=f"Add a pool of type {kind} to a storage.ceph entry with "
                f"kubernetes_cluster: {self.cluster.name}.",
            )
        defaults = [cp for cp in candidates if cp[1].default]
        return (defaults or candidates)[0]

    def database_host(self, db: Database, *, client_namespace: str) -> str:
        """The DNS name a client reaches ``db`` at (the primary/read-write endpoint)."""
        if db.engine == "biganimal":
            return f"{db.name}.{client_namespace}.svc"  # ExternalName in the client's namespace
        service = {
            "postgresql": f"{db.name}-rw",
            "mysql": db.name,
            "mongodb": f"{db.name}-svc",
        }[db.engine]
        return f"{service}.{DATABASES_NAMESPACE}.svc"

    def database_hosts(self, w: Workload) -> dict[str, str]:
        """Host names of every database a workload uses."""
        ns = namespace_of(self.bp, w)
        names = getattr(w, "databases", [])
        return {
            n: self.database_host(self.bp.databases_by_name[n], client_namespace=ns) for n in names
        }
