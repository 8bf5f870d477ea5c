"""Podman target: per podman cluster, Kubernetes YAML for ``podman kube play`` and Quadlet units.

For each backend service or frontend of a podman cluster Attonix writes
``podman/<cluster>/<service>.yaml`` — one ``apps/v1`` Deployment built by the shared
:mod:`attonix.render.workloads` builders, so the pod is hardened exactly as on Kubernetes — and
``podman/<cluster>/<service>.kube``, a Quadlet unit that lets systemd keep the pods running on
an Ubuntu host. ``podman/<cluster>/<network>.network`` declares the cluster's bridge network.

What Podman does differently from a Kubernetes cluster shapes the YAML:

* no scheduler and no Service objects: the deploy step places the replicas on the cluster's
  hosts (evenly, in blueprint order; ``replicas`` in the YAML is the cluster's total, each host
  plays its share). A workload with ``expose`` publishes its ports on each host
  (``hostPort``), so it can run one replica per host, balanced by ``ha.load_balancers``; other
  workloads list no ports at all (Podman 4.3 would publish each ``containerPort`` on the host)
  and are reached by pod name on their host's cluster network (``<deployment>-pod-<n>``);
* no registry pulls on start (``imagePullPolicy: IfNotPresent``): a Podman host starts from its
  local image store, which ``podman auto-update`` or an explicit pull refreshes;
* secrets are Podman secrets holding a Kubernetes ``Secret`` document, mounted as files; the
  YAML names them, the deploy step creates them from the secret source under versioned names;
* ``optional: false`` is written on every secret volume: Podman 4.3 dereferences the field
  without a nil check and crashes when it is absent (containers/podman#16636);
* Podman 4.3 turns an ``emptyDir`` into a named volume called after the pod volume, so the
  scratch ``/tmp`` volume gets a name unique to the service.

Next to the files, :func:`rendered` returns each cluster's typed desired state
(:mod:`attonix.render.desired`), filled while each Deployment is built: per workload its
replicas, the secret keys it mounts, its volumes and network, and in ``spec`` the settings the
deploy step compares with ``podman inspect`` (image, environment, published ports, other
mounts, user, read-only root, memory limit, health URL, labels). The deploy step plans from
these and hands the YAML to ``podman kube play`` without reading it back.
"""

from __future__ import annotations

import copy
import hashlib
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

from attonix.blueprint.model import Blueprint, Cluster, Database, Frontend, Service
from attonix.policy.placement import cluster_nodes, database_node, matches
from attonix.render.base import Artifact, RenderError
from attonix.render.database_containers import container_of, standalone
from attonix.render.desired import (
    DesiredState,
    Network,
    Rendered,
    SecretKeyRef,
    SecretMount,
    Volume,
)
from attonix.render.desired import Workload as DesiredWorkload
from attonix.render.labels import blueprint_labels, component_labels
from attonix.render.podman.quadlet import kube_unit, network_unit
from attonix.render.workloads import (
    consumer_secret,
    consumer_secrets,
    database_mount_path,
    db_volume_name,
    deployment,
    listening_probe,
    replicas_of,
    selector_of,
)

TARGET = "podman"
#: The label that keeps the secrets and networks of two podman clusters of a blueprint apart.
CLUSTER_LABEL = "attonix.io/podman-cluster"
#: Podman refuses names longer than 253, but volume paths and pod names stay readable short.
_NAME_MAX = 50

Workload = Service | Frontend

__all__ = [
    "CLUSTER_LABEL",
    "TARGET",
    "database_doc",
    "deployment_name",
    "kube_doc",
    "memory_bytes",
    "network_name",
    "render",
    "rendered",
    "secret_base",
    "tmp_volume",
    "tmp_volume_of",
    "unit_path",
    "units_of",
    "with_replicas",
    "with_secret_names",
    "workloads_of",
    "yaml_path",
]


def _short(name: str) -> str:
    if len(name) <= _NAME_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: _NAME_MAX - 9]}-{digest}"


def deployment_name(bp: Blueprint, w: Workload | Database) -> str:
    """The Deployment (and pod name prefix) of a workload: ``<blueprint>-<service>``.

    Podman names are host-wide, so the blueprint name keeps two blueprints apart.
    """
    return _short(f"{bp.metadata.name}-{w.name}")


def network_name(bp: Blueprint, cluster: str) -> str:
    """The bridge network the cluster's pods share: ``<blueprint>-<cluster>``."""
    return _short(f"{bp.metadata.name}-{cluster}")


