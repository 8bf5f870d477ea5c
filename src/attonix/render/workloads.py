"""Kubernetes-shaped container, pod and Deployment builders shared by every target that speaks
the Kubernetes pod API (the Kubernetes renderer and ``podman kube play``).

Pure functions of the blueprint: the same workload always gives the same dictionaries, with
keys in a fixed order. Secure defaults come from the blueprint's ``ContainerSecurity`` (non-root,
read-only root filesystem, every capability dropped, seccomp ``RuntimeDefault``); secrets are
only ever mounted by reference, never copied into the spec.
"""

from __future__ import annotations

import json
from typing import Any

from attonix.blueprint.model import (
    Blueprint,
    Database,
    DomainLevel,
    Frontend,
    Service,
)
from attonix.blueprint.naming import fit
from attonix.policy.placement import workload_rule
from attonix.render.labels import INSTANCE, NAME, component_labels, image_tag

Workload = Service | Frontend

#: Node label that carries each failure-domain level. ``host`` and ``zone`` are the well-known
#: labels the kubelet and cloud providers set; racks have no Kubernetes label, so nodes carry
#: Rook's ``topology.rook.io/rack`` — the label Rook builds its CRUSH map from, so that pools
#: with ``failureDomain: rack``, Ceph daemons and workloads all see the same racks.
TOPOLOGY_KEYS: dict[DomainLevel, str] = {
    "host": "kubernetes.io/hostname",
    "zone": "topology.kubernetes.io/zone",
    "rack": "topology.rook.io/rack",
}

#: Default port of each database engine (what services connect to).
DATABASE_PORTS: dict[str, int] = {
    "postgresql": 5432,
    "biganimal": 5432,
    "mysql": 3306,
    "mongodb": 27017,
}

SECRETS_DIR = "/run/secrets"
TMP_SIZE = "64Mi"


def namespace_of(bp: Blueprint, w: Workload) -> str:
    """The namespace a workload runs in: its own, else one named after the blueprint."""
    return w.namespace or bp.metadata.name


def component_of(w: Workload) -> str:
    """The ``app.kubernetes.io/component`` value of a workload."""
    return "frontend" if isinstance(w, Frontend) else "service"


def selector_labels(bp: Blueprint, name: str) -> dict[str, str]:
    """The immutable subset of labels used in selectors (never the version)."""
    labels = component_labels(bp, name, component="")
    return {NAME: labels[NAME], INSTANCE: labels[INSTANCE]}


def selector_of(labels: dict[str, str]) -> dict[str, str]:
    """The selector subset (name and instance) of a full label set."""
    return {NAME: labels[NAME], INSTANCE: labels[INSTANCE]}


def workload_labels(bp: Blueprint, w: Workload) -> dict[str, str]:
    """Full labels of a workload's objects and pods (standard labels plus the blueprint's)."""
    return component_labels(bp, w.name, component=component_of(w), version=image_tag(w.image))


def env_prefix(name: str) -> str:
    """An environment-variable prefix for a blueprint name (``pg-main`` -> ``PG_MAIN``)."""
    return name.upper().replace("-", "_")


def _secret_volume_name(secret: str) -> str:
    return fit(f"secret-{secret}")


def db_volume_name(db: str) -> str:
    """The pod volume that mounts a database's credentials."""
    return fit(f"db-{db}")


def consumer_secret(database: str, service: str) -> str:
    """The engine secret (Swarm, Podman) that holds one service's own login to one database,
    ``<database>.<service>``: not a declared secret (the dot keeps it apart from every declared
    name); the deploy step fills it from the login Attonix provisioned for that service."""
    return f"{database}.{service}"


def consumer_secrets(bp: Blueprint) -> dict[str, tuple[str, str]]:
    """Every :func:`consumer_secret` of the blueprint → ``(database, service)``."""
    return {
        consumer_secret(db, s.name): (db, s.name)
        for s in bp.services.backend
        for db in s.databases
        if db in bp.databases_by_name
    }


def database_mount_path(db: Database) -> str:
    """Where a database's credentials files (``username``, ``password``...) are mounted."""
    return f"{SECRETS_DIR}/databases/{db.name}"


