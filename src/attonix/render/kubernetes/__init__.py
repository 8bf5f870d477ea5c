"""``attonix render --target kubernetes``: per Kubernetes cluster, a kustomize tree with the
workloads, NetworkPolicies, RBAC, cert-manager resources, Rook-Ceph and the database
operators' resources — validated offline against the cluster version's schemas."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from attonix.blueprint.model import Blueprint, Cluster
from attonix.render.base import Artifact, RenderError
from attonix.render.desired import DesiredState, Rendered, SecretObject, Workload
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
from attonix.render.workloads import consumer_secrets

__all__ = ["ROLLOUT_KINDS", "cluster_objects", "render", "rendered", "secret_objects"]

#: Workload kinds whose rollout the deploy step waits for and reports.
ROLLOUT_KINDS = ("Deployment", "StatefulSet")


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
    return _objects(ctx)[0]


def _objects(ctx: Ctx) -> tuple[list[dict[str, Any]], list[validation.LabelMaps]]:
    """``cluster_objects``, with each object's label maps (``validation.name_problems``)."""
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
    # Fresh trees: builders share some sub-objects (module constants among them), and a
    # consumer changing one object must not change another. One object at a time, each
    # replacing its original, so the copies never coexist with all the originals. The copy
    # walks every node, so it also collects the label maps the name check needs.
    labels: list[validation.LabelMaps] = []
    for i, doc in enumerate(docs):
        found: validation.LabelMaps = []
        docs[i] = _fresh(doc, found)
        labels.append(found)
    order = sorted(range(len(docs)), key=lambda i: kustomize.sort_key(docs[i]))
    return [docs[i] for i in order], [labels[i] for i in order]


class _NotPlain(Exception):
    """A value the plain copy does not handle; the object is copied through JSON instead."""


def _fresh(doc: dict[str, Any], labels: validation.LabelMaps) -> dict[str, Any]:
    """A deep copy of one object as a JSON round trip makes it, sharing the immutable
    strings (hundreds of thousands of them at scale) instead of creating each again; the
    copy's label maps are appended to ``labels`` in document order."""
    try:
        copy: dict[str, Any] = _plain_dict(doc, labels)
    except (_NotPlain, RecursionError):
        del labels[:]
        copy = json.loads(json.dumps(doc))
        labels.extend(validation.label_maps(copy))
    return copy


def _plain_dict(node: dict[Any, Any], labels: validation.LabelMaps) -> dict[str, Any]:
    out = {}
    for k, v in node.items():
        if type(k) is not str:
            raise _NotPlain
        t = type(v)
        if t is str or t is int or t is bool or v is None:
            out[k] = v
        elif t is dict:
            if k in validation.LABEL_KEYS:
                copy = _plain_dict(v, [])  # a label map is not searched further
                labels.append((k, copy))
                out[k] = copy
            else:
                out[k] = _plain_dict(v, labels)
        elif t is list:
            out[k] = _plain_list(v, labels)
        else:
            raise _NotPlain
    return out


def _plain_list(node: list[Any], labels: validation.LabelMaps) -> list[Any]:
    out = []
    for v in node:
        t = type(v)
        if t is str or t is int or t is bool or v is None:
            out.append(v)
        elif t is dict:
            out.append(_plain_dict(v, labels))
        elif t is list:
            out.append(_plain_list(v, labels))
        else:
            raise _NotPlain
    return out


def _clusters(
    bp: Blueprint, *, validate: bool, crd_dir: str | os.PathLike[str] | None
) -> Iterator[tuple[Cluster, list[dict[str, Any]]]]:
    """Every Kubernetes cluster of ``bp`` with its objects, validated if asked."""
    crds = validation.load_crds([crd_dir]) if crd_dir is not None else None
    for cluster in bp.orchestration.clusters:
        if cluster.kind != "kubernetes":
            continue
        docs, labels = _objects(Ctx(bp, cluster))
        if validate:
            assert cluster.version is not None
            validation.validate(
                docs, version=cluster.version, cluster=cluster.name, crds=crds, label_maps=labels
            )
        del labels
        yield cluster, docs


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
    if not single_file:
        # The files only: the desired state (``rendered``) is the deploy step's, and walking
        # every object for it is work a render to files does not need.
        return [
            art
            for cluster, docs in _clusters(bp, validate=validate, crd_dir=crd_dir)
            for art in kustomize.tree(bp, cluster, docs, fmt=format)
        ]
    return [
        kustomize.single_file(cluster, docs, fmt=format)
        for cluster, docs in _clusters(bp, validate=validate, crd_dir=crd_dir)
    ]


def rendered(
    bp: Blueprint,
    *,
    format: Literal["yaml", "json"] = "yaml",
    validate: bool = True,
    crd_dir: str | os.PathLike[str] | None = None,
) -> Rendered:
    """Every Kubernetes cluster's kustomize tree, with the cluster's desired state."""
    states: dict[str, DesiredState] = {}
    for cluster, docs in _clusters(bp, validate=validate, crd_dir=crd_dir):
        ext = "json" if format == "json" else "yaml"
        files = tuple(kustomize.tree(bp, cluster, docs, fmt=format))
        # The objects in the order of their files (how kubectl reads the tree).
        ordered = sorted(docs, key=lambda d: kustomize.object_path(cluster.name, d, ext=ext))
        states[cluster.name] = DesiredState(
            kustomize.TARGET,
            cluster.name,
            files=files,
            workloads=tuple(_workload(d) for d in ordered if d["kind"] in ROLLOUT_KINDS),
            manifests=tuple(ordered),
            secret_objects=secret_objects(
                ordered, declared={*bp.secrets_by_name, *consumer_secrets(bp)}
            ),
        )
    return Rendered(tuple(a for s in states.values() for a in s.files), states)


def _workload(doc: dict[str, Any]) -> Workload:
    meta = doc["metadata"]
    return Workload(
        key=meta["name"],
        name=f"{meta['namespace']}/{meta['name']}",
        replicas=int(doc["spec"].get("replicas", 1)),
        kind=doc["kind"],
        namespace=meta["namespace"],
    )


_SECRET_REF_KEY = re.compile(r"(^secret$|Secret$|SecretRef$|SecretKeyRef$)")


def secret_objects(
    docs: Iterable[dict[str, Any]], *, declared: set[str]
) -> tuple[SecretObject, ...]:
    """The declared secrets the objects reference by name (``secretName``, a ``*SecretRef``'s
    or ``*SecretKeyRef``'s ``name``...), each in the namespace of the object referencing it:
    the objects the deploy step must create from the secret source."""
    found: set[SecretObject] = set()
    for doc in docs:
        ns = str(doc["metadata"].get("namespace", ""))
        stack: list[Any] = [doc]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                for key, value in node.items():
                    if key == "secretName" and value in declared:
                        found.add(SecretObject(ns, str(value)))
                    elif (
                        isinstance(value, dict)
                        and _SECRET_REF_KEY.search(key)
                        and value.get("name") in declared
                    ):
                        found.add(SecretObject(ns, str(value["name"])))
                    stack.append(value)
            elif isinstance(node, list):
                stack.extend(node)
    return tuple(sorted(found))
