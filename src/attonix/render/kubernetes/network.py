"""NetworkPolicies: deny everything in each namespace, then allow exactly the flows the
blueprint declares (service -> database, service -> service, frontend -> backend, ingress
controller -> exposed workloads, DNS, and what the database operators need internally)."""

from __future__ import annotations

from typing import Any

from attonix.blueprint.model import Database, Service
from attonix.blueprint.naming import derived
from attonix.render import workloads as wl
from attonix.render.kubernetes import backups
from attonix.render.kubernetes._context import DATABASES_NAMESPACE, OPERATOR_NAMESPACES, Ctx, obj

NS_LABEL = "kubernetes.io/metadata.name"
API = "networking.k8s.io/v1"

#: Labels the operators put on database pods (what policies select them by).
DB_POD_LABELS = {
    "postgresql": "cnpg.io/cluster",
    "mysql": "mysql.oracle.com/cluster",
    "mongodb": "app",
}
#: Ports clients use on the database pods (the MySQL router listens on 6446/6447 behind 3306).
DB_CLIENT_PORTS = {
    "postgresql": [5432],
    "mysql": [3306, 6446, 6447],
    "mongodb": [27017],
    "biganimal": [5432],
}
#: Ports replicas use among themselves, and operators to reach them.
DB_PEER_PORTS = {
    "postgresql": [5432, 8000],
    "mysql": [3306, 33060, 33061],
    "mongodb": [27017],
}
OPERATOR_PORTS = {"postgresql": [8000], "mysql": [3306, 33060], "mongodb": [27017]}
OBJECT_STORE_PORTS = [443]


def ingress_controller_namespace(ctx: Ctx) -> str:
    """The namespace the cluster's ingress controller runs in (``ingress-<class>``)."""
    return f"ingress-{ctx.cluster.ingress_class}"


def db_pod_selector(db: Database) -> dict[str, Any]:
    """Selects the pods of an operator-run database."""
    value = f"{db.name}-svc" if db.engine == "mongodb" else db.name
    return {"matchLabels": {DB_POD_LABELS[db.engine]: value}}


def _ports(ports: list[int], protocol: str = "TCP") -> list[dict[str, Any]]:
    return [{"protocol": protocol, "port": p} for p in ports]


def _peer(namespace: str, pod_selector: dict[str, Any]) -> dict[str, Any]:
    return {
        "namespaceSelector": {"matchLabels": {NS_LABEL: namespace}},
        "podSelector": pod_selector,
    }


def _workload_peer(ctx: Ctx, w: wl.Workload) -> dict[str, Any]:
    return _peer(wl.namespace_of(ctx.bp, w), {"matchLabels": wl.selector_labels(ctx.bp, w.name)})


def _api_server_peers(ctx: Ctx) -> list[dict[str, Any]]:
    hosts = ctx.bp.hosts_by_name
    addrs = sorted({str(hosts[n].address) for n in ctx.cluster.control_plane if n in hosts})
    return [{"ipBlock": {"cidr": f"{a}/{128 if ':' in a else 32}"}} for a in addrs]


def _external_peers(ctx: Ctx) -> list[dict[str, Any]]:
    """Anywhere outside the cluster's own pod and service ranges (managed databases)."""
    net = ctx.cluster.network
    return [{"ipBlock": {"cidr": "0.0.0.0/0", "except": [net.pod_cidr, net.service_cidr]}}]