def secret_base(bp: Blueprint, secret: str) -> str:
    """The Podman secret name of a declared secret before versioning."""
    return _short(f"{bp.metadata.name}-{secret}")


def tmp_volume(bp: Blueprint, w: Workload) -> str:
    """The pod volume (and, under Podman 4.3, named volume) mounted on ``/tmp``."""
    return tmp_volume_of(deployment_name(bp, w))


def tmp_volume_of(deployment: str) -> str:
    """The ``/tmp`` volume of the Deployment named ``deployment`` (also of one no longer in
    the blueprint, whose pods the deploy step removes)."""
    return f"{deployment}-tmp"


def yaml_path(cluster: str, service: str) -> str:
    """The artifact path of a service's kube YAML."""
    return f"podman/{cluster}/{service}.yaml"


def unit_path(cluster: str, service: str) -> str:
    """The artifact path of a service's Quadlet ``.kube`` unit."""
    return f"podman/{cluster}/{service}.kube"


def workloads_of(bp: Blueprint, cluster: str) -> list[Workload]:
    """Backend services then frontends of a cluster, in blueprint order."""
    every: list[Workload] = [*bp.services.backend, *bp.services.frontend]
    return [w for w in every if w.cluster == cluster]


def units_of(bp: Blueprint, cluster: str) -> list[Workload | Database]:
    """Everything ``podman kube play`` runs on a cluster: its workloads, then its databases."""
    return [*workloads_of(bp, cluster), *standalone(bp, cluster)]


def host_ip(bp: Blueprint, cluster: Cluster) -> str:
    """The address published ports bind to: the only worker's address, else every address."""
    if len(cluster.workers) == 1 and cluster.workers[0] in bp.hosts_by_name:
        return str(bp.hosts_by_name[cluster.workers[0]].address)
    return ""


def _published(bp: Blueprint, cluster: Cluster, w: Workload) -> list[dict[str, Any]]:
    if w.expose is None:
        return []
    hosts = [h for h in cluster_nodes(bp, cluster) if matches(h, w.placement)]
    if replicas_of(w) > max(1, len(hosts)):
        raise RenderError(
            f"{w.name}: an exposed workload on podman cluster {cluster.name} publishes its "
            f"ports on each host, so it can run one replica per host, not {replicas_of(w)}",
            hint=f"Set replicas to at most {max(1, len(hosts))} (one per host) and balance "
            "the hosts with ha.load_balancers, or run it on a kubernetes or swarm cluster.",
        )
    addr = host_ip(bp, cluster)
    out = []
    for p in w.ports:
        port: dict[str, Any] = {"hostPort": p.port}
        if addr:
            port["hostIP"] = addr
        out.append(port)
    return out


def database_host(bp: Blueprint, db: Database) -> str:
    """The name services reach a database of their podman cluster at: its only pod."""
    return f"{deployment_name(bp, db)}-pod-0"


def _database_hosts(bp: Blueprint, cluster: Cluster, w: Workload) -> dict[str, str]:
    """Where a workload reaches each of its databases: a managed one at its endpoint, one of
    this cluster at its pod (validation allows no other)."""
    out: dict[str, str] = {}
    for name in getattr(w, "databases", []):
        db = bp.databases_by_name.get(name)
        if db is not None and db.managed is not None:
            out[name] = db.managed.endpoint
        elif db is not None and db.cluster == cluster.name:
            out[name] = database_host(bp, db)
    return out


def shell_command(argv: Sequence[str]) -> list[str]:
    """An exec probe's command as ``podman kube play`` runs it: one shell-quoted string.

    Podman turns an exec probe into a ``CMD-SHELL`` health check of the command's words
    joined by spaces (``/bin/sh -c "<words> || exit 1"``), so an argument holding a space —
    ``[sh, -c, "a script"]`` — would be split. Quoted into one string, the shell runs exactly
    the argv the blueprint gave (the image needs /bin/sh, as any Podman health check does).
    """
    return [shlex.join(argv)]


