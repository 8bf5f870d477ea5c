"""The architecture as a graph: bands (one per layer of the plan, top to bottom in the order
traffic flows), the nodes in each band, and the edges between nodes. Both the SVG and the
Mermaid renderings draw this one graph, so they cannot disagree."""

from __future__ import annotations

from dataclasses import dataclass, field

from attonix.blueprint.model import Blueprint


@dataclass(frozen=True, slots=True)
class Node:
    """One box: a stable id, a label, a one-line subtitle and its kind (for styling)."""

    id: str
    kind: str
    label: str
    subtitle: str = ""
    group: str = ""


@dataclass(frozen=True, slots=True)
class Edge:
    """An arrow from one node to another, with the kind of flow it stands for."""

    source: str
    target: str
    kind: str


@dataclass(slots=True)
class Band:
    """A horizontal layer of the diagram."""

    key: str
    title: str
    nodes: list[Node] = field(default_factory=list)


@dataclass(slots=True)
class Graph:
    """Bands and edges; ``edges`` only join nodes that exist."""

    bands: list[Band]
    edges: list[Edge]

    def node_ids(self) -> set[str]:
        """Every node id."""
        return {n.id for b in self.bands for n in b.nodes}


def node_id(kind: str, name: str) -> str:
    """The id of a node: ``<kind>-<name>`` (names are DNS labels, so ids are XML-safe)."""
    return f"{kind}-{name}"


def build(bp: Blueprint) -> Graph:
    """The graph of ``bp``."""
    bands = [
        Band("lb", "Load balancers"),
        Band("frontend", "Frontend"),
        Band("backend", "Backend services"),
        Band("database", "Databases"),
        Band("cluster", "Orchestration"),
        Band("host", "Hosts by zone"),
        Band("storage", "Storage"),
        Band("security", "Security"),
        Band("cicd", "CI/CD"),
        Band("config", "Configuration"),
    ]
    by = {b.key: b for b in bands}
    edges: list[Edge] = []
    for lb in bp.ha.load_balancers:
        vip = f" · VIP {lb.virtual_ip}" if lb.virtual_ip else ""
        by["lb"].nodes.append(
            Node(node_id("lb", lb.name), "lb", lb.name, f"{lb.kind} ×{len(lb.hosts)}{vip}")
        )
    for fe in bp.services.frontend:
        by["frontend"].nodes.append(
            Node(node_id("frontend", fe.name), "frontend", fe.name, _workload_sub(fe))
        )
    for svc in bp.services.backend:
        by["backend"].nodes.append(
            Node(node_id("service", svc.name), "service", svc.name, _workload_sub(svc))
        )
    for db in bp.databases:
        where = f" · {db.managed.region}" if db.managed else ""
        role = "primary · " if db.primary else ""
        by["database"].nodes.append(
            Node(
                node_id("database", db.name),
                "database",
                db.name,
                f"{role}{db.engine} {db.version} ×{db.replicas}{where}",
            )
        )
    for c in bp.orchestration.clusters:
        kind = f"kubernetes {c.version}" if c.version else c.kind
        nodes = len(dict.fromkeys([*c.control_plane, *c.workers]))
        by["cluster"].nodes.append(
            Node(node_id("cluster", c.name), "cluster", c.name, f"{kind} · {nodes} nodes")
        )
    for h in sorted(bp.hosts, key=lambda h: (h.zone, h.rack, h.name)):
        roles = ",".join(h.roles) or "host"
        by["host"].nodes.append(
            Node(node_id("host", h.name), "host", h.name, f"{h.address} · {roles}", group=h.zone)
        )
    _storage(bp, by["storage"])
    _security(bp, by["security"])
    _cicd(bp, by["cicd"])
    chef = bp.configuration.chef
    if chef is not None:
        by["config"].nodes.append(
            Node(
                "chef", "config", "chef", f"{chef.organization} · every {chef.interval_minutes} min"
            )
        )
        for chef_role in chef.roles:
            by["config"].nodes.append(
                Node(
                    node_id("chef-role", chef_role.name),
                    "config",
                    f"role {chef_role.name}",
                    ", ".join(chef_role.hosts_with),
                )
            )
    ids = {n.id for b in bands for n in b.nodes}
    clusters = {c.name for c in bp.orchestration.clusters}
    for lb in bp.ha.load_balancers:
        for fr in lb.frontends:
            target = _backend_target(bp, fr.backend, clusters)
            if target:
                edges.append(Edge(node_id("lb", lb.name), target, "traffic"))
    for fe in bp.services.frontend:
        for be in fe.backends:
            edges.append(Edge(node_id("frontend", fe.name), node_id("service", be), "api"))
    for svc in bp.services.backend:
        for dep in svc.depends_on:
            edges.append(Edge(node_id("service", svc.name), node_id("service", dep), "api"))
        for db_name in svc.databases:
            edges.append(Edge(node_id("service", svc.name), node_id("database", db_name), "data"))
    seen: set[tuple[str, str, str]] = set()
    unique = []
    for e in edges:
        key = (e.source, e.target, e.kind)
        if e.source in ids and e.target in ids and key not in seen:
            seen.add(key)
            unique.append(e)
    return Graph([b for b in bands if b.nodes], unique)


