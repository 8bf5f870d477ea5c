"""Docker Swarm target: one Compose-spec stack file per swarm cluster.

Every service is hardened (non-root user, read-only root filesystem, all capabilities dropped,
tmpfs ``/tmp``), health-checked, updated one task at a time with automatic rollback, spread
over its failure domain and attached only to one overlay network per declared connection that
the firewall allows (see :mod:`attonix.render.swarm.network`). Secrets are *external*: the file
names them, the deploy step creates them from the secret source under versioned names, and
containers see them as files — no value is ever written here.

``docker stack deploy`` substitutes ``$NAME`` from the deploying shell in every value of the
file, so each value the blueprint (or a health check) gives is written with its dollars
doubled (:func:`literal`) and reaches the engine as written.

Two choices follow from how Swarm behaves rather than from taste:

* ``endpoint_mode: dnsrr`` — the virtual-IP mode and the ingress routing mesh both need IPVS in
  the kernel; DNS round robin works everywhere, and the blueprint's load balancers (haproxy)
  already balance across published ports.
* services with published ports publish in ``host`` mode, one task per port per node, and update
  ``stop-first``: the scheduler cannot start a second task on a node whose port is taken, so
  ``start-first`` would never finish there. Services without published ports update
  ``start-first`` and so never drop below their replica count.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from attonix.blueprint.model import Blueprint, Cluster, Database, Frontend, Service
from attonix.policy.placement import cluster_nodes, database_node, workload_rule
from attonix.render.base import Artifact
from attonix.render.database_containers import container_of, data_volume, standalone
from attonix.render.desired import (
    ContainerSpec,
    DesiredState,
    HealthCheck,
    Network,
    PublishedPort,
    Rendered,
    Resources,
    SecretKeyRef,
    SecretMount,
    Volume,
)
from attonix.render.desired import Workload as DesiredWorkload
from attonix.render.labels import ZONE, blueprint_labels, component_labels
from attonix.render.swarm.network import is_isolated, networks_of
from attonix.render.workloads import (
    CENTRAL_SERVER_DATA_DIR,
    SECRETS_DIR,
    central_server_env,
    component_of,
    consumer_secret,
    database_env,
    database_mount_path,
    listening_probe,
    replicas_of,
    workload_labels,
)

TARGET = "swarm"
COMPOSE_VERSION = "3.9"
TMP_BYTES = 64 * 1024 * 1024
#: Docker refuses secret names longer than 64 characters; versioning appends 11.
_SECRET_BASE_MAX = 53

Workload = Service | Frontend


def stack_name(bp: Blueprint, cluster: str) -> str:
    """The ``docker stack`` namespace of a cluster's stack (prefixes every resource name)."""
    return f"{bp.metadata.name}-{cluster}"


def stack_path(cluster: str) -> str:
    """The artifact path of a cluster's stack file."""
    return f"swarm/{cluster}/docker-stack.yaml"


def secret_ref(secret: str, key: str) -> str:
    """The compose key of one key of a declared secret (one engine secret per key)."""
    return f"{secret}_{key}"


def secret_base(bp: Blueprint, secret: str, key: str) -> str:
    """The engine name of a secret key before versioning: ``<blueprint>-<secret>-<key>``."""
    base = f"{bp.metadata.name}-{secret}-{key}"
    if len(base) <= _SECRET_BASE_MAX:
        return base
    digest = hashlib.sha256(base.encode()).hexdigest()[:8]
    return f"{base[: _SECRET_BASE_MAX - 9]}-{digest}"


def _credential_files(
    bp: Blueprint, db: Database, secret: str | None = None
) -> list[tuple[str, str, str]]:
    """The credentials files of ``db`` (the keys its ``credentials_secret`` declares), from
    ``secret``: the database's own container reads ``credentials_secret``; a service reads its
    own login (:func:`consumer_secret`)."""
    declared = bp.secrets_by_name.get(db.credentials_secret)
    keys = declared.keys if declared else ["value"]
    path = database_mount_path(db)
    return [(secret or db.credentials_secret, key, f"{path}/{key}") for key in keys]