def kube_doc(bp: Blueprint, cluster: Cluster, w: Workload) -> dict[str, Any]:
    """The Deployment ``podman kube play`` runs for one workload.

    Kubernetes-only fields Podman ignores (service accounts, topology spread, affinity) are
    dropped so the file says only what takes effect.
    """
    hosts = _database_hosts(bp, cluster, w)
    doc = copy.deepcopy(deployment(bp, w, database_hosts=hosts))
    name = deployment_name(bp, w)
    doc["metadata"] = {"name": name, "labels": doc["metadata"]["labels"]}
    pod = doc["spec"]["template"]["spec"]
    for key in (
        "serviceAccountName",
        "automountServiceAccountToken",
        "enableServiceLinks",
        "topologySpreadConstraints",
        "affinity",
    ):
        pod.pop(key, None)
    pod["restartPolicy"] = "Always"
    tmp = tmp_volume(bp, w)
    # Each database mount holds the service's own login, not the database's admin secret.
    own = {db_volume_name(db): consumer_secret(db, w.name) for db in hosts}
    for vol in pod["volumes"]:
        if vol["name"] == "tmp":
            vol["name"] = tmp
        if "secret" in vol:
            source = own.get(vol["name"], vol["secret"]["secretName"])
            vol["secret"] = {
                "secretName": secret_base(bp, source),
                "defaultMode": vol["secret"]["defaultMode"],
                "optional": False,
            }
    c = pod["containers"][0]
    c["imagePullPolicy"] = "IfNotPresent"
    for key in ("readinessProbe", "livenessProbe"):
        check = c.get(key)
        if check is not None and "tcpSocket" in check:
            # Podman runs a tcpSocket probe as `nc -z` inside the container, and most images
            # have no nc: the same check with /bin/sh built-ins only.
            port = check.pop("tcpSocket")["port"]
            check = c[key] = {"exec": {"command": [listening_probe(port)]}, **check}
        elif check is not None and "exec" in check:
            check["exec"] = {"command": shell_command(check["exec"]["command"])}
    for mount in c["volumeMounts"]:
        if mount["name"] == "tmp":
            mount["name"] = tmp
    published = _published(bp, cluster, w)
    if published:
        for port, host in zip(c["ports"], published, strict=True):
            port.update(host)
    else:
        # Podman 4.3 publishes a containerPort without hostPort on the same host port, so a
        # second replica could never start; ports are informational in a pod spec anyway.
        c.pop("ports", None)
    return doc


def database_doc(bp: Blueprint, db: Database) -> dict[str, Any]:
    """The Deployment of a database run on a podman cluster: one pod on the host that keeps
    its named data volume (``attonix.io/host``), checked by the engine's client, with its
    credentials as secret files."""
    c = container_of(db)
    name = deployment_name(bp, db)
    labels = component_labels(bp, db.name, component="database", version=db.version)
    node = database_node(bp, db)
    probe = {
        "exec": {"command": shell_command(c.health)},
        "initialDelaySeconds": c.start_seconds,
        "periodSeconds": c.period_seconds,
        "timeoutSeconds": 5,
        "failureThreshold": 3,
    }
    scratch = [(f"{name}-scratch-{k}", path) for k, path in enumerate(c.scratch)]
    container = {
        "name": db.name,
        "image": c.image,
        "imagePullPolicy": "IfNotPresent",
        "env": [{"name": k, "value": v} for k, v in c.env],
        "readinessProbe": probe,
        "livenessProbe": {**probe, "initialDelaySeconds": 2 * c.start_seconds},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "runAsGroup": c.uid,
            "runAsNonRoot": True,
            "runAsUser": c.uid,
        },
        "volumeMounts": [
            *({"name": vol, "mountPath": path} for vol, path in scratch),
            {"name": f"{name}-data", "mountPath": c.data_path},
            {"name": "credentials", "mountPath": database_mount_path(db), "readOnly": True},
        ],
    }
    metadata: dict[str, Any] = {"name": name, "labels": dict(labels)}
    if node is not None:
        metadata["annotations"] = {"attonix.io/host": node.name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": 1,
            # Two servers must never open one data directory.
            "strategy": {"type": "Recreate"},
            "selector": {"matchLabels": selector_of(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "restartPolicy": "Always",
                    "containers": [container],
                    "volumes": [
                        *({"name": vol, "emptyDir": {}} for vol, _ in scratch),
                        {
                            "name": f"{name}-data",
                            "persistentVolumeClaim": {"claimName": f"{name}-data"},
                        },
                        {
                            "name": "credentials",
                            "secret": {
                                "secretName": secret_base(bp, db.credentials_secret),
                                "defaultMode": 0o400,
                                "optional": False,
                            },
                        },
                    ],
                },
            },
        },
    }


