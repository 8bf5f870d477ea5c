"""Namespaces and everything one workload needs: ServiceAccount, Deployment or StatefulSet,
Service, HorizontalPodAutoscaler, PodDisruptionBudget and Ingress (and, for an exposed
frontend on a cluster whose ingress allows it, the ConfigMap of its response headers)."""

from __future__ import annotations

from typing import Any

from attonix.blueprint.model import Frontend, Service
from attonix.blueprint.naming import derived
from attonix.render import workloads as wl
from attonix.render.kubernetes._context import DATABASES_NAMESPACE, Ctx, obj

PSA = "pod-security.kubernetes.io"
INTERNAL_TLS_DIR = "/run/secrets/tls"


def namespaces(ctx: Ctx) -> list[dict[str, Any]]:
    """Namespaces of the cluster's workloads (PSA ``restricted``) and its databases.

    The databases namespace enforces ``baseline`` only: operator-generated pods are not under
    our control; ``restricted`` is still audited and warned so that drift is visible.
    """
    out = []
    for ns in ctx.workload_namespaces():
        out.append(_namespace(ctx, ns, enforce="restricted"))
    if ctx.databases and DATABASES_NAMESPACE not in ctx.workload_namespaces():
        out.append(_namespace(ctx, DATABASES_NAMESPACE, enforce="baseline"))
    return out


def _namespace(ctx: Ctx, name: str, *, enforce: str) -> dict[str, Any]:
    labels = {
        **ctx.base_labels(),
        f"{PSA}/enforce": enforce,
        f"{PSA}/enforce-version": "latest",
        f"{PSA}/audit": "restricted",
        f"{PSA}/audit-version": "latest",
        f"{PSA}/warn": "restricted",
        f"{PSA}/warn-version": "latest",
    }
    return obj("v1", "Namespace", name, namespace=None, labels=labels)


def internal_tls_secret(w: wl.Workload) -> str:
    """Name of the Secret holding a workload's internal (cluster-CA) certificate."""
    return derived(w.name, "internal-tls")


def _with_internal_tls(ctx: Ctx, pod: dict[str, Any], w: wl.Workload) -> None:
    if not ctx.bp.security.encryption.in_transit.internal_tls:
        return
    pod["volumes"].append(
        {
            "name": "internal-tls",
            "secret": {"secretName": internal_tls_secret(w), "defaultMode": 0o440},
        }
    )
    c = pod["containers"][0]
    c["volumeMounts"].append(
        {"name": "internal-tls", "mountPath": INTERNAL_TLS_DIR, "readOnly": True}
    )
    c.setdefault("env", []).append({"name": "ATTONIX_TLS_DIR", "value": INTERNAL_TLS_DIR})


def is_stateful(w: wl.Workload) -> bool:
    """Whether a workload runs as a StatefulSet (governed by its headless Service)."""
    return isinstance(w, Service) and (w.stateful or bool(w.volumes))


def controller(ctx: Ctx, w: wl.Workload) -> dict[str, Any]:
    """A Deployment, or a StatefulSet with volumeClaimTemplates on the pools' StorageClasses."""
    doc = wl.deployment(ctx.bp, w, database_hosts=ctx.database_hosts(w))
    pod = doc["spec"]["template"]["spec"]
    _with_internal_tls(ctx, pod, w)
    if not is_stateful(w):
        return doc
    assert isinstance(w, Service)
    claims = {v.name for v in w.volumes}
    pod["volumes"] = [v for v in pod["volumes"] if v["name"] not in claims]
    spec = doc["spec"]
    del spec["strategy"]
    spec["serviceName"] = headless_name(w)
    spec["podManagementPolicy"] = "Parallel"
    spec["updateStrategy"] = {"type": "RollingUpdate"}
    spec["persistentVolumeClaimRetentionPolicy"] = {"whenDeleted": "Retain", "whenScaled": "Retain"}
    templates = []
    for vol in w.volumes:
        _, pool = ctx.pool(vol.pool, kind=_pool_kind(ctx, vol.pool), what=f"volume {vol.name}")
        templates.append(
            {
                "metadata": {"name": vol.name, "labels": dict(doc["metadata"]["labels"])},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": pool.name,
                    "resources": {"requests": {"storage": vol.size}},
                },
            }
        )
    if templates:
        spec["volumeClaimTemplates"] = templates
    doc["kind"] = "StatefulSet"
    return doc


