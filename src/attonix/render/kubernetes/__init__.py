"""``attonix render --target kubernetes``: per Kubernetes cluster, a kustomize tree with the
workloads, NetworkPolicies, RBAC, cert-manager resources, Rook-Ceph and the database
operators' resources — validated offline against the cluster version's schemas."""

from __future__ import annotations

import json
import os
from typing import Any, Literal

from attonix.blueprint.model import Blueprint
from attonix.render.base import Artifact, RenderError
from attonix.render.kubernetes import (
    certificates,
    databases,
    kustomize,
    network,
    rbac,
    rook,
    validation,
    workloads,
)
from attonix.render.kubernetes._context import ROOK_NAMESPACE, Ctx

__all__ = ["cluster_objects", "render"]


def _rgw_certificates(ctx: Ctx) -> list[dict[str, Any]]:
    out = []
    for ceph in ctx.ceph:
        for pool in ceph.pools:
            if pool.type == "object":
                cert = certificates.certificate(
                    ctx,
                    rook.rgw_tls_secret(pool),
                    namespace=ROOK_NAMESPACE,
                    dns=certificates.service_dns(f"rook-ceph-rgw-{pool.name}", ROOK_NAMESPACE),
                )
                out.append(cert)
    return out


def cluster_objects(ctx: Ctx) -> list[dict[str, Any]]:
    """Every object of one cluster, in apply order, each an independent dictionary."""
    docs: list[dict[str, Any]] = [*workloads.namespaces(ctx), *certificates.issuers(ctx)]
    for w in ctx.workloads:
        docs.extend(workloads.workload_objects(ctx, w))
        docs.extend(certificates.workload_certificates(ctx, w))
    docs.extend(network.network_policies(ctx))
    docs.extend(rbac.rbac(ctx))
    docs.extend(rook.rook(ctx))
    docs.extend(_rgw_certificates(ctx))
    for db in ctx.databases:
        cert = certificates.database_certificate(ctx, db)
        if cert is not None:
            docs.append(cert)
    docs.extend(databases.databases(ctx))
    # Fresh trees (a JSON round trip is the fastest deep copy): a sub-object shared between
    # two places would be dumped as a YAML anchor.
    return sorted(json.loads(json.dumps(docs)), key=kustomize.sort_key)


def render(
    bp: Blueprint,
    *,
    format: Literal["yaml", "json"] = "yaml",
    validate: bool = True,
    crd_dir: str | os.PathLike[str] | None = None,
    single_file: bool = False,
) -> list[Artifact]:
    """Render every Kubernetes cluster of ``bp``; validate against the cluster's schemas.

    ``crd_dir`` holds CRD manifests to validate custom resources against; without it only
    core kinds are validated. ``single_file`` gives one multi-document file per cluster.
    """
    if format not in ("yaml", "json"):
        raise RenderError(f"unknown format {format!r}", hint="Use yaml or json.")
    crds = validation.load_crds([crd_dir]) if crd_dir is not None else None
    out: list[Artifact] = []
    for cluster in bp.orchestration.clusters:
        if cluster.kind != "kubernetes":
            continue
        ctx = Ctx(bp, cluster)
        docs = cluster_objects(ctx)
        if validate:
            assert cluster.version is not None
            validation.validate(docs, version=cluster.version, cluster=cluster.name, crds=crds)
        if single_file:
            out.append(kustomize.single_file(cluster, docs, fmt=format))
        else:
            out.extend(kustomize.tree(bp, cluster, docs, fmt=format))
    return out
