"""Names and label values checked the way the Kubernetes API server checks them.

The formats are those of k8s.io/apimachinery/pkg/util/validation (``IsDNS1123Label``,
``IsDNS1123Subdomain``, ``IsDNS1035Label``, ``IsQualifiedName``, ``IsValidLabelValue``,
``IsValidPortName``), plus the names controllers and operators derive from an object's name
and that must themselves be valid: a StatefulSet's ``controller-revision-hash`` label value
(``<name>-<hash of up to 10 characters>``), and the Services CloudNativePG
(``<name>-rw``/``-ro``/``-r``), the MongoDB community operator (``<name>-svc``) and the MySQL
operator (``<name>-instances``) create.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

DNS1123_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN = DNS1123_LABEL + r"(\." + DNS1123_LABEL + r")*"
DNS1035_LABEL = r"[a-z]([-a-z0-9]*[a-z0-9])?"
QUALIFIED_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
LABEL_VALUE = r"(" + QUALIFIED_NAME + r")?"
_PORT_NAME = re.compile(r"^[-a-z0-9]+$")
#: Hash suffix the StatefulSet controller appends for ``controller-revision-hash``.
REVISION_HASH = 10


def _matches(fmt: str, value: str) -> bool:
    return re.fullmatch(fmt, value) is not None


def dns1123_label(value: str) -> str | None:
    """Why ``value`` is not a DNS-1123 label (None when it is)."""
    if len(value) > 63:
        return f"{value!r} is longer than 63 characters"
    return None if _matches(DNS1123_LABEL, value) else f"{value!r} is not a DNS-1123 label"


def dns1035_label(value: str) -> str | None:
    """Why ``value`` is not a DNS-1035 label (a Service name), None when it is."""
    if len(value) > 63:
        return f"{value!r} is longer than 63 characters"
    return None if _matches(DNS1035_LABEL, value) else f"{value!r} is not a DNS-1035 label"


def dns1123_subdomain(value: str) -> str | None:
    """Why ``value`` is not a DNS-1123 subdomain (None when it is)."""
    if len(value) > 253:
        return f"{value!r} is longer than 253 characters"
    return None if _matches(DNS1123_SUBDOMAIN, value) else f"{value!r} is not a DNS-1123 subdomain"


def qualified_name(value: str) -> str | None:
    """Why ``value`` is not a label or annotation key (None when it is)."""
    prefix, slash, name = value.rpartition("/")
    if slash and (not prefix or dns1123_subdomain(prefix) is not None or "/" in prefix):
        return f"key {value!r} has an invalid prefix"
    if not name or len(name) > 63 or not _matches(QUALIFIED_NAME, name):
        return f"key {value!r} is not a qualified name"
    return None


def label_value(value: str) -> str | None:
    """Why ``value`` is not a label value (None when it is)."""
    if len(value) > 63:
        return f"label value {value!r} is longer than 63 characters"
    return None if _matches(LABEL_VALUE, value) else f"label value {value!r} is invalid"


def port_name(value: str) -> str | None:
    """Why ``value`` is not an IANA service name (a container port's name)."""
    ok = (
        0 < len(value) <= 15
        and _PORT_NAME.match(value) is not None
        and re.search("[a-z]", value) is not None
        and "--" not in value
        and not value.startswith("-")
        and not value.endswith("-")
    )
    return None if ok else f"port name {value!r} is not an IANA service name"


def _labels(where: str, labels: Any) -> Iterator[tuple[str, str]]:
    if not isinstance(labels, dict):
        return
    for k, v in labels.items():
        for why in (qualified_name(str(k)), label_value(str(v))):
            if why:
                yield where, why


def _walk(node: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}.{key}"
            if key in ("labels", "matchLabels", "nodeSelector"):
                yield from _labels(here, value)
            elif key == "annotations" and isinstance(value, dict):
                for k in value:
                    why = qualified_name(str(k))
                    if why:
                        yield here, why
            elif key in ("containers", "initContainers") and isinstance(value, list):
                for i, c in enumerate(value):
                    if isinstance(c, dict):
                        why = dns1123_label(str(c.get("name", "")))
                        if why:
                            yield f"{here}[{i}].name", why
                        for j, p in enumerate(c.get("ports") or []):
                            if isinstance(p, dict) and "name" in p:
                                why = port_name(str(p["name"]))
                                if why:
                                    yield f"{here}[{i}].ports[{j}].name", why
            elif key in ("volumes", "volumeMounts") and isinstance(value, list):
                for i, v in enumerate(value):
                    if isinstance(v, dict) and "name" in v:
                        why = dns1123_label(str(v["name"]))
                        if why:
                            yield f"{here}[{i}].name", why
            yield from _walk(value, here)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _walk(item, f"{where}[{i}]")


def _derived(kind: str, name: str) -> Iterator[str]:
    """Names a controller or operator derives from an object's name, with their rule."""
    if kind == "StatefulSet" and len(name) + 1 + REVISION_HASH > 63:
        yield f"StatefulSet {name!r}: its controller-revision-hash label would exceed 63"
    if kind == "MongoDBCommunity" and len(name) + 1 + REVISION_HASH > 63:
        yield f"MongoDBCommunity {name!r}: its StatefulSet's revision label would exceed 63"
    if kind == "InnoDBCluster" and len(name) + 1 + REVISION_HASH > 63:
        yield f"InnoDBCluster {name!r}: its StatefulSet's revision label would exceed 63"
    suffixes = {
        "Cluster": ("-rw", "-ro", "-r"),
        "MongoDBCommunity": ("-svc",),
        "InnoDBCluster": ("-instances",),
    }.get(kind, ())
    for suffix in suffixes:
        why = dns1035_label(name + suffix)
        if why:
            yield f"{kind} {name!r}: Service {why}"


def name_problems(docs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Every name or label in ``docs`` the API server (or the operator) would refuse."""
    out: list[tuple[str, str]] = []
    for d in docs:
        kind = str(d.get("kind", ""))
        meta = d.get("metadata") or {}
        name = str(meta.get("name", ""))
        ident = f"{kind}/{meta.get('namespace', '')}/{name}"
        rule = {"Namespace": dns1123_label, "Service": dns1035_label}.get(kind, dns1123_subdomain)
        why = rule(name)
        if why:
            out.append((ident, why))
        if "namespace" in meta:
            why = dns1123_label(str(meta["namespace"]))
            if why:
                out.append((ident, why))
        out.extend((ident, why) for why in _derived(kind, name))
        out.extend((f"{ident} {w}", why) for w, why in _walk(d, ""))
    return out
