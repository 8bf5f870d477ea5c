"""Offline validation of rendered objects against the upstream Kubernetes JSON schemas of the
cluster's minor version (shipped by PyPI ``kubernetes-validate``) and against CRD schemas.

Validators are compiled once per (version, apiVersion, kind) and cached: compiling costs a few
milliseconds, validating a Deployment a few microseconds. Schemas are compiled with
``jsonschema-rs`` because the pure-Python ``jsonschema`` is ~300x slower on these schemas,
which would make a 1,000-service render take tens of seconds.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from attonix.blueprint import naming
from attonix.render.base import RenderError

_INSTALL_HINT = "Install the Kubernetes extra: pip install 'attonix[kubernetes]'."
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_REF_PREFIX = "/api/_definitions.json#/$defs/"
MAX_REPORTED = 20

#: (apiVersion, kind) -> a CRD's openAPIV3Schema for that served version.
CrdSchemas = Mapping[tuple[str, str], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Problem:
    """One schema violation in one rendered object."""

    kind: str
    namespace: str
    name: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}: {self.path or '(root)'}: {self.message}"


@functools.cache
def _schema_root() -> Path:
    """The schemas' directory inside the ``kubernetes-validate`` package, found without
    importing it: its ``__init__`` imports the pure-Python ``jsonschema`` (and what that
    needs), a noticeable share of a whole render's time, and only its data is used here."""
    spec = importlib.util.find_spec("kubernetes_validate")
    places = list(spec.submodule_search_locations or []) if spec is not None else []
    for place in places:
        root = Path(place) / "kubernetes-json-schema"
        if root.is_dir():
            return root
    raise RenderError(
        "Kubernetes schema validation needs the 'kubernetes-validate' package",
        hint=_INSTALL_HINT + " Or render with --no-validate.",
    )


@functools.cache
def supported_versions() -> tuple[str, ...]:
    """Kubernetes minor versions (``"1.35"``) whose schemas are installed, oldest first."""
    out = []
    for entry in _schema_root().iterdir():
        name = entry.name
        if name.startswith("v") and name.endswith(".0-local-strict"):
            out.append(name[1 : -len(".0-local-strict")])
    return tuple(sorted(out, key=lambda v: tuple(int(p) for p in v.split("."))))


@functools.cache
def _definitions(version: str) -> dict[str, Any]:
    root = _schema_root() / f"v{version}.0-local-strict"
    defs: dict[str, Any] = json.loads((root / "_definitions.json").read_text("utf-8"))["$defs"]
    return defs


def schema_file(api_version: str, kind: str) -> str:
    """The file name kubernetes-validate uses for a kind (``deployment-apps-v1.json``)."""
    group, _, ver = api_version.rpartition("/")
    short = group.split(".", 1)[0]
    parts = [kind.lower(), short, ver] if short else [kind.lower(), ver]
    return "-".join(parts) + ".json"


@functools.cache
def _core_validator(version: str, api_version: str, kind: str) -> Any:
    import jsonschema_rs  # noqa: PLC0415 - heavy optional extra, imported when validating

    if version not in supported_versions():
        raise RenderError(
            f"no Kubernetes schemas for version {version}",
            hint=f"Use one of {', '.join(supported_versions())} as the cluster's version, "
            "or upgrade kubernetes-validate.",
        )
    path = _schema_root() / f"v{version}.0-local-strict" / schema_file(api_version, kind)
    if not path.is_file():
        return None
    # Inline the shared definitions so the schema is self-contained (no cross-file $refs):
    # only those the kind reaches, not all (~1.3 MB of them, converted for every kind).
    schema = json.loads(path.read_text("utf-8").replace(_REF_PREFIX, "#/$defs/"))
    schema["$defs"] = _reachable(schema, _definitions(version))
    return jsonschema_rs.validator_for(schema)


_LOCAL_REF = "#/$defs/"