_QUANTITY = re.compile(r"^([0-9]+)(Ki|Mi|Gi|Ti|k|M|G|T)?$")
_UNITS = {
    None: 1,
    "Ki": 1 << 10,
    "Mi": 1 << 20,
    "Gi": 1 << 30,
    "Ti": 1 << 40,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
}


def memory_bytes(quantity: str) -> int:
    """A Kubernetes memory quantity (``64Mi``) in bytes."""
    m = _QUANTITY.match(quantity)
    if m is None:
        raise ValueError(f"not a memory quantity: {quantity!r}")
    return int(m.group(1)) * _UNITS[m.group(2)]


def _health_url(container: Mapping[str, Any]) -> str | None:
    """The URL Podman probes for a container's httpGet liveness probe (None: another kind)."""
    get = (container.get("livenessProbe") or {}).get("httpGet")
    if not get:
        return None
    return f"{get.get('scheme', 'HTTP').lower()}://localhost:{get['port']}{get.get('path', '/')}"


def _secret_keys(bp: Blueprint, secret: str) -> list[str]:
    """The keys a Podman secret holds (its files): those the declared secret names — for a
    service's own database login, those of the database's credentials secret."""
    declared = bp.secrets_by_name.get(secret)
    if declared is None and secret in consumer_secrets(bp):
        db = bp.databases_by_name[consumer_secrets(bp)[secret][0]]
        declared = bp.secrets_by_name.get(db.credentials_secret)
    return list(declared.keys) if declared else ["value"]


def _sources(bp: Blueprint, unit: Workload | Database) -> dict[str, str]:
    """Podman secret name before versioning -> the secret it holds, for the secrets ``unit``
    mounts: its declared secrets and its own database logins (a database: its credentials)."""
    if isinstance(unit, Database):
        names = [unit.credentials_secret]
    else:
        names = [m.secret for m in unit.secrets]
        for db in getattr(unit, "databases", []):
            names.append(consumer_secret(db, unit.name))
            if db in bp.databases_by_name:
                names.append(bp.databases_by_name[db].credentials_secret)
    return {secret_base(bp, n): n for n in names}


def _state_of(
    bp: Blueprint, unit: Workload | Database, doc: dict[str, Any], net: str
) -> DesiredWorkload:
    """What the engine must run for ``unit``, taken from its Deployment ``doc`` while the
    renderer builds it: the same dicts the file is written from."""
    sources = _sources(bp, unit)
    pod = doc["spec"]["template"]["spec"]
    c = pod["containers"][0]
    sec = c.get("securityContext", {})
    uid = int(sec.get("runAsUser", 0))
    by_name = {v["name"]: v for v in pod.get("volumes", [])}
    secrets: list[SecretMount] = []
    mounts: list[str] = []
    for m in c.get("volumeMounts", []):
        vol = by_name[m["name"]]
        if "secret" in vol:
            base = vol["secret"]["secretName"]
            source = sources[base]
            secrets += [
                SecretMount(
                    SecretKeyRef(source, key, base, base),
                    f"{m['mountPath']}/{key}",
                    uid,
                    int(vol["secret"]["defaultMode"]),
                )
                for key in _secret_keys(bp, source)
            ]
        else:
            mounts.append(f"{m['mountPath']} <- {vol['name']}")
    limits = c.get("resources", {}).get("limits", {})
    settings = {
        "image": c["image"],
        "env": {e["name"]: e.get("value", "") for e in sorted(c.get("env", []), key=_name)},
        "ports": sorted(
            f"{p.get('hostIP', '')}:{p['hostPort']}->{p['containerPort']}/"
            f"{p.get('protocol', 'TCP').lower()}"
            for p in c.get("ports", [])
            if "hostPort" in p
        ),
        "mounts": sorted(mounts),
        "user": f"{sec['runAsUser']}:{sec['runAsGroup']}" if "runAsUser" in sec else "",
        "read_only": bool(sec.get("readOnlyRootFilesystem", False)),
        "memory_limit": memory_bytes(limits["memory"]) if "memory" in limits else 0,
        "health": _health_url(c),
        "labels": dict(sorted(doc["spec"]["template"]["metadata"].get("labels", {}).items())),
    }
    return DesiredWorkload(
        key=unit.name,
        name=deployment_name(bp, unit),
        replicas=int(doc["spec"].get("replicas", 1)),
        kind="Deployment",
        secrets=tuple(secrets),
        networks=(net,),
        volumes=tuple(sorted(v for v, spec in by_name.items() if "secret" not in spec)),
        spec=settings,
    )