def secret_mounts(bp: Blueprint, w: Workload | Database) -> list[tuple[str, str, str]]:
    """``(secret, key, file path)`` for every secret file a workload (or a database run in
    the stack: its own credentials) mounts, in order."""
    if isinstance(w, Database):
        return _credential_files(bp, w)
    out: list[tuple[str, str, str]] = []
    for mount in w.secrets:
        declared = bp.secrets_by_name.get(mount.secret)
        keys = declared.keys if declared else ["value"]
        base = mount.mount_path or f"{SECRETS_DIR}/{mount.secret}"
        out.extend((mount.secret, key, f"{base}/{key}") for key in keys)
    if isinstance(w, Service):
        for name in w.databases:
            db = bp.databases_by_name.get(name)
            if db is not None:
                out.extend(_credential_files(bp, db, consumer_secret(db.name, w.name)))
    return out


def published(bp: Blueprint, w: Workload) -> bool:
    """True when a workload's ports are published on the nodes (exposed or load-balanced)."""
    if w.expose is not None:
        return True
    return any(f.backend == w.name for lb in bp.ha.load_balancers for f in lb.frontends)


def _cpus(quantity: str) -> str:
    if quantity.endswith("m"):
        return f"{int(quantity[:-1]) / 1000:g}"
    return f"{float(quantity):g}"


def _memory(quantity: str) -> str:
    # Docker's units are binary, like Kubernetes' Ki/Mi/Gi/Ti.
    return quantity[:-2] + quantity[-2].lower()


def _resources(w: Workload) -> dict[str, Any]:
    r = w.resources
    limits: dict[str, Any] = {}
    if r.cpu_limit is not None:
        limits["cpus"] = _cpus(r.cpu_limit)
    if r.memory_limit is not None:
        limits["memory"] = _memory(r.memory_limit)
    out: dict[str, Any] = {}
    if limits:
        out["limits"] = limits
    out["reservations"] = {"cpus": _cpus(r.cpu), "memory": _memory(r.memory)}
    return out


def literal(text: str) -> str:
    """``text`` as a compose value that ``docker stack deploy`` leaves as it is: the CLI
    substitutes ``$NAME`` and ``${NAME}`` from the deploying shell's environment in every
    value, so a literal dollar is written ``$$``."""
    return text.replace("$", "$$")


def unliteral(text: str) -> str:
    """The value the engine receives for a compose value written by :func:`literal`."""
    return text.replace("$$", "$")


def _healthcheck(w: Workload) -> dict[str, Any]:
    h = w.health_check()
    if h is None:
        return {"disable": True}
    if h.check == "http":
        url = f"{h.scheme.lower()}://127.0.0.1:{h.port}{h.path}"
        # Docker runs checks inside the container: use whichever HTTP client the image has
        # (the internal certificate is not in the image's trust store, hence no verification).
        insecure = (" --no-check-certificate", " -k") if h.scheme == "HTTPS" else ("", "")
        probe = (
            f"wget -q{insecure[0]} -O /dev/null {url} || curl -fsS{insecure[1]} -o /dev/null {url}"
        )
        test: list[str] = ["CMD-SHELL", probe]
    elif h.check == "tcp":
        test = ["CMD-SHELL", listening_probe(h.port or 0)]
    else:
        test = ["CMD", *h.command]
    return {
        "test": [literal(part) for part in test],
        "interval": f"{h.period_seconds}s",
        "timeout": "2s",
        "retries": 3,
        "start_period": f"{h.initial_delay_seconds}s",
    }


def _monitor(w: Workload) -> str:
    # Long enough for a new task to fail its first health checks before the update moves on.
    h = w.health_check()
    if h is None:
        return "10s"
    return f"{max(5, h.initial_delay_seconds + 2 * h.period_seconds)}s"