def database_env(db: Database, *, host: str) -> list[dict[str, Any]]:
    """Connection settings for one database as env vars; credentials are a directory of files.

    Credentials are mounted as files (never as env values) so that they do not leak through
    ``/proc/*/environ`` or crash dumps; the env var only says where the files are.
    """
    p = env_prefix(db.name)
    return [
        {"name": f"{p}_HOST", "value": host},
        {"name": f"{p}_PORT", "value": str(DATABASE_PORTS[db.engine])},
        {"name": f"{p}_DATABASE", "value": db.database},
        {"name": f"{p}_ENGINE", "value": db.engine},
        {"name": f"{p}_CREDENTIALS_DIR", "value": database_mount_path(db)},
        {"name": f"{p}_TLS", "value": "require" if db.tls else "disable"},
    ]


#: Where a deployed Central Server keeps what it writes (a scratch volume: the root
#: filesystem is read-only).
CENTRAL_SERVER_DATA_DIR = "/var/lib/attonix"
#: SQLAlchemy URL scheme of each engine a Central Server can keep its state in.
CENTRAL_SERVER_URL_SCHEMES = {
    "postgresql": "postgresql+psycopg",
    "biganimal": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
}


def secret_file(bp: Blueprint, w: Workload, secret: str) -> str:
    """The file a workload reads a one-key secret from (its first declared key)."""
    mount = next(m for m in w.secrets if m.secret == secret)
    declared = bp.secrets_by_name.get(secret)
    key = declared.keys[0] if declared else "value"
    return f"{mount.mount_path or f'{SECRETS_DIR}/{secret}'}/{key}"


def in_cluster_callers(bp: Blueprint, w: Workload) -> list[Workload]:
    """The workloads of ``w``'s cluster whose replicas call it (``depends_on``, and the
    ``backends`` of a frontend that calls from the server), in blueprint order: the pods its
    Kubernetes NetworkPolicy admits besides the ingress. A frontend whose calls come from
    browsers (``calls_from: browser``) is not one: its visitors come through the ingress."""
    every: list[Workload] = [*bp.services.backend, *bp.services.frontend]
    return [c for c in every if c.cluster == w.cluster and w.name in c.connects_to()]


def only_the_ingress_reaches(bp: Blueprint, w: Workload) -> bool:
    """Whether the NetworkPolicy of ``w`` on Kubernetes admits connections from the ingress
    controller's namespace and from nothing else: exposed, with ports, and no in-cluster
    callers."""
    return w.expose is not None and bool(w.ports) and not in_cluster_callers(bp, w)


def _served_behind(bp: Blueprint, w: Service) -> list[dict[str, str]]:
    """How the API is reached: the consoles allowed to call it (CORS), TLS at the edge
    (HSTS), and the proxies whose forwarded client addresses it believes (without them every
    sign-in seems to come from the proxy, and one address's throttle locks out everyone)."""
    out: list[dict[str, str]] = []
    origins = sorted(
        f"{'https' if f.expose.tls else 'http'}://{f.expose.host}"
        for f in bp.services.frontend
        if w.name in f.backends and f.expose is not None
    )
    if origins:
        out.append({"name": "ATTONIX_CORS_ORIGINS", "value": json.dumps(origins)})
    if w.expose is not None and w.expose.tls:
        out.append({"name": "ATTONIX_TLS", "value": "true"})
    cluster = bp.clusters_by_name.get(w.cluster)
    if cluster is not None and cluster.kind == "kubernetes":
        # The ingress controller's pods have no fixed addresses, so the trust is the whole pod
        # range, and it is sound only while the service's NetworkPolicy admits nothing else:
        # any other pod that may connect could write X-Forwarded-For and pick its address.
        proxies = [cluster.network.pod_cidr] if only_the_ingress_reaches(bp, w) else []
    else:  # haproxy on the load balancers' hosts, publishing to the nodes' ports
        hosts = bp.hosts_by_name
        proxies = sorted(
            {
                str(hosts[h].address)
                for lb in bp.ha.load_balancers
                if any(fe.backend == w.name for fe in lb.frontends)
                for h in lb.hosts
                if h in hosts
            }
        )
    if proxies:
        out.append({"name": "ATTONIX_TRUSTED_PROXIES", "value": json.dumps(proxies)})
    return out


