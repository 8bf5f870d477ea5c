"""The differential test's oracle: the source map as it was built before it was read from
libyaml's events, by composing PyYAML's node graph (libyaml's composer, with a memoised
resolver) and walking it. Kept only to prove the event reader returns the same data, positions
and diagnostics; nothing in ``src`` uses it.
"""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from attonix.blueprint.diagnostics import Diagnostic, Location, Path

MAX_BYTES = 10 * 1024 * 1024
MAX_NODES = 2_000_000
MAX_ALIAS_EXPANSIONS = 100_000
MAX_DEPTH = 64

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Plain scalars starting with one of these may resolve to a non-string (bool, null, number,
# timestamp, merge key); anything else is a string, without running the resolver's regexes.
_MAYBE_TYPED = frozenset("0123456789+-.~<ntfyoNTFYO")


class _Loader(_BaseLoader):  # type: ignore[misc]
    """The safe loader with a faster implicit-tag resolver (same results, memoised)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._tags: dict[str, str] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            if not value or value[0] not in _MAYBE_TYPED:
                return "tag:yaml.org,2002:str" if value else super().resolve(kind, value, implicit)
            tag = self._tags.get(value)
            if tag is None:
                tag = self._tags[value] = super().resolve(kind, value, implicit)
            return tag
        return super().resolve(kind, value, implicit)


_CONSTRUCTOR = yaml.constructor.SafeConstructor()

_STR = "tag:yaml.org,2002:str"
_SCALARS: dict[str, Callable[[yaml.ScalarNode], Any]] = {
    _STR: _CONSTRUCTOR.construct_scalar,
    "tag:yaml.org,2002:int": _CONSTRUCTOR.construct_yaml_int,
    "tag:yaml.org,2002:float": _CONSTRUCTOR.construct_yaml_float,
    "tag:yaml.org,2002:bool": _CONSTRUCTOR.construct_yaml_bool,
    "tag:yaml.org,2002:null": _CONSTRUCTOR.construct_yaml_null,
    "tag:yaml.org,2002:timestamp": _CONSTRUCTOR.construct_yaml_timestamp,
}
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_MERGE = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class SourceMap:
    """Where each value (and each mapping key) of a document stands in its file."""

    file: str
    values: dict[Path, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def locate(self, path: Path, *, key: bool = False) -> Location:
        """The position of ``path`` (its key if ``key``), else of its nearest known ancestor."""
        table = self.keys if key else self.values
        probe = tuple(path)
        while probe:
            pos = table.get(probe) or self.values.get(probe)
            if pos is not None:
                return Location(self.file, *pos)
            probe = probe[:-1]
        pos = self.values.get(())
        return Location(self.file, *(pos or (1, 1)))


class _Unsafe(Exception):
    def __init__(self, message: str, node: yaml.Node | None, hint: str) -> None:
        super().__init__(message)
        self.node = node
        self.hint = hint


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Builder:
    """Turns a composed node graph into plain data, recording positions and enforcing limits."""

    def __init__(self, source: SourceMap) -> None:
        self.source = source
        self.nodes = 0
        self.expanded = 0
        self.seen: set[int] = set()

    def build(self, node: yaml.Node, path: Path, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _Unsafe(
                f"the document expands to more than {MAX_NODES:,} values",
                node,
                "Remove alias chains that multiply content (a 'YAML bomb'); write values out.",
            )
        if id(node) in self.seen:
            self.expanded += 1
            if self.expanded > MAX_ALIAS_EXPANSIONS:
                raise _Unsafe(
                    f"aliases expand to more than {MAX_ALIAS_EXPANSIONS:,} copied values",
                    node,
                    "Remove alias chains that multiply content (a 'YAML bomb'); write values out.",
                )
        else:
            self.seen.add(id(node))
        if depth > MAX_DEPTH:
            raise _Unsafe(
                f"nesting deeper than {MAX_DEPTH} levels",
                node,
                "Blueprints are shallow; flatten this structure.",
            )
        self.source.values.setdefault(path, _pos(node))
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                raise _unknown_tag(node)
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            if node.tag != _MAP:
                raise _unknown_tag(node)
            return self._mapping(node, path, depth)
        raise _Unsafe("unsupported YAML node", node, "Use plain mappings, lists and scalars.")

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        construct = _SCALARS.get(node.tag)
        if construct is None:
            raise _unknown_tag(node)
        try:
            value = construct(node)
        except (ValueError, OverflowError, yaml.YAMLError) as exc:
            raise _Unsafe(
                f"cannot read scalar {node.value[:40]!r} as {node.tag.rsplit(':', 1)[-1]}: {exc}",
                node,
                "Quote the value to make it a string.",
            ) from None
        if isinstance(value, dt.datetime):
            return value  # pydantic turns it into a date where a date is wanted
        return value

    def _mapping(self, node: yaml.MappingNode, path: Path, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merged.update(self._merge(value_node, path, depth))
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR:
                raise _Unsafe(
                    "mapping keys must be plain strings",
                    key_node,
                    "Quote the key, or write it as a word.",
                )
            key = key_node.value
            if key in out:
                raise _Unsafe(
                    f"duplicate key {key!r} (first at line {self.source.keys[(*path, key)][0]})",
                    key_node,
                    "Keep one of the two; YAML would silently drop the first.",
                )
            child: Path = (*path, key)
            self.source.keys[child] = _pos(key_node)
            out[key] = self.build(value_node, child, depth + 1)
        for key, value in merged.items():
            out.setdefault(key, value)
        return out

    def _merge(self, node: yaml.Node, path: Path, depth: int) -> dict[str, Any]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        result: dict[str, Any] = {}
        for src in sources:
            if not isinstance(src, yaml.MappingNode):
                raise _Unsafe("'<<' merges only mappings", src, "Merge an anchored mapping.")
            for key, value in self._mapping(src, path, depth + 1).items():
                result.setdefault(key, value)
        return result


def _unknown_tag(node: yaml.Node) -> _Unsafe:
    return _Unsafe(
        f"tag {node.tag!r} is not allowed",
        node,
        "Blueprints use plain YAML only; remove the '!' tag.",
    )


def _diag(code: str, message: str, file: str, line: int, col: int, hint: str) -> Diagnostic:
    return Diagnostic(code=code, message=message, location=Location(file, line, col), hint=hint)


def _text_problem(data: bytes, file: str) -> Diagnostic | None:
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        return _diag(
            "BP001",
            "the file contains NUL bytes: it is binary, not YAML",
            file,
            line,
            1,
            "Point Attonix at the blueprint's YAML file.",
        )
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        return _diag(
            "BP001",
            f"the file is not UTF-8 text ({exc.reason} at byte {exc.start})",
            file,
            line,
            col,
            "Save the blueprint as UTF-8.",
        )
    return None


def parse(data: bytes | str, file: str) -> tuple[Any, SourceMap, list[Diagnostic]]:
    """Parse one YAML document into plain data and a source map, or into diagnostics."""
    # Parsing allocates one object per node and none of them form cycles, so the cyclic
    # collector's passes are pure overhead here (they halve throughput on large blueprints).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _parse(data, file)
    finally:
        if enabled:
            gc.enable()


class _Rejected(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def _parse(data: bytes | str, file: str) -> tuple[Any, SourceMap, list[Diagnostic]]:
    source = SourceMap(file)
    try:
        return _compose_and_build(data, file, source), source, []
    except _Rejected as exc:
        return None, source, [exc.diagnostic]


def _compose_and_build(data: bytes | str, file: str, source: SourceMap) -> Any:
    def reject(code: str, message: str, hint: str, pos: tuple[int, int] = (1, 1)) -> _Rejected:
        return _Rejected(_diag(code, message, file, *pos, hint))

    too_deep = (f"nesting deeper than {MAX_DEPTH} levels", "Blueprints are shallow; flatten it.")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > MAX_BYTES:
        raise reject(
            "BP001",
            f"the document is larger than {MAX_BYTES // 1048576} MiB",
            "Blueprints are small; check you named the right file.",
        )
    problem = _text_problem(raw, file)
    if problem:
        raise _Rejected(problem)
    try:
        nodes = list(yaml.compose_all(raw.decode("utf-8"), Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        pos = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise reject(
            "BP002", f"YAML syntax error: {what}", "Fix the YAML syntax at this position.", pos
        ) from None
    except yaml.YAMLError as exc:
        raise reject("BP002", f"YAML error: {exc}", "Fix the YAML syntax.") from None
    except RecursionError:
        raise reject("BP003", *too_deep) from None
    documents = [n for n in nodes if n is not None]
    if not documents:
        raise reject("BP004", "the file is empty", "Start from examples/attonixcorp.yaml.")
    if len(documents) > 1:
        raise reject(
            "BP003",
            "more than one YAML document",
            "Keep one blueprint per file (remove the '---').",
            _pos(documents[1]),
        )
    try:
        return _Builder(source).build(documents[0], (), 0)
    except _Unsafe as exc:
        pos = _pos(exc.node) if exc.node is not None else (1, 1)
        raise reject("BP003", str(exc), exc.hint, pos) from None
    except RecursionError:
        raise reject("BP003", *too_deep) from None