def volume_node(bp: Blueprint, cluster: Cluster, w: Workload) -> str | None:
    """The node a service's ``local`` volumes live on (None without volumes).

    A local volume exists on one node only; the task must always return there, so a service
    with volumes is pinned to the first node its placement allows (validation keeps it at one
    replica).
    """
    if not isinstance(w, Service) or not w.volumes:
        return None
    pin = w.placement
    for h in cluster_nodes(bp, cluster):
        if pin is None or (
            (not pin.zones or h.zone in pin.zones)
            and (not pin.racks or h.rack in pin.racks)
            and (not pin.hosts or h.name in pin.hosts)
        ):
            return h.name
    return None


def _constraints(bp: Blueprint, cluster: Cluster, w: Workload) -> list[str]:
    node = volume_node(bp, cluster, w)
    if node is not None:
        return [f"node.hostname=={node}"]
    pin = w.placement
    if pin is None:
        return []
    hosts = cluster_nodes(bp, cluster)
    out: list[str] = []
    # Swarm constraints are AND-ed; "one of several" becomes "none of the others".
    for label, wanted, known in (
        ("node.labels.zone", pin.zones, sorted({h.zone for h in hosts})),
        ("node.labels.rack", pin.racks, sorted({h.rack for h in hosts})),
        ("node.hostname", pin.hosts, sorted(h.name for h in hosts)),
    ):
        if len(wanted) == 1:
            out.append(f"{label}=={wanted[0]}")
        elif wanted:
            out.extend(f"{label}!={other}" for other in known if other not in wanted)
    return out


def _placement(bp: Blueprint, cluster: Cluster, w: Workload) -> dict[str, Any]:
    # The placement contract's rule (attonix.policy.placement): an even spread preference over
    # the level's node label, or at most ``per_domain`` tasks per node, over every node of the
    # swarm (managers run tasks too).
    placement: dict[str, Any] = {}
    constraints = _constraints(bp, cluster, w)
    if constraints:
        placement["constraints"] = constraints
    rule = workload_rule(bp, w)
    if rule.guarantee == "even":
        placement["preferences"] = [{"spread": f"node.labels.{rule.level}"}]
    else:
        placement["max_replicas_per_node"] = rule.per_domain
    return placement


def _user(w: Workload) -> str:
    uid = 0 if w.security.run_as_root else w.security.run_as_user
    return f"{uid}:{uid}"


def service(bp: Blueprint, cluster: Cluster, w: Workload) -> dict[str, Any]:
    """The compose service of one workload on ``cluster``."""
    labels = dict(workload_labels(bp, w))
    if w.zone:
        labels[ZONE] = w.zone
    uid = 0 if w.security.run_as_root else w.security.run_as_user
    env = dict(sorted(w.env.items()))
    if isinstance(w, Service):
        for name in w.databases:
            db = bp.databases_by_name.get(name)
            if db is not None:
                # A managed database at its endpoint; one of this stack by its service name.
                host = db.managed.endpoint if db.managed is not None else db.name
                env.update((e["name"], e["value"]) for e in database_env(db, host=host))
        if w.central_server is not None:
            db = bp.databases_by_name[w.central_server.database]
            host = db.managed.endpoint if db.managed is not None else db.name
            env.update(
                (e["name"], e["value"]) for e in central_server_env(bp, w, database_host=host)
            )
    out: dict[str, Any] = {"image": w.image}
    if isinstance(w, Service) and w.command:
        out["command"] = [literal(arg) for arg in w.command]
    if env:
        out["environment"] = {k: literal(v) for k, v in env.items()}
    out["user"] = _user(w)
    out["read_only"] = w.security.read_only_root_filesystem
    out["cap_drop"] = ["ALL"]
    if w.security.capabilities_add:
        out["cap_add"] = sorted(set(w.security.capabilities_add))
    out["healthcheck"] = _healthcheck(w)
    is_published = published(bp, w)
    if is_published and w.ports:
        out["ports"] = [
            {
                "target": p.port,
                "published": p.port,
                "protocol": p.protocol.lower(),
                "mode": "host",
            }
            for p in w.ports
        ]
    out["networks"] = networks_of(bp, w.name)
    mounts = secret_mounts(bp, w)
    if mounts:
        out["secrets"] = _secret_files(mounts, uid)
    volumes: list[dict[str, Any]] = [
        {"type": "tmpfs", "target": "/tmp", "tmpfs": {"size": TMP_BYTES}}  # noqa: S108
    ]
    if isinstance(w, Service):
        if w.central_server is not None:
            volumes.append(
                {"type": "tmpfs", "target": CENTRAL_SERVER_DATA_DIR, "tmpfs": {"size": TMP_BYTES}}
            )
        volumes.extend(
            {"type": "volume", "source": f"{w.name}-{v.name}", "target": v.mount_path}
            for v in w.volumes
        )
    out["volumes"] = volumes
    out["labels"] = labels
    order = "stop-first" if is_published else "start-first"
    out["deploy"] = {
        "mode": "replicated",
        "replicas": replicas_of(w),
        "endpoint_mode": "dnsrr",
        # A copy: the YAML dumper would otherwise write an anchor and an alias.
        "labels": dict(labels),
        "update_config": {
            "parallelism": 1,
            "delay": "0s",
            "order": order,
            "failure_action": "rollback",
            "monitor": _monitor(w),
            "max_failure_ratio": 0,
        },
        "rollback_config": {
            "parallelism": 1,
            "delay": "0s",
            "order": order,
            "failure_action": "pause",
            "monitor": _monitor(w),
        },
        "restart_policy": {"condition": "any", "delay": "2s", "window": "30s"},
        "placement": _placement(bp, cluster, w),
        "resources": _resources(w),
    }
    return out