def _pool_kind(ctx: Ctx, name: str | None) -> str:
    if name is not None and name in ctx.bp.pools_by_name:
        return ctx.bp.pools_by_name[name][1].type
    return "block"


def service(ctx: Ctx, w: wl.Workload) -> dict[str, Any]:
    """A ClusterIP Service for the workload's ports."""
    labels = wl.workload_labels(ctx.bp, w)
    return obj(
        "v1",
        "Service",
        w.name,
        namespace=wl.namespace_of(ctx.bp, w),
        labels=labels,
        spec={
            "type": "ClusterIP",
            "selector": wl.selector_labels(ctx.bp, w.name),
            "ports": [
                {"name": p.name, "port": p.port, "targetPort": p.name, "protocol": p.protocol}
                for p in w.ports
            ],
        },
    )


def headless_name(w: wl.Workload) -> str:
    """The headless Service a StatefulSet names as ``serviceName``."""
    return f"{w.name}-headless"


def headless_service(ctx: Ctx, w: wl.Workload) -> dict[str, Any]:
    """The headless Service (``clusterIP: None``) that governs a StatefulSet: it gives each pod
    its stable DNS name (``<pod>.<name>-headless.<namespace>.svc``), which a ClusterIP Service
    does not; clients keep using the ClusterIP Service."""
    doc = service(ctx, w)
    doc["metadata"]["name"] = headless_name(w)
    spec = {"clusterIP": "None", "selector": doc["spec"]["selector"]}
    if doc["spec"]["ports"]:  # a headless Service may have none
        spec["ports"] = doc["spec"]["ports"]
    doc["spec"] = spec
    return doc


def service_account(ctx: Ctx, w: wl.Workload) -> dict[str, Any]:
    """One ServiceAccount per workload; tokens are mounted only where the pod asks."""
    doc = obj(
        "v1",
        "ServiceAccount",
        w.name,
        namespace=wl.namespace_of(ctx.bp, w),
        labels=wl.workload_labels(ctx.bp, w),
    )
    doc["automountServiceAccountToken"] = False
    return doc


def autoscaler(ctx: Ctx, w: wl.Workload, *, kind: str) -> dict[str, Any] | None:
    """An autoscaling/v2 HorizontalPodAutoscaler from the declared bounds (None without)."""
    if w.autoscaling is None:
        return None
    a = w.autoscaling
    return obj(
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        w.name,
        namespace=wl.namespace_of(ctx.bp, w),
        labels=wl.workload_labels(ctx.bp, w),
        spec={
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": w.name},
            "minReplicas": a.min_replicas,
            "maxReplicas": a.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": a.target_cpu_percent,
                        },
                    },
                }
            ],
        },
    )


def disruption_budget(ctx: Ctx, w: wl.Workload) -> dict[str, Any] | None:
    """A PodDisruptionBudget: the declared minimum, else all replicas but one (None for 1)."""
    replicas = wl.replicas_of(w)
    if w.min_available is not None:
        spec: dict[str, Any] = {"minAvailable": w.min_available}
    elif replicas > 1:
        spec = {"maxUnavailable": 1}
    else:
        return None
    spec["selector"] = {"matchLabels": wl.selector_labels(ctx.bp, w.name)}
    return obj(
        "policy/v1",
        "PodDisruptionBudget",
        w.name,
        namespace=wl.namespace_of(ctx.bp, w),
        labels=wl.workload_labels(ctx.bp, w),
        spec=spec,
    )