def _name(entry: Mapping[str, Any]) -> str:
    return str(entry["name"])


def with_secret_names(doc: Mapping[str, Any], names: Mapping[str, str]) -> dict[str, Any]:
    """The Deployment ``doc`` with its secret volumes naming the engine secrets ``names``
    gives (unversioned name -> versioned, by the deploy step); ``doc`` is left as rendered."""
    out = copy.deepcopy(dict(doc))
    for vol in out["spec"]["template"]["spec"].get("volumes", []):
        if "secret" in vol:
            name = vol["secret"]["secretName"]
            vol["secret"]["secretName"] = names.get(name, name)
    return out


def with_replicas(doc: Mapping[str, Any], replicas: int) -> dict[str, Any]:
    """The Deployment ``doc`` asking for ``replicas`` pods (one host's share)."""
    return {**doc, "spec": {**doc["spec"], "replicas": replicas}}


def _scratch(doc: Mapping[str, Any]) -> list[str]:
    """The ``emptyDir`` volumes of a Deployment, which Podman 4.3 keeps as named volumes."""
    return [v["name"] for v in doc["spec"]["template"]["spec"]["volumes"] if "emptyDir" in v]


def _cluster_state(bp: Blueprint, cluster: Cluster) -> DesiredState | None:
    workloads = workloads_of(bp, cluster.name)
    databases = standalone(bp, cluster.name)
    if not workloads and not databases:
        return None
    net = network_name(bp, cluster.name)
    files = [
        Artifact(
            TARGET,
            f"podman/{cluster.name}/{net}.network",
            network_unit(net, labels=blueprint_labels(bp)),
            "text",
        )
    ]
    states: list[DesiredWorkload] = []
    scratch: list[str] = []
    for w in workloads:
        doc = kube_doc(bp, cluster, w)
        states.append(_state_of(bp, w, doc, net))
        scratch += _scratch(doc)
        files.append(Artifact(TARGET, yaml_path(cluster.name, w.name), doc, "yaml"))
        ports = [
            (p.get("hostIP", ""), p["hostPort"], p["containerPort"])
            for p in doc["spec"]["template"]["spec"]["containers"][0].get("ports", [])
            if "hostPort" in p
        ]
        unit = kube_unit(
            description=f"Attonix {bp.metadata.name} {w.name} (podman kube play)",
            yaml_file=f"{w.name}.yaml",
            network=f"{net}.network",
            ports=ports,
        )
        files.append(Artifact(TARGET, unit_path(cluster.name, w.name), unit, "text"))
    for db in databases:
        doc = database_doc(bp, db)
        states.append(_state_of(bp, db, doc, net))
        scratch += _scratch(doc)
        files.append(Artifact(TARGET, yaml_path(cluster.name, db.name), doc, "yaml"))
        unit = kube_unit(
            description=f"Attonix {bp.metadata.name} database {db.name} (podman kube play)",
            yaml_file=f"{db.name}.yaml",
            network=f"{net}.network",
        )
        files.append(Artifact(TARGET, unit_path(cluster.name, db.name), unit, "text"))
    return DesiredState(
        TARGET,
        cluster.name,
        files=tuple(sorted(files, key=lambda a: a.path)),
        workloads=tuple(states),
        networks=(
            Network(
                key=net,
                name=net,
                driver="bridge",
                encrypted=False,
                labels={**blueprint_labels(bp), CLUSTER_LABEL: cluster.name},
            ),
        ),
        volumes=tuple(Volume(key=v, name=v, driver="local") for v in sorted(set(scratch))),
    )


def rendered(bp: Blueprint) -> Rendered:
    """Kube YAML, Quadlet units and the network unit of every podman cluster, with each
    cluster's desired state."""
    states: dict[str, DesiredState] = {}
    for cluster in bp.orchestration.clusters:
        if cluster.kind == TARGET:
            state = _cluster_state(bp, cluster)
            if state is not None:
                states[cluster.name] = state
    files = sorted((a for s in states.values() for a in s.files), key=lambda a: a.path)
    return Rendered(tuple(files), states)


def render(bp: Blueprint) -> list[Artifact]:
    """Kube YAML, Quadlet ``.kube`` units and the network unit of every podman cluster."""
    return list(rendered(bp).artifacts)