def _workload_sub(w: object) -> str:
    replicas = getattr(w, "replicas", 0)
    auto = getattr(w, "autoscaling", None)
    count = f"{auto.min_replicas}–{auto.max_replicas}" if auto else str(replicas)
    return f"×{count} on {getattr(w, 'cluster', '')}"


def _backend_target(bp: Blueprint, backend: str, clusters: set[str]) -> str | None:
    if backend in bp.workloads_by_name:
        kind = "frontend" if any(f.name == backend for f in bp.services.frontend) else "service"
        return node_id(kind, backend)
    name = backend.removeprefix("kubernetes-api:")
    return node_id("cluster", name) if name in clusters else None


def _storage(bp: Blueprint, band: Band) -> None:
    for ceph in bp.storage.ceph:
        where = ceph.kubernetes_cluster if ceph.mode == "rook" else "hosts"
        band.nodes.append(
            Node(
                node_id("ceph", ceph.name),
                "storage",
                ceph.name,
                f"ceph · {ceph.mode} on {where}",
            )
        )
        for pool in ceph.pools:
            band.nodes.append(
                Node(
                    node_id("pool", pool.name),
                    "storage",
                    pool.name,
                    f"{pool.type} pool ×{pool.replicas}",
                )
            )
    for os_ in bp.storage.openstack:
        vms = sum(g.count for g in os_.instances)
        band.nodes.append(
            Node(
                node_id("openstack", os_.name),
                "storage",
                os_.name,
                f"openstack · {vms} instances",
            )
        )
    for vc in bp.storage.vsphere:
        vms = sum(g.count for g in vc.vms)
        band.nodes.append(
            Node(node_id("vsphere", vc.name), "storage", vc.name, f"vsphere · {vms} VMs")
        )


def _security(bp: Blueprint, band: Band) -> None:
    sec = bp.security
    band.nodes.append(
        Node("tls", "security", sec.tls.ca.name, f"internal CA · TLS ≥ {sec.tls.min_version}")
    )
    rest, transit = sec.encryption.at_rest, sec.encryption.in_transit
    band.nodes.append(
        Node(
            "encryption",
            "security",
            "encryption",
            f"at rest: {rest.provider} · mTLS: {'on' if transit.mutual_tls else 'off'}",
        )
    )
    fw = sec.firewall
    band.nodes.append(
        Node(
            "firewall",
            "security",
            "firewall",
            f"{fw.default_policy} by default · {len(fw.rules)} rules",
        )
    )
    band.nodes.append(
        Node(
            "access",
            "security",
            "access control",
            f"MFA: {', '.join(sec.access_control.mfa_required_for) or 'none'}",
        )
    )
    band.nodes.append(
        Node("secrets", "security", "secrets", f"{len(sec.secrets)} names, in the vault")
    )


def _cicd(bp: Blueprint, band: Band) -> None:
    c = bp.cicd
    if c.zuul is not None:
        band.nodes.append(Node("zuul", "cicd", "zuul", f"tenant {c.zuul.tenant}"))
    if c.github is not None:
        band.nodes.append(Node("github", "cicd", "github", c.github.organization))
    if c.gitlab is not None:
        band.nodes.append(Node("gitlab", "cicd", "gitlab", c.gitlab.group))
    for p in c.pipelines:
        band.nodes.append(
            Node(
                node_id("pipeline", p.name),
                "cicd",
                p.name,
                f"{p.provider} · {len(p.stages)} stages"
                + (" · deploys" if "deploy" in p.stages else ""),
            )
        )