def public_tls_secret(w: wl.Workload) -> str:
    """Name of the Secret holding the certificate of a workload's public host."""
    return derived(w.name, "public-tls")


def response_headers_name(w: wl.Workload) -> str:
    """Name of the ConfigMap holding the response headers of a frontend's Ingress."""
    return derived(w.name, "response-headers")


def sends_response_headers(ctx: Ctx, w: wl.Workload) -> bool:
    """Whether the Ingress of ``w`` sends its Content-Security-Policy: an exposed frontend on a
    cluster whose ingress-nginx allows the header (``ingress_custom_headers``)."""
    return isinstance(w, Frontend) and w.expose is not None and ctx.cluster.ingress_custom_headers


def response_headers(ctx: Ctx, w: wl.Workload) -> dict[str, Any] | None:
    """The ConfigMap that ingress-nginx's ``custom-headers`` annotation names: header names to
    the values it sets on every response of the Ingress (``more_set_headers``, replacing the
    server's). The controller sends only headers listed in its
    ``global-allowed-response-headers``; without that, it answers 503 on the Ingress's paths,
    hence the blueprint's ``ingress_custom_headers`` (None when it is false)."""
    if not sends_response_headers(ctx, w):
        return None
    assert isinstance(w, Frontend)
    return obj(
        "v1",
        "ConfigMap",
        response_headers_name(w),
        namespace=wl.namespace_of(ctx.bp, w),
        labels=wl.workload_labels(ctx.bp, w),
        data={"Content-Security-Policy": w.content_security_policy},
    )


def ingress(ctx: Ctx, w: wl.Workload) -> dict[str, Any] | None:
    """An Ingress on the cluster's ingress class for an exposed workload, TLS terminated; an
    exposed frontend's sends its Content-Security-Policy where the controller allows it."""
    if w.expose is None:
        return None
    e = w.expose
    annotations = {
        "nginx.ingress.kubernetes.io/ssl-redirect": "true",
        "nginx.ingress.kubernetes.io/force-ssl-redirect": "true",
    }
    if sends_response_headers(ctx, w):
        namespace = wl.namespace_of(ctx.bp, w)
        annotations["nginx.ingress.kubernetes.io/custom-headers"] = (
            f"{namespace}/{response_headers_name(w)}"
        )
    spec: dict[str, Any] = {"ingressClassName": ctx.cluster.ingress_class}
    if e.tls:
        spec["tls"] = [{"hosts": [e.host], "secretName": public_tls_secret(w)}]
    spec["rules"] = [
        {
            "host": e.host,
            "http": {
                "paths": [
                    {
                        "path": e.path,
                        "pathType": "Prefix",
                        "backend": {
                            "service": {"name": w.name, "port": {"number": w.ports[0].port}}
                        },
                    }
                ]
            },
        }
    ]
    return obj(
        "networking.k8s.io/v1",
        "Ingress",
        w.name,
        namespace=wl.namespace_of(ctx.bp, w),
        labels=wl.workload_labels(ctx.bp, w),
        annotations=annotations,
        spec=spec,
    )


def workload_objects(ctx: Ctx, w: wl.Workload) -> list[dict[str, Any]]:
    """Every core object of one workload."""
    ctrl = controller(ctx, w)
    docs = [service_account(ctx, w), ctrl]
    if w.ports:  # a worker without ports is called by nobody: no Service
        docs.append(service(ctx, w))
    if ctrl["kind"] == "StatefulSet":  # its pods' DNS names, ports or not
        docs.append(headless_service(ctx, w))
    for extra in (
        autoscaler(ctx, w, kind=ctrl["kind"]),
        disruption_budget(ctx, w),
        response_headers(ctx, w),
        ingress(ctx, w),
    ):
        if extra is not None:
            docs.append(extra)
    return docs
