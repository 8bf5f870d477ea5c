"""Preconditions the renderers rely on, checked when the blueprint is loaded.

Whatever ``validate`` (and the server's upload) accepts, every target must render: a renderer
that would refuse a blueprint is a blueprint problem, reported here at its line together with
every other problem of the run. The renderers keep their own checks as a second line.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from attonix.blueprint.diagnostics import Diagnostic, Path
from attonix.blueprint.model import Blueprint, Database
from attonix.blueprint.source import SourceMap

_Problem = tuple[Path, str, str]


def _port_range(text: str) -> bool:
    low, _, high = text.partition("-")
    lo, hi = int(low), int(high or low)
    return 1 <= lo <= hi <= 65535


def _firewall(bp: Blueprint) -> Iterator[_Problem]:
    fw = bp.security.firewall
    for i, zone in enumerate(fw.zones):
        for j, cidr in enumerate(zone.cidrs):
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                yield (
                    ("security", "firewall", "zones", i, "cidrs", j),
                    f"{cidr!r} is not a CIDR",
                    "Write it as ADDRESS/PREFIX, for example 10.20.1.0/24.",
                )
    for i, rule in enumerate(fw.rules):
        for j, port in enumerate(rule.ports):
            if isinstance(port, str) and not _port_range(port):
                yield (
                    ("security", "firewall", "rules", i, "ports", j),
                    f"{port!r} is not a port or a LOW-HIGH range within 1-65535",
                    "Use a port between 1 and 65535, or a range whose low end comes first.",
                )


def _forbidden_calls(bp: Blueprint) -> Iterator[_Problem]:
    """A declared call (``depends_on``, a frontend's ``backends``) between firewall zones the
    firewall does not connect: Swarm would give it no network and the hosts' rules drop it,
    so the service would fail at run time instead of here."""
    fw = bp.security.firewall
    workloads = bp.workloads_by_name
    for section, key, items in (
        ("backend", "depends_on", bp.services.backend),
        ("frontend", "backends", bp.services.frontend),
    ):
        for i, w in enumerate(items):
            for j, name in enumerate(getattr(w, key)):
                other = workloads.get(name)
                if other is None or name not in w.connects_to():
                    continue  # browsers call it (calls_from: browser), not the replicas
                if fw.allows(w.zone, other.zone):
                    continue
                yield (
                    ("services", section, i, key, j),
                    f"{w.name} (zone {w.zone}) calls {name} (zone {other.zone}), but the "
                    f"firewall does not allow connections from zone {w.zone} to zone "
                    f"{other.zone}",
                    f"Add {{name: {w.zone}-to-{other.zone}, source: {w.zone}, destination: "
                    f"{other.zone}, ports: [{', '.join(str(p.port) for p in other.ports)}]}} "
                    f"to security.firewall.rules, or remove {name} from {key}.",
                )


def _central_servers(bp: Blueprint) -> Iterator[_Problem]:
    """A Central Server's settings come from its own database and mounted secrets."""
    engines = ("postgresql", "biganimal", "mysql")
    for i, s in enumerate(bp.services.backend):
        cs = s.central_server
        if cs is None:
            continue
        base: Path = ("services", "backend", i, "central_server")
        db = bp.databases_by_name.get(cs.database)
        if cs.database not in s.databases:
            yield (
                (*base, "database"),
                f"{s.name} keeps the Central Server's state in {cs.database}, which is not one "
                "of its databases (it would get no credentials for it)",
                f"Add {cs.database} to the databases of {s.name}.",
            )
        elif db is not None and db.engine not in engines:
            yield (
                (*base, "database"),
                f"the Central Server runs on {' or '.join(engines)}, not {db.engine} "
                f"({cs.database})",
                "Name a PostgreSQL or MySQL database of the service.",
            )
        mounted = {m.secret for m in s.secrets}
        for key in ("kek_secret", "signing_key_secret", "audit_key_secret"):
            secret = getattr(cs, key)
            if secret not in mounted:
                yield (
                    (*base, key),
                    f"secret {secret} is not mounted in {s.name}, so the Central Server "
                    "cannot read it",
                    f"Add {{secret: {secret}}} to the secrets of {s.name}.",
                )


def _podman(bp: Blueprint) -> Iterator[_Problem]:
    clusters = {c.name: c for c in bp.orchestration.clusters}
    for section, items in (("backend", bp.services.backend), ("frontend", bp.services.frontend)):
        for i, w in enumerate(items):
            cluster = clusters.get(w.cluster)
            if cluster is None or cluster.kind != "podman" or w.expose is None:
                continue
            pin = w.placement
            hosts = [
                h.name
                for h in bp.cluster_hosts(cluster)
                if pin is None
                or (
                    (not pin.zones or h.zone in pin.zones)
                    and (not pin.racks or h.rack in pin.racks)
                    and (not pin.hosts or h.name in pin.hosts)
                )
            ]
            count = max(w.replicas, w.autoscaling.min_replicas if w.autoscaling else 0)
            if count > max(1, len(hosts)):
                yield (
                    ("services", section, i, "replicas"),
                    f"{w.name} is exposed on podman cluster {w.cluster}, which publishes its "
                    f"ports on each host: it can run one replica per host of "
                    f"{', '.join(hosts) or 'the cluster'}, not {count}",
                    f"Set replicas to at most {max(1, len(hosts))} (one per host) and balance "
                    "the hosts with ha.load_balancers, or run it on a kubernetes or swarm "
                    "cluster.",
                )


def _exposed_without_ingress(bp: Blueprint) -> Iterator[_Problem]:
    """Swarm has no ingress controller (and no routing mesh without IPVS): a load balancer
    routes ``expose.host``. (Podman publishes an exposed workload's ports on its one host.)"""
    kinds = {c.name: c.kind for c in bp.orchestration.clusters}
    fronts: dict[str, set[str]] = {}
    for lb in bp.ha.load_balancers:
        if lb.kind == "haproxy":
            for fe in lb.frontends:
                fronts.setdefault(fe.backend, set()).add(fe.protocol)
    for section, items in (("backend", bp.services.backend), ("frontend", bp.services.frontend)):
        for i, w in enumerate(items):
            kind = kinds.get(w.cluster)
            if w.expose is None or kind != "swarm":
                continue
            wanted = {"https"} if w.expose.tls else {"http", "https"}
            if not fronts.get(w.name, set()) & wanted:
                protocol = "https" if w.expose.tls else "http"
                yield (
                    ("services", section, i, "expose"),
                    f"{w.name} is exposed as {w.expose.host} on {kind} cluster {w.cluster}, "
                    f"which has no ingress to route that host: no haproxy load balancer has an "
                    f"{' or '.join(sorted(wanted))} frontend for it",
                    f"Add {{name: {w.name[:20]}, port: 443, protocol: {protocol}, backend: "
                    f"{w.name}}} to the frontends of an haproxy load balancer under "
                    "ha.load_balancers; it routes the host and path to the service.",
                )


def _pipelines(bp: Blueprint) -> Iterator[_Problem]:
    """The pipeline renderers refuse to deploy before the policy gate runs."""
    for i, p in enumerate(bp.cicd.pipelines):
        if "check" in p.stages and "deploy" in p.stages:
            deploy = p.stages.index("deploy")
            if deploy < p.stages.index("check"):
                yield (
                    ("cicd", "pipelines", i, "stages", deploy),
                    f"pipeline {p.name} lists 'deploy' before the policy gate 'check': a gate "
                    "that runs after deploying only reports the damage",
                    "Move 'check' before 'deploy' in the pipeline's stages.",
                )


def _swarm_volumes(bp: Blueprint) -> Iterator[_Problem]:
    kinds = {c.name: c.kind for c in bp.orchestration.clusters}
    for i, s in enumerate(bp.services.backend):
        if kinds.get(s.cluster) != "swarm" or not s.volumes:
            continue
        count = max(s.replicas, s.autoscaling.min_replicas if s.autoscaling else 0)
        if count > 1:
            yield (
                ("services", "backend", i, "replicas"),
                f"{s.name} keeps local volumes on swarm cluster {s.cluster}: a local volume "
                f"lives on one node, so the service runs one replica there, not {count}",
                "Set replicas: 1, or run it on kubernetes with a Ceph pool.",
            )


def _standalone_databases(bp: Blueprint) -> Iterator[_Problem]:
    """A database on Swarm or Podman is one container with a local volume on one node."""
    clusters = bp.clusters_by_name
    workloads = {(w.cluster, w.name) for w in bp.workloads_by_name.values()}
    for i, db in enumerate(bp.databases):
        cluster = clusters.get(db.cluster or "")
        if cluster is None or cluster.kind not in ("swarm", "podman"):
            continue
        where = f"{cluster.kind} cluster {cluster.name}"
        base: Path = ("databases", i)
        if db.replicas != 1:
            yield (
                (*base, "replicas"),
                f"database {db.name} runs on {where} as one container (no operator replicates "
                f"it there), not {db.replicas} instances",
                "Set replicas: 1, or run it on a kubernetes cluster whose operator replicates it.",
            )
        if db.tls:
            yield (
                (*base, "tls"),
                f"database {db.name} on {where} cannot serve TLS: its certificates are issued "
                "by cert-manager, on kubernetes only",
                "Set tls: false (swarm overlays can be encrypted with "
                "security.encryption.in_transit.overlay_encryption), or run it on kubernetes.",
            )
        if db.backup.enabled:
            yield (
                (*base, "backup", "enabled"),
                f"backups of database {db.name} on {where} are not rendered (no scheduler for "
                "jobs there)",
                "Set backup.enabled: false and back it up from its host, or run it on kubernetes.",
            )
        if db.storage.pool is not None:
            yield (
                (*base, "storage", "pool"),
                f"database {db.name} on {where} keeps its data in a local volume on its node, "
                "not in a Ceph pool",
                "Remove storage.pool, or run it on a kubernetes cluster with Rook.",
            )
        nodes = [*cluster.control_plane, *cluster.workers]
        if db.host is not None and db.host in bp.hosts_by_name and db.host not in nodes:
            yield (
                (*base, "host"),
                f"host {db.host} is not a node of {where}",
                f"Name one of: {', '.join(dict.fromkeys(nodes))}.",
            )
        declared = bp.secrets_by_name.get(db.credentials_secret)
        missing = [k for k in ("username", "password") if declared and k not in declared.keys]
        if missing:
            yield (
                (*base, "credentials_secret"),
                f"secret {db.credentials_secret} has no key {' or '.join(missing)}, which the "
                f"{db.engine} container reads its credentials from",
                "List keys: [username, password] on the secret under security.secrets.",
            )
        if (cluster.name, db.name) in workloads:
            yield (
                (*base, "name"),
                f"database {db.name} and a service of {where} have the same name",
                "Rename one: both become services of the same stack or host.",
            )


def _database_clients(bp: Blueprint) -> Iterator[_Problem]:
    """A service reaches only databases in its own cluster (managed ones from anywhere)."""
    for i, s in enumerate(bp.services.backend):
        for j, name in enumerate(s.databases):
            db = bp.databases_by_name.get(name)
            if db is None or db.managed is not None or db.cluster in (None, s.cluster):
                continue
            yield (
                ("services", "backend", i, "databases", j),
                f"database {name} runs on cluster {db.cluster}, which service {s.name} on "
                f"cluster {s.cluster} cannot reach (its address resolves only inside "
                f"{db.cluster})",
                f"Run {s.name} on cluster {db.cluster}, or the database on cluster {s.cluster}.",
            )


def _service_calls(bp: Blueprint) -> Iterator[_Problem]:
    """A backend reaches the services it depends on inside its own cluster: their names
    resolve only there, and no target renders a path to another cluster's service."""
    for i, s in enumerate(bp.services.backend):
        for j, name in enumerate(s.depends_on):
            other = bp.workloads_by_name.get(name)
            if other is None or other.cluster == s.cluster:
                continue
            yield (
                ("services", "backend", i, "depends_on", j),
                f"service {name} runs on cluster {other.cluster}, which {s.name} on cluster "
                f"{s.cluster} cannot reach (its name resolves only inside {other.cluster}; no "
                "network, policy or overlay is rendered across clusters)",
                f"Run {s.name} and {name} on the same cluster, or remove {name} from "
                "depends_on and call its exposed host.",
            )


def _browser_calls(bp: Blueprint) -> Iterator[_Problem]:
    """A frontend whose calls come from browsers (``calls_from: browser``) needs backends a
    browser can reach: exposed through their cluster's ingress or behind a load balancer."""
    balanced = {fe.backend for lb in bp.ha.load_balancers for fe in lb.frontends}
    for i, f in enumerate(bp.services.frontend):
        if f.calls_from != "browser":
            continue
        for j, name in enumerate(f.backends):
            other = bp.workloads_by_name.get(name)
            if other is None or other.expose is not None or name in balanced:
                continue
            yield (
                ("services", "frontend", i, "backends", j),
                f"{f.name} calls {name} from the browser (calls_from: browser), but {name} is "
                "neither exposed nor behind a load balancer, so no browser can reach it",
                f"Give {name} an 'expose' host, or set calls_from: server on {f.name} if its "
                "own replicas call it.",
            )


def _pools(bp: Blueprint) -> Iterator[_Problem]:
    """Ceph pools a Kubernetes object needs must be run by Rook in that same cluster."""
    rook: dict[str, dict[str, list[str]]] = {}  # cluster -> pool type -> pool names
    owner: dict[str, str | None] = {}  # pool -> the kubernetes cluster its Rook runs in
    for ceph in bp.storage.ceph:
        cluster = ceph.kubernetes_cluster if ceph.mode == "rook" else None
        for pool in ceph.pools:
            owner[pool.name] = cluster
            if cluster is not None:
                rook.setdefault(cluster, {}).setdefault(pool.type, []).append(pool.name)
    kinds = {c.name: c.kind for c in bp.orchestration.clusters}

    def need(
        path: Path, cluster: str, name: str | None, kind: str, what: str
    ) -> Iterator[_Problem]:
        if name is not None:
            if name in owner and owner[name] != cluster:
                yield (
                    path,
                    f"{what} is on kubernetes cluster {cluster}, but pool {name!r} is not run "
                    f"by Rook in that cluster",
                    f"Name a pool of a storage.ceph entry with kubernetes_cluster: {cluster}.",
                )
        elif not rook.get(cluster, {}).get(kind):
            yield (
                path,
                f"{what} needs a Ceph {kind} pool in kubernetes cluster {cluster}; there is none",
                f"Add a pool of type {kind} to a storage.ceph entry with "
                f"kubernetes_cluster: {cluster}, or name one here.",
            )

    for i, db in enumerate(bp.databases):
        if db.cluster is None or kinds.get(db.cluster) != "kubernetes":
            continue
        yield from need(
            ("databases", i, "storage", "pool"),
            db.cluster,
            db.storage.pool,
            "block",
            f"database {db.name}",
        )
        if _backs_up(db):
            yield from need(
                ("databases", i, "backup", "object_pool"),
                db.cluster,
                db.backup.object_pool,
                "object",
                f"backups of {db.name}",
            )
    for i, s in enumerate(bp.services.backend):
        if kinds.get(s.cluster) != "kubernetes":
            continue
        for j, vol in enumerate(s.volumes):
            yield from need(
                ("services", "backend", i, "volumes", j, "pool"),
                s.cluster,
                vol.pool,
                "block",
                f"volume {vol.name} of {s.name}",
            )


def _ceph_volume_names(bp: Blueprint) -> Iterator[_Problem]:
    """A volume on a pool of Ceph on hosts becomes an RBD image or a CephFS subvolume named
    ``<service>-<volume>`` in that pool (a subvolume's RADOS namespace is named after it), so
    two volumes that give the same name would share one image or one namespace — and each
    service's key would reach the other's data."""
    pools = {p.name: p.type for c in bp.storage.ceph if c.mode == "hosts" for p in c.pools}
    first: dict[tuple[str, str], str] = {}
    for i, s in enumerate(bp.services.backend):
        for j, vol in enumerate(s.volumes):
            if vol.pool not in pools or pools[vol.pool] not in ("block", "filesystem"):
                continue
            name = f"{s.name}-{vol.name}"
            other = first.setdefault((vol.pool, name), f"volume {vol.name} of {s.name}")
            if other != f"volume {vol.name} of {s.name}":
                yield (
                    ("services", "backend", i, "volumes", j, "name"),
                    f"volume {vol.name} of {s.name} and {other} are both stored as {name!r} "
                    f"in Ceph pool {vol.pool}: they would share one "
                    f"{'image' if pools[vol.pool] == 'block' else 'subvolume namespace'}",
                    "Rename one of the volumes (or the service) so that "
                    "<service>-<volume> differs.",
                )


_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def _bytes(quantity: str) -> int:
    return int(quantity[:-2]) * _UNITS[quantity[-2:]]


def _subvolume_groups(bp: Blueprint) -> Iterator[_Problem]:
    """A subvolume group's quota bounds all of its service's subvolumes on the pool: below
    their sizes together they could never be filled; with no volume of the service on that
    pool (or on a Rook cluster) there is no group to bound."""
    volumes: dict[tuple[str, str], int] = {}
    for s in bp.services.backend:
        for vol in s.volumes:
            if vol.pool is not None:
                key = (vol.pool, s.name)
                volumes[key] = volumes.get(key, 0) + _bytes(vol.size)
    for ci, ceph in enumerate(bp.storage.ceph):
        for pi, pool in enumerate(ceph.pools):
            for gi, group in enumerate(pool.subvolume_groups):
                where = ("storage", "ceph", ci, "pools", pi, "subvolume_groups", gi)
                total = volumes.get((pool.name, group.service))
                if ceph.mode != "hosts":
                    yield (
                        where,
                        f"subvolume group quotas are for Ceph on hosts; cluster {ceph.name} is "
                        f"run by Rook",
                        "Remove subvolume_groups, or use mode: hosts.",
                    )
                elif total is None:
                    yield (
                        (*where, "service"),
                        f"service {group.service} has no volume on filesystem pool {pool.name}, "
                        "so it has no subvolume group there",
                        f"Give {group.service} a volume with pool: {pool.name}, or remove "
                        "this entry.",
                    )
                elif _bytes(group.quota) < total:
                    yield (
                        (*where, "quota"),
                        f"quota {group.quota} of {group.service}'s subvolume group is less than "
                        f"its volumes on pool {pool.name} together ({total} bytes): they could "
                        "never be filled",
                        "Raise the quota to at least the sum of the volumes' sizes, or make "
                        "the volumes smaller.",
                    )


def _backs_up(db: Database) -> bool:
    return db.backup.enabled and db.engine in ("postgresql", "mysql", "mongodb")


def check_consistency(bp: Blueprint, source: SourceMap) -> list[Diagnostic]:
    """Every renderer precondition the blueprint breaks, each at its line (code BP024)."""
    problems = [
        *_firewall(bp),
        *_forbidden_calls(bp),
        *_central_servers(bp),
        *_podman(bp),
        *_exposed_without_ingress(bp),
        *_pipelines(bp),
        *_swarm_volumes(bp),
        *_pools(bp),
        *_ceph_volume_names(bp),
        *_subvolume_groups(bp),
        *_standalone_databases(bp),
        *_database_clients(bp),
        *_service_calls(bp),
        *_browser_calls(bp),
    ]
    return [
        Diagnostic(
            code="BP024", message=message, location=source.locate(path), path=path, hint=hint
        )
        for path, message, hint in problems
    ]
