"""Names and label values derived from blueprint names, within the rules of what receives them.

Kubernetes' API server checks every object name (a DNS-1123 subdomain; a DNS-1035 label for
Services; a DNS-1123 label for Namespaces) and every label value (at most 63 characters of
``[A-Za-z0-9_.-]``, starting and ending alphanumeric). Operators and engines add limits of their
own, listed below with where they come from. Renderers build every derived name and label
value here, so that one place keeps them within those rules: a derived name that would be too
long keeps its readable suffix and shortens its base, ending it in a stable hash of the whole
name (so two long names never collide and the same name always gives the same result).

A blueprint name that cannot fit (the name itself, not something derived from it, reaches a
system with a shorter limit) is a diagnostic at its line: :func:`check_names`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

from attonix.blueprint.diagnostics import Diagnostic, Path
from attonix.blueprint.model import Blueprint
from attonix.blueprint.source import SourceMap

#: DNS-1123 label: Namespaces, most names Attonix derives, label values made of names.
LABEL_MAX = 63
#: Kubernetes label values.
LABEL_VALUE_MAX = 63
#: DNS-1123 subdomain: the general object name.
SUBDOMAIN_MAX = 253
#: A StatefulSet's pods carry ``controller-revision-hash: <name>-<hash>``, a label value of at
#: most 63 characters with a hash of up to 10: the name may have 52 (kubernetes#64023).
STATEFULSET_MAX = 52
#: A CronJob's Jobs are named ``<name>-<11 digits>`` and must stay DNS-1123 labels.
CRONJOB_MAX = 52
#: CloudNativePG's webhook: a Cluster name is a DNS-1035 label of at most 50 characters.
CNPG_CLUSTER_MAX = 50
#: MySQL Operator (cluster_api.py, MAX_CLUSTER_NAME_LEN): an InnoDBCluster name of at most 28.
MYSQL_CLUSTER_MAX = 28
#: MongoDB community operator: StatefulSets ``<name>`` and ``<name>-arb`` (controller-revision
#: -hash as above) and the Service ``<name>-svc``.
MONGODB_MAX = STATEFULSET_MAX - len("-arb")
#: Rook names an object store's gateway Service ``rook-ceph-rgw-<store>`` (a DNS-1035 label).
ROOK_OBJECT_STORE_MAX = LABEL_MAX - len("rook-ceph-rgw-")
#: Docker names a stack's service ``<stack>_<service>``; service names have at most 63.
DOCKER_SERVICE_MAX = 63

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_HASH = 8


def is_dns1123_label(s: str) -> bool:
    """A DNS-1123 label (RFC 1123): lowercase alphanumerics and '-', at most 63."""
    return len(s) <= LABEL_MAX and bool(_DNS1123_LABEL.match(s))


def is_dns1035_label(s: str) -> bool:
    """A DNS-1035 label (RFC 1035, Service names): like DNS-1123 but starting with a letter."""
    return len(s) <= LABEL_MAX and bool(_DNS1035_LABEL.match(s))


def is_subdomain(s: str) -> bool:
    """A DNS-1123 subdomain (most object names): dot-separated labels, at most 253."""
    return 0 < len(s) <= SUBDOMAIN_MAX and bool(_SUBDOMAIN.match(s))


def is_label_value(s: str) -> bool:
    """A Kubernetes label value: empty, or at most 63 of [A-Za-z0-9_.-], alphanumeric ends."""
    return len(s) <= LABEL_VALUE_MAX and bool(_LABEL_VALUE.match(s))


def digest(s: str) -> str:
    """The stable short hash that ends a shortened name."""
    return hashlib.sha256(s.encode()).hexdigest()[:_HASH]


def fit(name: str, limit: int = LABEL_MAX) -> str:
    """``name`` when it has at most ``limit`` characters, else its start and a stable hash."""
    if len(name) <= limit:
        return name
    head = name[: limit - _HASH - 1].rstrip("-.")
    return f"{head}-{digest(name)}"


def derived(base: str, suffix: str, *, limit: int = LABEL_MAX) -> str:
    """``<base>-<suffix>`` within ``limit``: the suffix stays, the base is shortened and hashed."""
    full = f"{base}-{suffix}" if suffix else base
    if len(full) <= limit:
        return full
    room = limit - len(suffix) - _HASH - 2
    if room < 1:
        return fit(full, limit)
    return f"{base[:room].rstrip('-.')}-{digest(full)}-{suffix}"


def label_value(value: str) -> str:
    """``value`` as a valid label value: invalid characters replaced, shortened with a hash."""
    if is_label_value(value):
        return value
    clean = re.sub(r"[^A-Za-z0-9_.-]", "-", value).strip("-_.")
    if len(clean) > LABEL_VALUE_MAX:
        clean = f"{clean[: LABEL_VALUE_MAX - _HASH - 1].rstrip('-_.')}-{digest(value)}"
    return clean


# --------------------------------------------------------------------------- diagnostics


def _swarm_service(
    bp: Blueprint, path: Path, cluster: str, name: str
) -> Iterator[tuple[Path, str, str]]:
    full = f"{bp.metadata.name}-{cluster}_{name}"
    if len(full) > DOCKER_SERVICE_MAX:
        yield (
            path,
            f"Docker names this service {full!r} ({len(full)} characters; at most "
            f"{DOCKER_SERVICE_MAX}): the stack name <blueprint>-<cluster> prefixes it",
            "Shorten the name, or the cluster or blueprint name.",
        )


def _problems(bp: Blueprint) -> Iterator[tuple[Path, str, str]]:
    kinds = {c.name: c.kind for c in bp.orchestration.clusters}
    for section, items in (("backend", bp.services.backend), ("frontend", bp.services.frontend)):
        for i, w in enumerate(items):
            path: Path = ("services", section, i, "name")
            kind = kinds.get(w.cluster)
            if kind == "kubernetes":
                if w.ports and not is_dns1035_label(w.name):
                    yield (
                        path,
                        f"{w.name!r} becomes a Kubernetes Service name, which must start "
                        "with a letter (DNS-1035)",
                        "Rename it to start with a letter.",
                    )
                stateful = bool(getattr(w, "stateful", False) or getattr(w, "volumes", []))
                if stateful and len(w.name) > STATEFULSET_MAX:
                    yield (
                        path,
                        f"{w.name!r} has {len(w.name)} characters; a StatefulSet name may have "
                        f"at most {STATEFULSET_MAX} (its pods' controller-revision-hash label "
                        "adds a hash of up to 10 and must stay within 63)",
                        f"Shorten the name to {STATEFULSET_MAX} characters or fewer.",
                    )
            elif kind == "swarm":
                yield from _swarm_service(bp, path, w.cluster, w.name)
    limits = {
        "postgresql": (CNPG_CLUSTER_MAX, "a CloudNativePG Cluster name"),
        "mysql": (MYSQL_CLUSTER_MAX, "a MySQL Operator InnoDBCluster name"),
        "mongodb": (MONGODB_MAX, "a MongoDBCommunity name (StatefulSets <name> and <name>-arb)"),
    }
    for i, db in enumerate(bp.databases):
        if kinds.get(db.cluster or "") == "swarm" and db.cluster is not None:
            yield from _swarm_service(bp, ("databases", i, "name"), db.cluster, db.name)
        if db.engine not in limits or kinds.get(db.cluster or "") != "kubernetes":
            continue
        limit, what = limits[db.engine]
        path = ("databases", i, "name")
        if not is_dns1035_label(db.name):
            yield (
                path,
                f"{db.name!r} names Kubernetes Services, which must start with a letter",
                "Rename it to start with a letter.",
            )
        if len(db.name) > limit:
            yield (
                path,
                f"{db.name!r} has {len(db.name)} characters; {what} may have at most {limit}",
                f"Shorten the name to {limit} characters or fewer.",
            )
    for i, ceph in enumerate(bp.storage.ceph):
        if ceph.mode != "rook":
            continue
        for j, pool in enumerate(ceph.pools):
            if pool.type == "object" and len(pool.name) > ROOK_OBJECT_STORE_MAX:
                yield (
                    ("storage", "ceph", i, "pools", j, "name"),
                    f"{pool.name!r} has {len(pool.name)} characters; Rook names the object "
                    f"store's gateway Service rook-ceph-rgw-<name>, which allows "
                    f"{ROOK_OBJECT_STORE_MAX}",
                    f"Shorten the pool name to {ROOK_OBJECT_STORE_MAX} characters or fewer.",
                )


def check_names(bp: Blueprint, source: SourceMap) -> list[Diagnostic]:
    """Every blueprint name that cannot fit where the renderers must use it, at its line."""
    return [
        Diagnostic(
            code="BP023", message=message, location=source.locate(path), path=path, hint=hint
        )
        for path, message, hint in _problems(bp)
    ]