def central_server_env(bp: Blueprint, w: Workload, *, database_host: str) -> list[dict[str, str]]:
    """The ``ATTONIX_`` settings of a service that runs the Central Server (none otherwise):
    every setting its replicas must share, each a path to a mounted secret or a URL without
    credentials (the server fills user and password in from the credentials files)."""
    if not isinstance(w, Service) or w.central_server is None:
        return []
    cs = w.central_server
    db = bp.databases_by_name[cs.database]
    url = (
        f"{CENTRAL_SERVER_URL_SCHEMES[db.engine]}://{database_host}:"
        f"{DATABASE_PORTS[db.engine]}/{db.database}"
    )
    if db.tls and db.engine != "mysql":
        url += "?sslmode=require"
    return [
        *(_served_behind(bp, w) if cs.role == "server" else []),
        {"name": "ATTONIX_DATA_DIR", "value": CENTRAL_SERVER_DATA_DIR},
        {"name": "ATTONIX_DATABASE_URL", "value": url},
        {"name": "ATTONIX_DATABASE_CREDENTIALS_DIR", "value": database_mount_path(db)},
        {"name": "ATTONIX_KEK_FILE", "value": secret_file(bp, w, cs.kek_secret)},
        {"name": "ATTONIX_SIGNING_KEY_FILE", "value": secret_file(bp, w, cs.signing_key_secret)},
        {"name": "ATTONIX_AUDIT_KEY_FILE", "value": secret_file(bp, w, cs.audit_key_secret)},
    ]


def listening_probe(port: int) -> str:
    """A POSIX shell command that succeeds when a TCP socket listens on ``port`` in the
    container's network namespace (any address, IPv4 or IPv6).

    Docker (and Podman, which turns a ``tcpSocket`` probe into ``nc -z``) runs health checks
    inside the container with the image's own tools, and a TCP client is what common images
    lack: Debian's busybox has no ``nc`` applet, the slim Debian and Python images have
    neither ``nc`` nor ``curl``/``wget``, Alpine has no ``bash`` (so no ``/dev/tcp``). This
    reads ``/proc/net/tcp`` and ``tcp6`` with shell built-ins only (dash, ash, bash alike),
    so ``/bin/sh`` is all the image needs. A listening socket is what makes a connect
    succeed — the kernel completes the handshake — which is what Kubernetes' ``tcpSocket``
    probe checks.
    """
    return (
        "for f in /proc/net/tcp /proc/net/tcp6; do [ -r $f ] || continue; "
        f"while read -r _ a _ s _; do case $a:$s in *:{port:04X}:0A) exit 0;; esac; "
        "done < $f; done; exit 1"
    )


def probe(w: Workload, *, liveness: bool) -> dict[str, Any] | None:
    """The readiness (or liveness) probe of a workload, from :meth:`Workload.health_check`.

    HTTP checks become ``httpGet``, TCP checks ``tcpSocket`` and commands ``exec``; a workload
    that is not checked (``check: none``, or a worker without ports or command) gets none.
    """
    h = w.health_check()
    if h is None:
        return None
    action: dict[str, Any]
    if h.check == "http":
        action = {"httpGet": {"path": h.path, "port": h.port, "scheme": h.scheme}}
    elif h.check == "tcp":
        action = {"tcpSocket": {"port": h.port}}
    else:
        action = {"exec": {"command": list(h.command)}}
    return {
        **action,
        "initialDelaySeconds": h.initial_delay_seconds * (2 if liveness else 1),
        "periodSeconds": h.period_seconds,
        "timeoutSeconds": 2,
        "failureThreshold": 3,
    }