def _secret_files(mounts: list[tuple[str, str, str]], uid: int) -> list[Any]:
    return [
        {
            "source": secret_ref(secret, key),
            "target": path,
            "uid": str(uid),
            "gid": str(uid),
            "mode": 0o400,
        }
        for secret, key, path in mounts
    ]


def database_service(bp: Blueprint, db: Database) -> dict[str, Any]:
    """The compose service of a database run in the stack: one task, pinned to the node that
    holds its local volume, health checked by the engine's client, credentials from secrets."""
    c = container_of(db)
    labels = component_labels(bp, db.name, component="database", version=db.version)
    node = database_node(bp, db)
    placement: dict[str, Any] = {"max_replicas_per_node": 1}
    if node is not None:
        placement = {"constraints": [f"node.hostname=={node.name}"], **placement}
    update = {
        "parallelism": 1,
        "delay": "0s",
        # Two servers must never open one data directory: the old task stops first.
        "order": "stop-first",
        "failure_action": "rollback",
        "monitor": f"{c.start_seconds + 2 * c.period_seconds}s",
        "max_failure_ratio": 0,
    }
    return {
        "image": c.image,
        "environment": {k: literal(v) for k, v in dict(c.env).items()},
        "user": f"{c.uid}:{c.uid}",
        "read_only": True,
        "cap_drop": ["ALL"],
        "healthcheck": {
            "test": ["CMD", *(literal(part) for part in c.health)],
            "interval": f"{c.period_seconds}s",
            "timeout": "5s",
            "retries": 3,
            "start_period": f"{c.start_seconds}s",
        },
        "networks": networks_of(bp, db.name),
        "secrets": _secret_files(secret_mounts(bp, db), c.uid),
        "volumes": [
            *(
                {"type": "tmpfs", "target": path, "tmpfs": {"size": TMP_BYTES}}
                for path in c.scratch
            ),
            {"type": "volume", "source": data_volume(db), "target": c.data_path},
        ],
        "labels": labels,
        "deploy": {
            "mode": "replicated",
            "replicas": 1,
            "endpoint_mode": "dnsrr",
            "labels": dict(labels),
            "update_config": update,
            "rollback_config": {**update, "failure_action": "pause"},
            "restart_policy": {"condition": "any", "delay": "5s", "window": "60s"},
            "placement": placement,
        },
    }


def _members(bp: Blueprint, cluster: Cluster) -> tuple[list[Workload], list[Database]]:
    """The workloads and the databases a swarm cluster's stack runs, in file order."""
    workloads = [w for w in bp.workloads_by_name.values() if w.cluster == cluster.name]
    workloads.sort(key=lambda w: (component_of(w), w.name))
    return workloads, sorted(standalone(bp, cluster.name), key=lambda d: d.name)


