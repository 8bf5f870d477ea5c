"""Cross-references between blueprint sections: every name used must be declared, once."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from attonix.blueprint.diagnostics import Diagnostic, Path
from attonix.blueprint.model import Blueprint
from attonix.blueprint.source import SourceMap


class _Checker:
    def __init__(self, source: SourceMap) -> None:
        self.source = source
        self.problems: list[Diagnostic] = []

    def error(self, code: str, path: Path, message: str, hint: str) -> None:
        self.problems.append(
            Diagnostic(
                code=code, message=message, location=self.source.locate(path), path=path, hint=hint
            )
        )

    def unique(self, what: str, items: Iterable[tuple[Path, str]]) -> set[str]:
        """Report duplicate names; return the set of names."""
        first: dict[str, Path] = {}
        for path, name in items:
            if name in first:
                line = self.source.locate(first[name]).line
                self.error(
                    "BP020",
                    path,
                    f"duplicate {what} name {name!r} (first at line {line})",
                    f"Give each {what} its own name.",
                )
            else:
                first[name] = path
        return set(first)

    def ref(self, path: Path, name: str, known: set[str], what: str, *, other: str = "") -> None:
        """Report ``name`` unless ``known``; ``other`` says what else it is, when it exists."""
        if name in known:
            return
        if other:
            self.error(
                "BP021", path, f"{name!r} is {other}, not a {what}", _declare_hint(what, known)
            )
            return
        close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
        hint = f"Did you mean {close[0]!r}? " if close else ""
        self.error(
            "BP021", path, f"unknown {what} {name!r}", hint + _declare_hint(what, known, name)
        )

    def refs(self, base: Path, names: Sequence[str], known: set[str], what: str) -> None:
        for i, name in enumerate(names):
            self.ref((*base, i), name, known, what)


#: Where each kind of name is declared, for the hint of an unknown one.
_DECLARED = {
    "host": "under 'hosts'",
    "cluster": "under 'orchestration.clusters'",
    "kubernetes cluster": "under 'orchestration.clusters' with 'kind: kubernetes'",
    "secret": "under 'security.secrets' (its name only; the value goes in the vault)",
    "firewall zone": "under 'security.firewall.zones'",
    "account": "under 'users.accounts'",
    "group": "under 'users.groups'",
    "openstack network": "under 'networks' of the same storage.openstack entry",
    "ceph pool": "under 'pools' of a storage.ceph entry",
    "database": "under 'databases'",
    "service": "under 'services.backend' or 'services.frontend'",
    "backend service": "under 'services.backend'",
    "zone": "as the 'zone' of a host under 'hosts'",
    "rack": "as the 'rack' of a host under 'hosts'",
    "service or kubernetes cluster": "under 'services' or as a kubernetes cluster under "
    "'orchestration.clusters'",
}


def _declare_hint(what: str, known: set[str], name: str = "") -> str:
    """Where a ``what`` is declared, and the names declared so far when they are few."""
    where = _DECLARED[what]
    subject = f"{name!r}" if name else "it"
    if not known:
        return f"Declare {subject} {where}; there is no {what} yet."
    if len(known) <= 12:
        return f"Declare {subject} {where}, or use one of: {', '.join(sorted(known))}."
    return f"Declare {subject} {where}."


def check_references(bp: Blueprint, source: SourceMap) -> list[Diagnostic]:
    """Check every cross-section reference and name uniqueness; return all problems."""
    c = _Checker(source)
    hosts = c.unique("host", ((("hosts", i, "name"), h.name) for i, h in enumerate(bp.hosts)))
    clusters_list = bp.orchestration.clusters
    clusters = c.unique(
        "cluster",
        ((("orchestration", "clusters", i, "name"), k.name) for i, k in enumerate(clusters_list)),
    )
    kube = {k.name for k in clusters_list if k.kind == "kubernetes"}
    secrets = c.unique(
        "secret",
        ((("security", "secrets", i, "name"), s.name) for i, s in enumerate(bp.security.secrets)),
    )
    zones = c.unique(
        "firewall zone",
        (
            (("security", "firewall", "zones", i, "name"), z.name)
            for i, z in enumerate(bp.security.firewall.zones)
        ),
    )
    c.unique(
        "firewall rule",
        (
            (("security", "firewall", "rules", i, "name"), r.name)
            for i, r in enumerate(bp.security.firewall.rules)
        ),
    )
    c.unique(
        "ceph cluster",
        ((("storage", "ceph", i, "name"), x.name) for i, x in enumerate(bp.storage.ceph)),
    )
    c.unique(
        "ceph pool",
        (
            (("storage", "ceph", i, "pools", j, "name"), p.name)
            for i, x in enumerate(bp.storage.ceph)
            for j, p in enumerate(x.pools)
        ),
    )
    pool_type = {p.name: p.type for x in bp.storage.ceph for p in x.pools}
    c.unique(
        "openstack cloud",
        ((("storage", "openstack", i, "name"), x.name) for i, x in enumerate(bp.storage.openstack)),
    )
    c.unique(
        "vsphere",
        ((("storage", "vsphere", i, "name"), x.name) for i, x in enumerate(bp.storage.vsphere)),
    )
    databases = c.unique(
        "database", ((("databases", i, "name"), d.name) for i, d in enumerate(bp.databases))
    )
    backend = bp.services.backend
    frontend = bp.services.frontend
    workloads = c.unique(
        "service",
        [
            *((("services", "backend", i, "name"), s.name) for i, s in enumerate(backend)),
            *((("services", "frontend", i, "name"), f.name) for i, f in enumerate(frontend)),
        ],
    )
    backend_names = {s.name for s in backend}
    groups = c.unique(
        "group", ((("users", "groups", i, "name"), g.name) for i, g in enumerate(bp.users.groups))
    )
    accounts = c.unique(
        "account",
        ((("users", "accounts", i, "name"), a.name) for i, a in enumerate(bp.users.accounts)),
    )
    c.unique(
        "pipeline",
        ((("cicd", "pipelines", i, "name"), p.name) for i, p in enumerate(bp.cicd.pipelines)),
    )
    c.unique(
        "load balancer",
        (
            (("ha", "load_balancers", i, "name"), lb.name)
            for i, lb in enumerate(bp.ha.load_balancers)
        ),
    )

    zone_names = {h.zone for h in bp.hosts}
    rack_names = {h.rack for h in bp.hosts}

    for i, k in enumerate(clusters_list):
        base: Path = ("orchestration", "clusters", i)
        c.refs((*base, "control_plane"), k.control_plane, hosts, "host")
        c.refs((*base, "workers"), k.workers, hosts, "host")

    for i, x in enumerate(bp.storage.ceph):
        base = ("storage", "ceph", i)
        c.refs((*base, "hosts"), x.hosts, hosts, "host")
        if x.kubernetes_cluster is not None:
            c.ref(
                (*base, "kubernetes_cluster"),
                x.kubernetes_cluster,
                kube,
                "kubernetes cluster",
                other=_kind_of(bp, x.kubernetes_cluster),
            )
    for i, o in enumerate(bp.storage.openstack):
        base = ("storage", "openstack", i)
        c.ref((*base, "credentials_secret"), o.credentials_secret, secrets, "secret")
        nets = c.unique(
            "openstack network",
            (((*base, "networks", j, "name"), n.name) for j, n in enumerate(o.networks)),
        )
        for j, g in enumerate(o.instances):
            c.ref((*base, "instances", j, "network"), g.network, nets, "openstack network")
    for i, v in enumerate(bp.storage.vsphere):
        c.ref(
            ("storage", "vsphere", i, "credentials_secret"), v.credentials_secret, secrets, "secret"
        )

    if bp.security.firewall.management_zone is not None:
        c.ref(
            ("security", "firewall", "management_zone"),
            bp.security.firewall.management_zone,
            zones,
            "firewall zone",
        )
    for i, rule in enumerate(bp.security.firewall.rules):
        base = ("security", "firewall", "rules", i)
        c.ref((*base, "source"), rule.source, zones | {"internet"}, "firewall zone")
        c.ref((*base, "destination"), rule.destination, zones, "firewall zone")
    for i, b in enumerate(bp.security.access_control.bindings):
        base = ("security", "access_control", "bindings", i)
        c.refs((*base, "users"), b.users, accounts, "account")
        c.refs((*base, "groups"), b.groups, groups, "group")
    idp = bp.users.identity_provider
    if idp.client_secret is not None:
        c.ref(("users", "identity_provider", "client_secret"), idp.client_secret, secrets, "secret")
    for i, a in enumerate(bp.users.accounts):
        c.refs(("users", "accounts", i, "groups"), a.groups, groups, "group")

    chef = bp.configuration.chef
    if chef is not None:
        c.ref(
            ("configuration", "chef", "validation_secret"),
            chef.validation_secret,
            secrets,
            "secret",
        )
    for i, p in enumerate(bp.cicd.pipelines):
        base = ("cicd", "pipelines", i)
        if getattr(bp.cicd, p.provider) is None:
            c.error(
                "BP021",
                (*base, "provider"),
                f"provider {p.provider!r} is not configured",
                f"Add a 'cicd.{p.provider}' section, or pick a configured provider.",
            )
        if getattr(bp.cicd, p.source) is None:
            c.error(
                "BP021",
                (*base, "source"),
                f"source {p.source!r} is not configured",
                f"Add a 'cicd.{p.source}' section.",
            )
        c.refs((*base, "services"), p.services, workloads, "service")

    def pool(path: Path, name: str | None, allowed: tuple[str, ...]) -> None:
        if name is None:
            return
        c.ref(path, name, set(pool_type), "ceph pool")
        if name in pool_type and pool_type[name] not in allowed:
            c.error(
                "BP022",
                path,
                f"pool {name!r} is {pool_type[name]} storage",
                f"Use a pool of type {' or '.join(allowed)}.",
            )

    for i, d in enumerate(bp.databases):
        base = ("databases", i)
        if d.cluster is not None:
            c.ref((*base, "cluster"), d.cluster, clusters, "cluster")
        if d.host is not None:
            c.ref((*base, "host"), d.host, hosts, "host")
        c.ref((*base, "credentials_secret"), d.credentials_secret, secrets, "secret")
        pool((*base, "storage", "pool"), d.storage.pool, ("block",))
        pool((*base, "backup", "object_pool"), d.backup.object_pool, ("object",))

    for section, items in (("backend", backend), ("frontend", frontend)):
        for i, w in enumerate(items):
            base = ("services", section, i)
            c.ref((*base, "cluster"), w.cluster, clusters, "cluster")
            for j, m in enumerate(w.secrets):
                c.ref((*base, "secrets", j, "secret"), m.secret, secrets, "secret")
            if w.zone is not None:
                c.ref((*base, "zone"), w.zone, zones, "firewall zone")
            if w.placement is not None:
                c.refs((*base, "placement", "zones"), w.placement.zones, zone_names, "zone")
                c.refs((*base, "placement", "racks"), w.placement.racks, rack_names, "rack")
                c.refs((*base, "placement", "hosts"), w.placement.hosts, hosts, "host")
            port_numbers = {p.port for p in w.ports}
            if (
                w.health is not None
                and w.health.port is not None
                and w.health.port not in port_numbers
            ):
                c.error(
                    "BP022",
                    (*base, "health", "port"),
                    f"health port {w.health.port} is not one of the service's ports",
                    "Use one of the ports listed under 'ports'.",
                )
            c.unique("port", (((*base, "ports", j, "name"), p.name) for j, p in enumerate(w.ports)))
    for i, s in enumerate(backend):
        base = ("services", "backend", i)
        c.refs((*base, "databases"), s.databases, databases, "database")
        # The set without the service itself only when reporting: copying it for each of
        # 10,000 services was most of the check's time.
        if any(d == s.name or d not in backend_names for d in s.depends_on):
            others = backend_names - {s.name}
            c.refs((*base, "depends_on"), s.depends_on, others, "backend service")
        for j, vol in enumerate(s.volumes):
            pool((*base, "volumes", j, "pool"), vol.pool, ("block", "filesystem"))
    buckets = [
        (("storage", "ceph", ci, "pools", pi, "buckets", bi), bucket)
        for ci, cluster in enumerate(bp.storage.ceph)
        for pi, ceph_pool in enumerate(cluster.pools)
        for bi, bucket in enumerate(ceph_pool.buckets)
    ]
    for where, bucket in buckets:
        c.ref((*where, "service"), bucket.service, backend_names, "backend service")
    c.unique("bucket", (((*where, "name"), bucket.name) for where, bucket in buckets))
    for ci, cluster in enumerate(bp.storage.ceph):
        for pi, ceph_pool in enumerate(cluster.pools):
            at = ("storage", "ceph", ci, "pools", pi, "subvolume_groups")
            svgroups = list(enumerate(ceph_pool.subvolume_groups))
            for gi, grp in svgroups:
                c.ref((*at, gi, "service"), grp.service, backend_names, "backend service")
            c.unique("subvolume group", (((*at, gi, "service"), g.service) for gi, g in svgroups))
    for i, f in enumerate(frontend):
        c.refs(
            ("services", "frontend", i, "backends"), f.backends, backend_names, "backend service"
        )
    portless = {s.name for s in backend if not s.ports}
    for section, key, items in (
        ("backend", "depends_on", backend),
        ("frontend", "backends", frontend),
    ):
        for i, w in enumerate(items):
            for j, name in enumerate(getattr(w, key)):
                if name in portless:
                    c.error(
                        "BP022",
                        ("services", section, i, key, j),
                        f"{name!r} has no ports, so nothing can connect to it",
                        f"Give {name!r} a port, or remove it from {key}.",
                    )

    for i, lb in enumerate(bp.ha.load_balancers):
        base = ("ha", "load_balancers", i)
        c.refs((*base, "hosts"), lb.hosts, hosts, "host")
        for j, fe in enumerate(lb.frontends):
            c.ref(
                (*base, "frontends", j, "backend"),
                fe.backend,
                workloads | kube,  # a Swarm or Podman cluster has no API server to balance
                "service or kubernetes cluster",
                other=_kind_of(bp, fe.backend),
            )
            if fe.backend in portless:
                c.error(
                    "BP022",
                    (*base, "frontends", j, "backend"),
                    f"{fe.backend!r} has no ports for the load balancer to forward to",
                    f"Give {fe.backend!r} a port, or balance another service.",
                )
    return c.problems


def _kind_of(bp: Blueprint, name: str) -> str:
    """'a swarm cluster' when ``name`` is a cluster that is not Kubernetes, else ''."""
    cluster = bp.clusters_by_name.get(name)
    if cluster is None or cluster.kind == "kubernetes":
        return ""
    return f"a {cluster.kind} cluster"
