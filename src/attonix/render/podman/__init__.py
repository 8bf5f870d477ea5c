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
"""

from __future__ import annotations

import copy
import hashlib
import shlex
from collections.abc import Sequence
from typing import Any

from attonix.blueprint.model import Blueprint, Cluster, Database, Frontend, Service
from attonix.policy.placement import cluster_nodes, database_node, matches
from attonix.render.base import Artifact, RenderError
from attonix.render.database_containers import container_of, standalone
from attonix.render.labels import blueprint_labels, component_labels
from attonix.render.podman.quadlet import kube_unit, network_unit
from attonix.render.workloads import (
    consumer_secret,
    database_mount_path,
    db_volume_name,
    deployment,
    listening_probe,
    replicas_of,
    selector_of,
)

TARGET = "podman"
#: Podman refuses names longer than 253, but volume paths and pod names stay readable short.
_NAME_MAX = 50

Workload = Service | Frontend

__all__ = [
    "TARGET",
    "database_doc",
    "deployment_name",
    "kube_doc",
    "network_name",
    "render",
    "secret_base",
    "tmp_volume",
    "unit_path",
    "units_of",
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
    return f"{deployment_name(bp, w)}-tmp"


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


def render(bp: Blueprint) -> list[Artifact]:
    """Kube YAML, Quadlet ``.kube`` units and the network unit of every podman cluster."""
    out: list[Artifact] = []
    for cluster in bp.orchestration.clusters:
        if cluster.kind != TARGET:
            continue
        workloads = workloads_of(bp, cluster.name)
        databases = standalone(bp, cluster.name)
        if not workloads and not databases:
            continue
        net = network_name(bp, cluster.name)
        out.append(
            Artifact(
                TARGET,
                f"podman/{cluster.name}/{net}.network",
                network_unit(net, labels=blueprint_labels(bp)),
                "text",
            )
        )
        for w in workloads:
            doc = kube_doc(bp, cluster, w)
            out.append(Artifact(TARGET, yaml_path(cluster.name, w.name), doc, "yaml"))
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
            out.append(Artifact(TARGET, unit_path(cluster.name, w.name), unit, "text"))
        for db in databases:
            doc = database_doc(bp, db)
            out.append(Artifact(TARGET, yaml_path(cluster.name, db.name), doc, "yaml"))
            unit = kube_unit(
                description=f"Attonix {bp.metadata.name} database {db.name} (podman kube play)",
                yaml_file=f"{db.name}.yaml",
                network=f"{net}.network",
            )
            out.append(Artifact(TARGET, unit_path(cluster.name, db.name), unit, "text"))
    return sorted(out, key=lambda a: a.path)