def stack(bp: Blueprint, cluster: Cluster) -> dict[str, Any]:
    """The compose document of one swarm cluster."""
    workloads, databases = _members(bp, cluster)
    services = {w.name: service(bp, cluster, w) for w in workloads}
    services.update((db.name, database_service(bp, db)) for db in databases)
    encrypted = bp.security.encryption.in_transit.overlay_encryption
    networks: dict[str, Any] = {}
    for name in sorted({n for s in services.values() for n in s["networks"]}):
        net: dict[str, Any] = {"driver": "overlay"}
        if encrypted:
            net["driver_opts"] = {"encrypted": "true"}
        net["attachable"] = False
        net["labels"] = {
            **blueprint_labels(bp),
            "attonix.io/network": name,
            "attonix.io/isolated": str(is_isolated(name)).lower(),
        }
        networks[name] = net
    doc: dict[str, Any] = {"version": COMPOSE_VERSION, "services": services, "networks": networks}
    secrets: dict[str, Any] = {}
    for w in [*workloads, *databases]:
        for secret, key, _ in secret_mounts(bp, w):
            secrets[secret_ref(secret, key)] = {
                "external": True,
                "name": secret_base(bp, secret, key),
            }
    if secrets:
        doc["secrets"] = dict(sorted(secrets.items()))
    volumes: dict[str, Any] = {}
    for w in workloads:
        if isinstance(w, Service):
            for v in w.volumes:
                volumes[f"{w.name}-{v.name}"] = {
                    "driver": "local",
                    "labels": component_labels(bp, f"{w.name}-{v.name}", component="volume"),
                }
    for db in databases:
        volumes[data_volume(db)] = {
            "driver": "local",
            "labels": component_labels(bp, data_volume(db), component="volume"),
        }
    if volumes:
        doc["volumes"] = volumes
    return doc


def with_secret_names(doc: dict[str, Any], names: Mapping[SecretKeyRef, str]) -> dict[str, Any]:
    """The stack file ``doc`` with its external secrets under the engine names ``names``
    (versioned by the deploy step); ``doc`` itself is left as rendered."""
    by_ref = {r.ref: name for r, name in names.items()}
    secrets = doc.get("secrets")
    if not secrets:
        return doc
    return {
        **doc,
        "secrets": {
            ref: {**spec, "name": by_ref.get(ref, spec["name"])} for ref, spec in secrets.items()
        },
    }


_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h)$")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_MEMORY = re.compile(r"^([0-9]+)([bkmgt]?)$")
_MEMORY_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def seconds(duration: str) -> float:
    """A compose duration (``"1s"``, ``"500ms"``) in seconds."""
    m = _DURATION.match(duration)
    if m is None:
        raise ValueError(f"not a duration: {duration!r}")
    return float(m.group(1)) * _DURATION_UNITS[m.group(2)]


def memory_bytes(quantity: str) -> int:
    """A compose memory size (``"64m"``) in bytes (binary units, as Docker reads them)."""
    m = _MEMORY.match(quantity.lower())
    if m is None:
        raise ValueError(f"not a memory size: {quantity!r}")
    return int(m.group(1)) * _MEMORY_UNITS[m.group(2)]


def _received(section: Mapping[str, Any]) -> Resources:
    memory = section.get("memory")
    return Resources(
        cpus=section.get("cpus"), memory_bytes=memory_bytes(memory) if memory else None
    )