def security_context(w: Workload) -> dict[str, Any]:
    """The container securityContext: hardened unless the blueprint explicitly relaxes it."""
    sec = w.security
    uid = 0 if sec.run_as_root else sec.run_as_user
    caps: dict[str, Any] = {"drop": ["ALL"]}
    if sec.capabilities_add:
        caps["add"] = sorted(set(sec.capabilities_add))
    return {
        "allowPrivilegeEscalation": sec.privileged,
        "capabilities": caps,
        "privileged": sec.privileged,
        "readOnlyRootFilesystem": sec.read_only_root_filesystem,
        "runAsGroup": uid,
        "runAsNonRoot": not sec.run_as_root,
        "runAsUser": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container(
    bp: Blueprint, w: Workload, *, database_hosts: dict[str, str] | None = None
) -> dict[str, Any]:
    """The Kubernetes container spec of a backend service or frontend.

    ``database_hosts`` maps database names to the host name services reach them at; when
    given, each of the service's databases gets connection env vars and a credentials mount.
    """
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in sorted(w.env.items())]
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]  # noqa: S108
    for sm in w.secrets:
        mounts.append(
            {
                "name": _secret_volume_name(sm.secret),
                "mountPath": sm.mount_path or f"{SECRETS_DIR}/{sm.secret}",
                "readOnly": True,
            }
        )
    if isinstance(w, Service):
        for vol in w.volumes:
            mounts.append({"name": vol.name, "mountPath": vol.mount_path})
        if w.central_server is not None:
            mounts.append({"name": "attonix-data", "mountPath": CENTRAL_SERVER_DATA_DIR})
        if database_hosts is not None:
            if w.central_server is not None:
                host = database_hosts[w.central_server.database]
                env.extend(central_server_env(bp, w, database_host=host))
            for name in w.databases:
                db = bp.databases_by_name[name]
                env.extend(database_env(db, host=database_hosts[name]))
                mounts.append(
                    {
                        "name": db_volume_name(name),
                        "mountPath": database_mount_path(db),
                        "readOnly": True,
                    }
                )
    spec: dict[str, Any] = {
        "name": w.name,
        "image": w.image,
        # Always re-resolve the tag so a node never runs a stale copy of a moved tag.
        "imagePullPolicy": "Always",
    }
    if isinstance(w, Service) and w.command:
        spec["command"] = list(w.command)
    if w.ports:
        spec["ports"] = [
            {"name": p.name, "containerPort": p.port, "protocol": p.protocol} for p in w.ports
        ]
    if env:
        spec["env"] = env
    res = w.resources
    limits = {}
    if res.cpu_limit is not None:
        limits["cpu"] = res.cpu_limit
    if res.memory_limit is not None:
        limits["memory"] = res.memory_limit
    spec["resources"] = {"requests": {"cpu": res.cpu, "memory": res.memory}}
    if limits:
        spec["resources"]["limits"] = limits
    readiness = probe(w, liveness=False)
    liveness = probe(w, liveness=True)
    if readiness is not None and liveness is not None:
        spec["readinessProbe"] = readiness
        spec["livenessProbe"] = liveness
    spec["securityContext"] = security_context(w)
    spec["volumeMounts"] = mounts
    return spec


def volumes(bp: Blueprint, w: Workload) -> list[dict[str, Any]]:
    """The pod volumes a workload's container mounts (tmp, secrets, database credentials)."""
    out: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {"sizeLimit": TMP_SIZE}}]
    for sm in w.secrets:
        out.append(
            {
                "name": _secret_volume_name(sm.secret),
                "secret": {"secretName": sm.secret, "defaultMode": 0o440},
            }
        )
    if isinstance(w, Service):
        if w.central_server is not None:
            out.append({"name": "attonix-data", "emptyDir": {"sizeLimit": TMP_SIZE}})
        for name in w.databases:
            out.append(
                {
                    "name": db_volume_name(name),
                    # The service's own login, never the owner's credentials.
                    "secret": {
                        "secretName": consumer_secret(name, w.name),
                        "defaultMode": 0o440,
                    },
                }
            )
        for vol in w.volumes:
            out.append(
                {
                    "name": vol.name,
                    "persistentVolumeClaim": {"claimName": fit(f"{vol.name}-{w.name}")},
                }
            )
    return out