def _reachable(schema: Any, defs: Mapping[str, Any]) -> dict[str, Any]:
    """The definitions ``schema`` refers to (``#/$defs/NAME``), and those they refer to."""
    found: dict[str, Any] = {}
    pending = [schema]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(_LOCAL_REF):
                name = ref[len(_LOCAL_REF) :]
                if name not in found and name in defs:
                    found[name] = defs[name]
                    pending.append(defs[name])
            pending.extend(v for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            pending.extend(v for v in node if isinstance(v, (dict, list)))
    return found


def strict_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """A CRD schema in which objects with declared properties reject unknown fields.

    The API server silently prunes unknown fields of custom resources; a typo in a builder
    would then vanish without a trace, so validation treats them as errors instead.
    """

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(n) for n in node]
        if not isinstance(node, dict):
            return node
        out = {k: walk(v) for k, v in node.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out

    result: dict[str, Any] = walk(dict(schema))
    # metadata is validated by the API server itself, not by the CRD schema.
    props = result.setdefault("properties", {})
    props["metadata"] = {"type": "object"}
    props.setdefault("apiVersion", {"type": "string"})
    props.setdefault("kind", {"type": "string"})
    return result


def load_crds(paths: Iterable[str | os.PathLike[str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Read CRD manifests (files or directories of ``*.yaml``/``*.yml``/``*.json``).

    Returns the openAPIV3Schema of every served version keyed by (apiVersion, kind).
    """
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(f for f in sorted(p.rglob("*")) if f.suffix in (".yaml", ".yml", ".json"))
        elif p.is_file():
            files.append(p)
        else:
            raise RenderError(f"CRD path {p} does not exist", hint="Pass a directory of CRD YAML.")
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for f in files:
        try:
            docs = list(yaml.load_all(f.read_text("utf-8"), Loader=_Loader))
        except (OSError, yaml.YAMLError) as exc:
            raise RenderError(
                f"cannot read CRD file {f}: {exc}", hint="Fix or remove it."
            ) from None
        for doc in docs:
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc.get("spec", {})
            group, kind = spec.get("group"), spec.get("names", {}).get("kind")
            for ver in spec.get("versions", []):
                schema = (ver.get("schema") or {}).get("openAPIV3Schema")
                if ver.get("served") and schema:
                    out[(f"{group}/{ver['name']}", kind)] = schema
    return out


@functools.cache
def _compile_crd(key: str) -> Any:
    import jsonschema_rs  # noqa: PLC0415

    return jsonschema_rs.validator_for(strict_schema(json.loads(key)))


def _crd_validator(schema: Mapping[str, Any]) -> Any:
    return _compile_crd(json.dumps(schema, sort_keys=True))


def _pointer(path: Sequence[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def problems(
    docs: Iterable[Mapping[str, Any]],
    *,
    version: str,
    crds: CrdSchemas | None = None,
    require_crds: bool = False,
) -> list[Problem]:
    """Every schema problem in ``docs``; custom resources are checked only against ``crds``.

    With ``require_crds`` a custom resource whose CRD is not in ``crds`` is itself a problem.
    """
    found: list[Problem] = []
    crd_cache: dict[tuple[str, str], Any] = {}
    for doc in docs:
        api_version, kind = str(doc.get("apiVersion", "")), str(doc.get("kind", ""))
        meta = doc.get("metadata") or {}
        ident = (kind, str(meta.get("namespace", "")), str(meta.get("name", "")))
        key = (api_version, kind)
        validator = None
        if crds is not None and key in crds:
            if key not in crd_cache:
                crd_cache[key] = _crd_validator(crds[key])
            validator = crd_cache[key]
        else:
            validator = _core_validator(version, api_version, kind)
        if validator is None:
            if require_crds:
                found.append(Problem(*ident, "", f"no schema for {api_version} {kind}"))
            continue
        if validator.is_valid(doc):  # the common case, without collecting errors
            continue
        for err in validator.iter_errors(doc):
            found.append(Problem(*ident, _pointer(list(err.instance_path)), err.message))
    return found


#: Object kinds whose names have a limit below the general one, and why (see blueprint.naming).
_NAME_LIMITS: dict[str, tuple[int, str]] = {
    "StatefulSet": (naming.STATEFULSET_MAX, "its pods' controller-revision-hash label"),
    "CronJob": (naming.CRONJOB_MAX, "the names of its Jobs"),
    "Certificate": (naming.LABEL_VALUE_MAX, "cert-manager's certificate-name label"),
    "Cluster": (naming.CNPG_CLUSTER_MAX, "CloudNativePG's webhook"),
    "InnoDBCluster": (naming.MYSQL_CLUSTER_MAX, "the MySQL Operator"),
    "MongoDBCommunity": (naming.MONGODB_MAX, "the operator's StatefulSets"),
}


#: Keys whose mapping value is a label map (its values are checked as label values).
LABEL_KEYS = frozenset(("labels", "matchLabels"))
LabelMaps = list[tuple[str, Mapping[str, Any]]]


def label_maps(node: Any) -> LabelMaps:
    """Every ``labels``/``matchLabels`` mapping under ``node``, in document order.

    A plain recursive walk over the ``dict``/``list`` data renderers produce, collecting into
    one list: over thousands of objects with deep pod templates, a generator (or an explicit
    stack of pending pairs) and ABC checks on every scalar were a visible share of a render.
    """
    out: list[tuple[str, Mapping[str, Any]]] = []
    if isinstance(node, list):
        _labels_in_list(node, out)
    elif isinstance(node, Mapping):
        _labels_in_mapping(node, out)
    return out


def _labels_in_mapping(node: Mapping[Any, Any], out: list[tuple[str, Mapping[str, Any]]]) -> None:
    for k, v in node.items():
        if isinstance(v, dict):
            if k in LABEL_KEYS:
                out.append((k, v))
            else:
                _labels_in_mapping(v, out)
        elif isinstance(v, list):
            _labels_in_list(v, out)


def _labels_in_list(node: list[Any], out: list[tuple[str, Mapping[str, Any]]]) -> None:
    for v in node:
        if isinstance(v, dict):
            _labels_in_mapping(v, out)
        elif isinstance(v, list):
            _labels_in_list(v, out)


def name_problems(
    docs: Sequence[Mapping[str, Any]], maps: Sequence[LabelMaps] | None = None
) -> list[Problem]:
    """Names and label values the API server (or an operator) would refuse, as it checks them.

    Object names are DNS-1123 subdomains, Services' DNS-1035 labels and Namespaces' DNS-1123
    labels; every label value has at most 63 characters of ``[A-Za-z0-9_.-]`` with alphanumeric
    ends; some kinds have a shorter limit (``_NAME_LIMITS``). ``maps``, when given, holds
    each object's label maps as ``label_maps`` finds them (collected while the objects were
    copied, so they are not walked again).
    """
    found: list[Problem] = []
    checked: dict[str, bool] = {}  # label values repeat across thousands of objects
    for i, doc in enumerate(docs):
        kind = str(doc.get("kind", ""))
        meta = doc.get("metadata") or {}
        name = str(meta.get("name", ""))
        ident = (kind, str(meta.get("namespace", "")), name)
        if kind == "Service":
            ok, rule = naming.is_dns1035_label(name), "a DNS-1035 label"
        elif kind == "Namespace":
            ok, rule = naming.is_dns1123_label(name), "a DNS-1123 label"
        else:
            ok, rule = naming.is_subdomain(name), "a DNS-1123 subdomain"
        if not ok:
            found.append(Problem(*ident, "/metadata/name", f"{name!r} is not {rule}"))
        limit = _NAME_LIMITS.get(kind)
        if limit is not None and len(name) > limit[0]:
            found.append(
                Problem(
                    *ident,
                    "/metadata/name",
                    f"{name!r} has {len(name)} characters; at most {limit[0]} ({limit[1]})",
                )
            )
        for key, labels in maps[i] if maps is not None else label_maps(doc):
            for k, v in labels.items():
                valid = checked.get(v) if isinstance(v, str) else False
                if valid is None:
                    valid = checked[v] = naming.is_label_value(v)
                if not valid:
                    found.append(Problem(*ident, key, f"label {k}: {v!r} is not a label value"))
    return found


def validate(
    docs: Sequence[Mapping[str, Any]],
    *,
    version: str,
    cluster: str,
    crds: CrdSchemas | None = None,
    label_maps: Sequence[LabelMaps] | None = None,
) -> None:
    """Raise ``RenderError`` naming each invalid object, field path and message."""
    found = name_problems(docs, label_maps) + problems(docs, version=version, crds=crds)
    if not found:
        return
    shown = "\n  ".join(str(p) for p in found[:MAX_REPORTED])
    more = f"\n  ... and {len(found) - MAX_REPORTED} more" if len(found) > MAX_REPORTED else ""
    raise RenderError(
        f"{len(found)} rendered object(s) for cluster {cluster} fail the Kubernetes {version} "
        f"schema:\n  {shown}{more}",
        hint="Fix the blueprint value behind the field shown; if the blueprint is right, "
        "this is a renderer bug (render with --no-validate to inspect the output).",
    )