def container_spec(svc: Mapping[str, Any]) -> ContainerSpec:
    """How the engine runs the compose service ``svc`` this module wrote: its values as
    ``docker stack deploy`` hands them to the engine (dollars unescaped), durations in
    seconds, memory in bytes, and Swarm's defaults where the file leaves a field out."""
    deploy = svc.get("deploy", {})
    health = svc.get("healthcheck", {})
    resources = deploy.get("resources", {})
    placement = deploy.get("placement", {})
    command = svc.get("command")
    return ContainerSpec(
        image=svc["image"],
        command=tuple(unliteral(a) for a in command) if command else None,
        env={k: unliteral(v) for k, v in sorted((svc.get("environment") or {}).items())},
        user=svc.get("user", ""),
        read_only=bool(svc.get("read_only", False)),
        cap_drop=tuple(svc.get("cap_drop", ())),
        cap_add=tuple(svc.get("cap_add", ())),
        labels=dict(deploy.get("labels") or {}),
        container_labels=dict(svc.get("labels") or {}),
        ports=tuple(
            PublishedPort(
                published=p["published"],
                target=p["target"],
                protocol=p.get("protocol", "tcp"),
                mode=p.get("mode", "ingress"),
            )
            for p in svc.get("ports", ())
        ),
        healthcheck=None
        if health.get("disable")
        else HealthCheck(
            test=tuple(unliteral(t) for t in health.get("test", ())),
            interval_seconds=seconds(health.get("interval", "30s")),
        ),
        limits=_received(resources.get("limits", {})),
        reservations=_received(resources.get("reservations", {})),
        update_order=deploy.get("update_config", {}).get("order", "stop-first"),
        constraints=tuple(placement.get("constraints", ())),
        max_replicas_per_node=placement.get("max_replicas_per_node", 0),
    )


def _key_ref(bp: Blueprint, secret: str, key: str) -> SecretKeyRef:
    return SecretKeyRef(secret, key, secret_ref(secret, key), secret_base(bp, secret, key))


def desired_state(bp: Blueprint, cluster: Cluster, doc: dict[str, Any]) -> DesiredState:
    """What the engine must run for ``cluster``, next to its stack file ``doc``: every
    service under its engine name with its effective replicas, the secret keys it mounts,
    its networks and volumes (engine names carry the stack's prefix)."""
    prefix = f"{stack_name(bp, cluster.name)}_"
    artifact = Artifact(TARGET, stack_path(cluster.name), doc)
    workloads, databases = _members(bp, cluster)
    out: list[DesiredWorkload] = []
    for w in [*workloads, *databases]:
        if isinstance(w, Database):
            uid, replicas = container_of(w).uid, 1
            kept = [data_volume(w)]
        else:
            uid = 0 if w.security.run_as_root else w.security.run_as_user
            replicas = replicas_of(w)
            kept = [f"{w.name}-{v.name}" for v in w.volumes] if isinstance(w, Service) else []
        mounts = tuple(
            SecretMount(_key_ref(bp, secret, key), path, uid)
            for secret, key, path in secret_mounts(bp, w)
        )
        out.append(
            DesiredWorkload(
                key=w.name,
                name=prefix + w.name,
                replicas=replicas,
                secrets=mounts,
                networks=tuple(prefix + n for n in networks_of(bp, w.name)),
                volumes=tuple(prefix + v for v in kept),
                container=container_spec(doc["services"][w.name]),
            )
        )
    networks = tuple(
        Network(
            key=key,
            name=prefix + key,
            driver=net["driver"],
            encrypted=net.get("driver_opts", {}).get("encrypted") == "true",
            labels=net["labels"],
        )
        for key, net in sorted(doc["networks"].items())
    )
    volumes = tuple(
        Volume(key=key, name=prefix + key, driver=vol["driver"], labels=vol["labels"])
        for key, vol in sorted(doc.get("volumes", {}).items())
    )
    return DesiredState(TARGET, cluster.name, (artifact,), tuple(out), networks, volumes)


def rendered(bp: Blueprint) -> Rendered:
    """One stack file per swarm cluster that runs at least one workload or database, with
    each cluster's desired state."""
    states: dict[str, DesiredState] = {}
    for cluster in bp.orchestration.clusters:
        if cluster.kind != "swarm":
            continue
        if not any(
            w.cluster == cluster.name for w in bp.workloads_by_name.values()
        ) and not standalone(bp, cluster.name):
            continue
        states[cluster.name] = desired_state(bp, cluster, stack(bp, cluster))
    return Rendered(tuple(a for s in states.values() for a in s.files), states)


def render(bp: Blueprint) -> list[Artifact]:
    """One stack file per swarm cluster that runs at least one workload or database."""
    return list(rendered(bp).artifacts)