def pod_security_context(w: Workload) -> dict[str, Any]:
    """The pod-level securityContext (ids, fsGroup for mounted volumes, seccomp)."""
    sec = w.security
    uid = 0 if sec.run_as_root else sec.run_as_user
    return {
        "fsGroup": uid,
        "runAsGroup": uid,
        "runAsNonRoot": not sec.run_as_root,
        "runAsUser": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def scheduling(bp: Blueprint, w: Workload, *, labels: dict[str, str]) -> dict[str, Any]:
    """Topology spread over the workload's failure domain and node affinity from ``placement``.

    This renders the placement contract's ``even`` rule (``attonix.policy.placement``): a hard
    constraint (``DoNotSchedule``, maximum skew one) over the rule's level, counting only the
    domains of candidate hosts (node affinity and taints honoured, so tainted control-plane
    nodes and hosts outside ``placement`` never hold a domain at zero). Below zone or rack
    level, hosts are also spread, softly: the analysis assumes nothing from that.
    """
    level = workload_rule(bp, w).level
    constraints = [
        {
            "maxSkew": 1,
            "topologyKey": TOPOLOGY_KEYS[level],
            "whenUnsatisfiable": "DoNotSchedule",
            "nodeAffinityPolicy": "Honor",
            "nodeTaintsPolicy": "Honor",
            "labelSelector": {"matchLabels": dict(labels)},
        }
    ]
    if level != "host":
        constraints.append(
            {
                "maxSkew": 1,
                "topologyKey": TOPOLOGY_KEYS["host"],
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": dict(labels)},
            }
        )
    out: dict[str, Any] = {"topologySpreadConstraints": constraints}
    affinity = node_affinity(w)
    if affinity:
        out["affinity"] = {"nodeAffinity": affinity}
    return out


def node_affinity(w: Workload) -> dict[str, Any]:
    """Required node affinity for a workload pinned by ``placement`` ({} when not pinned)."""
    if w.placement is None:
        return {}
    pins: list[tuple[DomainLevel, list[str]]] = [
        ("zone", w.placement.zones),
        ("rack", w.placement.racks),
        ("host", w.placement.hosts),
    ]
    exprs = [
        {"key": TOPOLOGY_KEYS[level], "operator": "In", "values": sorted(set(values))}
        for level, values in pins
        if values
    ]
    if not exprs:
        return {}
    return {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": exprs}]
        }
    }


def pod_spec(
    bp: Blueprint,
    w: Workload,
    *,
    labels: dict[str, str],
    database_hosts: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The pod spec of a workload: its container, volumes, scheduling and security settings.

    ``labels`` are the selector labels that spread constraints match on. The ServiceAccount
    token is mounted only for services that declare ``kubernetes_api_access``.
    """
    api_access = isinstance(w, Service) and w.kubernetes_api_access
    spec: dict[str, Any] = {
        "serviceAccountName": w.name,
        "automountServiceAccountToken": api_access,
        "enableServiceLinks": False,
        "securityContext": pod_security_context(w),
        "containers": [container(bp, w, database_hosts=database_hosts)],
        "volumes": volumes(bp, w),
        "terminationGracePeriodSeconds": 30,
    }
    spec.update(scheduling(bp, w, labels=labels))
    return spec


def replicas_of(w: Workload) -> int:
    """Initial replicas: the declared count, raised to the autoscaler's minimum."""
    if w.autoscaling is not None:
        return max(w.replicas, w.autoscaling.min_replicas)
    return w.replicas


def deployment(
    bp: Blueprint, w: Workload, *, database_hosts: dict[str, str] | None = None
) -> dict[str, Any]:
    """An ``apps/v1`` Deployment running ``w`` with zero-downtime rolling updates."""
    sel = selector_labels(bp, w.name)
    labels = workload_labels(bp, w)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": w.name,
            "namespace": namespace_of(bp, w),
            "labels": dict(labels),
        },
        "spec": {
            "replicas": replicas_of(w),
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": sel},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {
                # A copy: a shared object would be dumped as a YAML anchor.
                "metadata": {"labels": dict(labels)},
                "spec": pod_spec(bp, w, labels=sel, database_hosts=database_hosts),
            },
        },
    }