def _policy(
    ctx: Ctx,
    name: str,
    *,
    namespace: str,
    selector: dict[str, Any],
    ingress: list[dict[str, Any]] | None,
    egress: list[dict[str, Any]] | None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": selector, "policyTypes": []}
    if ingress is not None:
        spec["policyTypes"].append("Ingress")
        spec["ingress"] = ingress
    if egress is not None:
        spec["policyTypes"].append("Egress")
        spec["egress"] = egress
    return obj(
        API,
        "NetworkPolicy",
        name,
        namespace=namespace,
        labels=ctx.labels(name, component="network-policy"),
        spec=spec,
    )


def namespace_baseline(ctx: Ctx, namespace: str) -> list[dict[str, Any]]:
    """Default deny (ingress and egress) for every pod of a namespace, plus DNS egress."""
    deny = _policy(ctx, "default-deny", namespace=namespace, selector={}, ingress=[], egress=[])
    dns = _policy(
        ctx,
        "allow-dns",
        namespace=namespace,
        selector={},
        ingress=None,
        egress=[
            {
                "to": [_peer("kube-system", {"matchLabels": {"k8s-app": "kube-dns"}})],
                "ports": _ports([53], "UDP") + _ports([53], "TCP"),
            }
        ],
    )
    return [deny, dns]


def workload_policy(ctx: Ctx, w: wl.Workload) -> dict[str, Any]:
    """Ingress from declared callers and the ingress controller; egress to declared peers."""
    ports = [{"protocol": p.protocol, "port": p.port} for p in w.ports]
    ingress: list[dict[str, Any]] = []
    # A worker without ports accepts no connections at all (an empty port list would mean all).
    callers = ctx.callers.get(w.name, []) if ports else []
    if callers:
        ingress.append({"from": [_workload_peer(ctx, c) for c in callers], "ports": ports})
    if w.expose is not None and ports:
        ingress.append(
            {
                "from": [_peer(ingress_controller_namespace(ctx), {})],
                "ports": [dict(p) for p in ports],
            }
        )
    egress: list[dict[str, Any]] = []
    for name in w.connects_to():
        dep = ctx.bp.workloads_by_name[name]
        if dep.cluster != ctx.cluster.name or not dep.ports:
            continue  # another cluster: reached through its ingress, not pod to pod
        egress.append(
            {
                "to": [_workload_peer(ctx, dep)],
                "ports": [{"protocol": p.protocol, "port": p.port} for p in dep.ports],
            }
        )
    for name in getattr(w, "databases", []):
        db = ctx.bp.databases_by_name[name]
        if db.engine == "biganimal":
            egress.append({"to": _external_peers(ctx), "ports": _ports(DB_CLIENT_PORTS[db.engine])})
        elif db.cluster == ctx.cluster.name:
            egress.append(
                {
                    "to": [_peer(DATABASES_NAMESPACE, db_pod_selector(db))],
                    "ports": _ports(DB_CLIENT_PORTS[db.engine]),
                }
            )
    if isinstance(w, Service) and w.kubernetes_api_access:
        egress.append({"to": _api_server_peers(ctx), "ports": _ports([6443])})
    return _policy(
        ctx,
        w.name,
        namespace=wl.namespace_of(ctx.bp, w),
        selector={"matchLabels": wl.selector_labels(ctx.bp, w.name)},
        ingress=ingress,
        egress=egress,
    )


def database_policy(ctx: Ctx, db: Database) -> dict[str, Any]:
    """Clients on the client ports; replicas and the operator among themselves; backups out."""
    me = _peer(DATABASES_NAMESPACE, db_pod_selector(db))
    clients = [_workload_peer(ctx, w) for w in ctx.clients.get(db.name, [])]
    ingress: list[dict[str, Any]] = []
    if clients:
        ingress.append({"from": clients, "ports": _ports(DB_CLIENT_PORTS[db.engine])})
    ingress.append({"from": [me], "ports": _ports(DB_PEER_PORTS[db.engine])})
    dump_job = backups.backs_up(db) and db.engine in backups.DUMP_ENGINES
    if dump_job:
        ingress.append(
            {
                "from": [_peer(DATABASES_NAMESPACE, _job_selector(ctx, db))],
                "ports": _ports(DB_CLIENT_PORTS[db.engine]),
            }
        )
    operator_ns = OPERATOR_NAMESPACES[db.engine]
    ingress.append({"from": [_peer(operator_ns, {})], "ports": _ports(OPERATOR_PORTS[db.engine])})
    egress: list[dict[str, Any]] = [
        {
            "to": [_peer(DATABASES_NAMESPACE, db_pod_selector(db))],
            "ports": _ports(DB_PEER_PORTS[db.engine]),
        },
        # Instance managers and sidecars watch their own resources through the API server.
        {"to": _api_server_peers(ctx), "ports": _ports([6443])},
    ]
    if backups.backs_up(db) and db.engine == "postgresql":
        egress.append(
            {
                "to": [_peer("rook-ceph", {"matchLabels": {"app": "rook-ceph-rgw"}})],
                "ports": _ports(OBJECT_STORE_PORTS),
            }
        )
    return _policy(
        ctx,
        f"db-{db.name}",
        namespace=DATABASES_NAMESPACE,
        selector=db_pod_selector(db),
        ingress=ingress,
        egress=egress,
    )


def _job_selector(ctx: Ctx, db: Database) -> dict[str, Any]:
    return {"matchLabels": wl.selector_of(backups.job_labels(ctx, db))}


def backup_job_policy(ctx: Ctx, db: Database) -> dict[str, Any]:
    """The dump Job of a MySQL or MongoDB backup: to its database and the object gateway only."""
    return _policy(
        ctx,
        derived(db.name, "backup"),
        namespace=DATABASES_NAMESPACE,
        selector=_job_selector(ctx, db),
        ingress=[],
        egress=[
            {
                "to": [_peer(DATABASES_NAMESPACE, db_pod_selector(db))],
                "ports": _ports(DB_CLIENT_PORTS[db.engine]),
            },
            {
                "to": [_peer("rook-ceph", {"matchLabels": {"app": "rook-ceph-rgw"}})],
                "ports": _ports(OBJECT_STORE_PORTS),
            },
        ],
    )


def network_policies(ctx: Ctx) -> list[dict[str, Any]]:
    """Every NetworkPolicy of the cluster."""
    out: list[dict[str, Any]] = []
    namespaces = ctx.workload_namespaces()
    if ctx.databases and DATABASES_NAMESPACE not in namespaces:
        namespaces = sorted([*namespaces, DATABASES_NAMESPACE])
    for ns in namespaces:
        out.extend(namespace_baseline(ctx, ns))
    out.extend(workload_policy(ctx, w) for w in ctx.workloads)
    out.extend(database_policy(ctx, d) for d in ctx.databases)
    out.extend(
        backup_job_policy(ctx, d)
        for d in ctx.databases
        if backups.backs_up(d) and d.engine in backups.DUMP_ENGINES
    )
    return out
