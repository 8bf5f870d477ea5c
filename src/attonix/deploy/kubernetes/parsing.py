"""Pure pieces of the Kubernetes driver: reading ``kubectl diff`` output, choosing what to
prune, and turning Deployment and StatefulSet ``.status`` into :class:`ServiceStatus` — tested
against recorded kubectl output.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from attonix.deploy.base import Action, Change, ServiceStatus

#: ``diff -u -N LIVE MERGED`` header kubectl prints per object it compares.
_DIFF_HEADER = re.compile(r"^diff -u -N (?P<live>\S+) (?P<merged>\S+)$")
#: kubectl names each compared file ``[<group>.]<version>.<Kind>.<namespace>.<name>``.
_OBJECT_FILE = re.compile(
    r"^(?:(?P<group>[a-z0-9.-]+?)\.)?(?P<version>v[0-9]+(?:(?:alpha|beta)[0-9]+)?)\."
    r"(?P<kind>[A-Z][A-Za-z0-9]*)\.(?P<namespace>[a-z0-9-]*)\.(?P<name>.+)$"
)
_CREATE_HUNK = re.compile(r"^@@ -0,0 \+1(,[0-9]+)? @@")


@dataclass(frozen=True, slots=True, order=True)
class ObjectKey:
    """An object: API group ('' for core), kind, namespace ('' if cluster-wide), name."""

    group: str
    kind: str
    namespace: str
    name: str

    @property
    def ref(self) -> str:
        """``Kind/name`` or ``Kind/namespace/name``: how plans and messages name the object."""
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{where}{self.name}"

    @property
    def resource(self) -> str:
        """The ``kubectl`` resource argument: ``kind.group`` (``kind`` for the core group)."""
        return f"{self.kind.lower()}.{self.group}" if self.group else self.kind.lower()

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> ObjectKey:
        """The key of a manifest or of a live object from ``kubectl get -o json``."""
        api = str(doc.get("apiVersion", "v1"))
        group = api.rsplit("/", 1)[0] if "/" in api else ""
        meta = doc.get("metadata", {})
        return cls(group, str(doc["kind"]), str(meta.get("namespace", "")), str(meta["name"]))


def parse_object_file(path: str) -> ObjectKey | None:
    """The object a kubectl diff file path stands for (``None`` if it is not one)."""
    m = _OBJECT_FILE.match(path.rstrip("/").rsplit("/", 1)[-1])
    if m is None:
        return None
    return ObjectKey(m["group"] or "", m["kind"], m["namespace"], m["name"])


def _sections(text: str) -> Iterator[tuple[str, list[str]]]:
    current: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        m = _DIFF_HEADER.match(line)
        if m is not None:
            if current is not None:
                yield current, lines
            current, lines = m["merged"], []
        elif current is not None:
            lines.append(line)
    if current is not None:
        yield current, lines


def parse_diff(text: str) -> list[Change[ObjectKey]]:
    """One create or update :class:`Change` per object in ``kubectl diff`` output.

    An object whose live side is empty (a single ``@@ -0,0 +1,N @@`` hunk) is a creation;
    any other difference is an update. The change's diff is kubectl's own hunk text.
    """
    out: list[Change[ObjectKey]] = []
    for merged, lines in _sections(text):
        key = parse_object_file(merged)
        if key is None:
            continue
        hunks = [line for line in lines if line.startswith("@@")]
        created = len(hunks) == 1 and _CREATE_HUNK.match(hunks[0]) is not None
        action: Action = "create" if created else "update"
        body = "\n".join(lines) + "\n"
        out.append(Change(key.kind, key.ref, action, diff=body, payload=key))
    return out


def prune_candidates(
    live: Iterable[dict[str, Any]], *, desired: set[ObjectKey], secret_label: str
) -> list[ObjectKey]:
    """Live labelled objects the rendered set no longer holds, which apply deletes.

    Objects with an owner are left to their owner's garbage collection; Secrets are pruned
    only when Attonix made them (``secret_label``): cert-manager copies the blueprint labels
    onto the certificate Secrets it issues, and those are not Attonix's to delete.
    """
    out = []
    for item in live:
        meta = item.get("metadata", {})
        if meta.get("ownerReferences"):
            continue
        key = ObjectKey.of(item)
        if key.kind == "Secret" and secret_label not in (meta.get("labels") or {}):
            continue
        if key not in desired:
            out.append(key)
    return sorted(set(out))


def workload_status(item: dict[str, Any], *, desired: int) -> ServiceStatus:
    """The status of a live Deployment or StatefulSet from its ``.status``.

    Running counts the pods the controller has (``status.replicas``); healthy counts available
    replicas for a Deployment and ready ones for a StatefulSet. The message names a failing
    condition (``ReplicaFailure``, ``Progressing=False``) when there is one.
    """
    key = ObjectKey.of(item)
    st = item.get("status") or {}
    running = int(st.get("replicas") or 0)
    if key.kind == "Deployment":
        healthy = int(st.get("availableReplicas") or 0)
    else:
        healthy = int(st.get("readyReplicas") or 0)
    message = ""
    for cond in st.get("conditions") or []:
        failing = cond.get("type") == "ReplicaFailure" and cond.get("status") == "True"
        stalled = cond.get("type") == "Progressing" and cond.get("status") == "False"
        if failing or stalled:
            message = f"{cond.get('reason', cond['type'])}: {cond.get('message', '')}".strip()
            break
    spec_replicas = int((item.get("spec") or {}).get("replicas", 1))
    if not message and spec_replicas != desired:
        message = f"the cluster wants {spec_replicas} replicas (drift or an autoscaler)"
    containers = item.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []
    image = containers[0].get("image", "") if containers else ""
    return ServiceStatus(
        f"{key.kind}/{key.ref}", desired, running, healthy, image=image, message=message
    )
