"""Safe YAML reading with a source map: plain data plus the position of every value.

Only the YAML core schema is accepted (no custom tags, no Python objects). Aliases are
expanded under a node budget, nesting is bounded, duplicate keys are errors, and the file's
size is checked before it is read — so a hostile file costs bounded time and memory.

The data and the map are built in one pass over libyaml's parser events (no node graph), with
the safe loader's scalar resolution: the same values as ``yaml.safe_load``.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import yaml

from attonix.blueprint.diagnostics import Diagnostic, Location, Path

MAX_BYTES = 10 * 1024 * 1024
MAX_NODES = 2_000_000
MAX_ALIAS_EXPANSIONS = 100_000
MAX_DEPTH = 64

# Plain scalars starting with one of these may resolve to a non-string (bool, null, number,
# timestamp, merge key); anything else is a string, without running the resolver's regexes.
_MAYBE_TYPED = frozenset("0123456789+-.~<ntfyoNTFYO")
# The safe loader's implicit resolvers (YAML 1.1 scalars), by first character.
_IMPLICIT: dict[str | None, list[tuple[str, Any]]] = yaml.resolver.Resolver.yaml_implicit_resolvers
_CONSTRUCTOR = yaml.constructor.SafeConstructor()

_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_MERGE = "tag:yaml.org,2002:merge"
_SCALARS: dict[str, Callable[[yaml.ScalarNode], Any]] = {
    "tag:yaml.org,2002:int": _CONSTRUCTOR.construct_yaml_int,
    "tag:yaml.org,2002:float": _CONSTRUCTOR.construct_yaml_float,
    "tag:yaml.org,2002:bool": _CONSTRUCTOR.construct_yaml_bool,
    "tag:yaml.org,2002:null": _CONSTRUCTOR.construct_yaml_null,
    "tag:yaml.org,2002:timestamp": _CONSTRUCTOR.construct_yaml_timestamp,
}
# libyaml's parser (its events carry positions); PyYAML's own parser where libyaml is absent.
_Parser: Any = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
_ScalarEvent = yaml.ScalarEvent
_AliasEvent = yaml.AliasEvent
_MappingStartEvent = yaml.MappingStartEvent
_MappingEndEvent = yaml.MappingEndEvent
_SequenceStartEvent = yaml.SequenceStartEvent
_SequenceEndEvent = yaml.SequenceEndEvent
_DocumentStartEvent = yaml.DocumentStartEvent
_DocumentEndEvent = yaml.DocumentEndEvent
_StreamEndEvent = yaml.StreamEndEvent


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
    def __init__(self, message: str, pos: tuple[int, int], hint: str) -> None:
        super().__init__(message)
        self.pos = pos
        self.hint = hint


_BOMB = "Remove alias chains that multiply content (a 'YAML bomb'); write values out."
_OPEN = object()  # an anchored collection whose content is still being read
_MERGING = object()  # in a mapping's key slot: the value being read is a '<<' merge


def _resolve_plain(text: str) -> str:
    """The tag the safe loader gives a plain scalar (YAML 1.1 bool, int, float, null,
    timestamp, merge key), from the same regular expressions."""
    for tag, regexp in [*_IMPLICIT.get(text[:1], ()), *_IMPLICIT.get(None, ())]:
        if regexp.match(text):
            return str(tag)
    return _STR


def _plain_tag(text: str) -> str:
    return _resolve_plain(text) if not text or text[0] in _MAYBE_TYPED else _STR


def _construct(tag: str, text: str, pos: tuple[int, int]) -> Any:
    """The value of a scalar with a (resolved or explicit) tag, as the safe loader makes it."""
    if tag == _STR:
        return text
    construct = _SCALARS.get(tag)
    if construct is None:
        raise _unknown_tag(tag, pos)
    try:
        return construct(yaml.ScalarNode(tag, text))
    except (ValueError, OverflowError, LookupError, AttributeError, yaml.YAMLError) as exc:
        raise _Unsafe(
            f"cannot read scalar {text[:40]!r} as {tag.rsplit(':', 1)[-1]}: {exc}",
            pos,
            "Quote the value to make it a string.",
        ) from None


def _unknown_tag(tag: str, pos: tuple[int, int]) -> _Unsafe:
    return _Unsafe(
        f"tag {tag!r} is not allowed", pos, "Blueprints use plain YAML only; remove the '!' tag."
    )


def _pos(mark: Any) -> tuple[int, int]:
    return mark.line + 1, mark.column + 1


class _Builder:
    """Turns the parser's events into plain data, recording positions and enforcing limits.

    One pass over libyaml's events, with no node graph in between. An anchor remembers the
    value it named and where it was read; an alias copies that value under its own path,
    each copied value counted against the alias budget. A frame on the stack is
    ``[container, path, depth, key, anchor, position, merged, merges, child]``: ``key`` is
    the mapping key whose value is being read (None between entries), ``child`` its path,
    ``merged`` what '<<' entries bring in (applied when the mapping ends, explicit keys
    winning) and ``merges`` how many '<<' entries the mapping has.
    """

    def __init__(self, source: SourceMap) -> None:
        self.values = source.values
        self.keys = source.keys
        self.nodes = 0
        self.expanded = 0
        self.anchors: dict[str, tuple[Any, Path | None, tuple[int, int], str]] = {}
        self.merges = False

    # ------------------------------------------------------------------ the first document

    def document(self, get: Callable[[], Any]) -> Any:
        """Read the events of one document (its start already read) into its value."""
        values, keys, anchors = self.values, self.keys, self.anchors
        typed: dict[str, tuple[str, Any]] = {}  # plain scalar text -> (tag, value)
        key_tags: dict[str, str] = {}  # plain key text -> tag
        stack: list[list[Any]] = []
        top: list[Any] | None = None
        nodes = 0
        root: Any = None
        while True:
            event = get()
            cls = event.__class__
            if cls is _MappingEndEvent or cls is _SequenceEndEvent:
                frame = stack.pop()
                top = stack[-1] if stack else None
                value = frame[0]
                if frame[6]:
                    self._apply_merges(frame)
                if frame[4] is not None:
                    tag = _MAP if cls is _MappingEndEvent else _SEQ
                    anchors[frame[4]] = (value, frame[1], frame[5], tag)
            elif cls is _DocumentEndEvent:
                if self.merges:
                    self._forget_merge_paths()
                return root
            else:
                mark = event.start_mark
                anchor = event.anchor
                if cls is _AliasEvent:
                    if anchor not in anchors:
                        raise yaml.composer.ComposerError(None, None, "found undefined alias", mark)
                elif anchor is not None:
                    self._anchor(anchor, mark)
                # Where the node goes: the root, a list item, a mapping key or a mapping value.
                if top is None:
                    path: Path = ()
                    depth = 0
                else:
                    container = top[0]
                    if container.__class__ is list:
                        path = top[1] + (len(container),)
                    elif top[3] is None:
                        # A key. The common case inline: a plain or quoted string, no anchor.
                        text = event.value if cls is _ScalarEvent else None
                        if text is not None and event.tag is None and anchor is None:
                            if event.implicit[0] and (not text or text[0] in _MAYBE_TYPED):
                                tag = key_tags.get(text) or key_tags.setdefault(
                                    text, _resolve_plain(text)
                                )
                            else:
                                tag = _STR
                            if tag == _STR and text not in container:
                                path = top[1] + (text,)
                                keys[path] = (mark.line + 1, mark.column + 1)
                                top[3] = text
                                top[8] = path
                                continue
                        self._key(top, event, cls)
                        continue
                    else:
                        path = top[8]
                    depth = top[2] + 1
                if cls is _AliasEvent:
                    self.nodes = nodes
                    value = self._alias(anchors[anchor], path, depth, _pos(mark))
                    nodes = self.nodes
                else:
                    pos = (mark.line + 1, mark.column + 1)
                    nodes += 1
                    if nodes > MAX_NODES:
                        raise _Unsafe(
                            f"the document expands to more than {MAX_NODES:,} values", pos, _BOMB
                        )
                    if depth > MAX_DEPTH:
                        raise _Unsafe(
                            f"nesting deeper than {MAX_DEPTH} levels",
                            pos,
                            "Blueprints are shallow; flatten this structure.",
                        )
                    values[path] = pos
                    if cls is _ScalarEvent:
                        text = event.value
                        tag = event.tag
                        if tag is None or tag == "!":
                            if not event.implicit[0] or (text and text[0] not in _MAYBE_TYPED):
                                value, tag = text, _STR
                            else:
                                hit = typed.get(text)
                                if hit is None:
                                    tag = _resolve_plain(text)
                                    hit = typed[text] = (tag, _construct(tag, text, pos))
                                tag, value = hit
                        else:
                            value = _construct(tag, text, pos)
                        if anchor is not None:
                            anchors[anchor] = (text, None, pos, tag)
                    else:
                        tag = event.tag
                        if cls is _MappingStartEvent:
                            if tag is not None and tag not in ("!", _MAP):
                                raise _unknown_tag(tag, pos)
                            value = {}
                        else:
                            if tag is not None and tag not in ("!", _SEQ):
                                raise _unknown_tag(tag, pos)
                            value = []
                        top = [value, path, depth, None, anchor, pos, None, 0, None]
                        stack.append(top)
                        continue
            # A complete value: put it where it belongs.
            if top is None:
                root = value
            elif top[0].__class__ is list:
                top[0].append(value)
            else:
                if top[3] is _MERGING:
                    self._merge(top, value)
                else:
                    top[0][top[3]] = value
                top[3] = None

    def _anchor(self, name: str, mark: Any) -> None:
        if name in self.anchors:
            # What libyaml's composer says (a syntax error, before anything is built).
            raise yaml.composer.ComposerError(
                "found duplicate anchor; first occurrence",
                None,
                "second occurrence",
                mark,
            )
        self.anchors[name] = (_OPEN, None, _pos(mark), "")

    def _key(self, frame: list[Any], event: Any, cls: type) -> None:
        """A mapping key: a plain string (or '<<'), not a duplicate."""
        if cls is _ScalarEvent:
            pos = _pos(event.start_mark)
            text = event.value
            tag = event.tag
            if tag is None or tag == "!":
                tag = _plain_tag(text) if event.implicit[0] else _STR
            if event.anchor is not None:
                self.anchors[event.anchor] = (text, None, pos, tag)
        elif cls is _AliasEvent:
            text, where, pos, tag = self.anchors[event.anchor]
            if where is not None or text is _OPEN:
                tag = ""
        else:
            pos, tag, text = _pos(event.start_mark), "", ""
        if tag == _MERGE:
            frame[3] = _MERGING
            frame[7] += 1
            frame[8] = (*frame[1], -frame[7])
            return
        if tag != _STR:
            raise _Unsafe(
                "mapping keys must be plain strings", pos, "Quote the key, or write it as a word."
            )
        child = frame[1] + (text,)
        if text in frame[0]:
            raise _Unsafe(
                f"duplicate key {text!r} (first at line {self.keys[child][0]})",
                pos,
                "Keep one of the two; YAML would silently drop the first.",
            )
        self.keys[child] = pos
        frame[3] = text
        frame[8] = child

    # ------------------------------------------------------------------ aliases

    def _count(self, pos: tuple[int, int], depth: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _Unsafe(f"the document expands to more than {MAX_NODES:,} values", pos, _BOMB)
        self.expanded += 1
        if self.expanded > MAX_ALIAS_EXPANSIONS:
            raise _Unsafe(
                f"aliases expand to more than {MAX_ALIAS_EXPANSIONS:,} copied values", pos, _BOMB
            )
        if depth > MAX_DEPTH:
            raise _Unsafe(
                f"nesting deeper than {MAX_DEPTH} levels",
                pos,
                "Blueprints are shallow; flatten this structure.",
            )

    def _alias(
        self,
        anchor: tuple[Any, Path | None, tuple[int, int], str],
        path: Path,
        depth: int,
        pos: tuple[int, int],
    ) -> Any:
        value, where, at, tag = anchor
        if value is _OPEN:
            raise _Unsafe(
                f"nesting deeper than {MAX_DEPTH} levels: the alias repeats a value that "
                "contains it",
                pos,
                "Blueprints are shallow; flatten this structure.",
            )
        if where is None:
            self._count(at, depth)
            self.values[path] = at
            return _construct(tag, value, at)
        return self._copy(value, where, path, depth)

    def _copy(self, value: Any, src: Path, dst: Path, depth: int) -> Any:
        """A copy of ``value`` read at ``src``, now at ``dst``, with its positions."""
        pos = self.values[src]
        self._count(pos, depth)
        self.values[dst] = pos
        if value.__class__ is dict:
            out: dict[str, Any] = {}
            for key, item in value.items():
                self.keys[(*dst, key)] = self.keys[(*src, key)]
                out[key] = self._copy(item, (*src, key), (*dst, key), depth + 1)
            return out
        if value.__class__ is list:
            return [self._copy(v, (*src, i), (*dst, i), depth + 1) for i, v in enumerate(value)]
        return value

    # ------------------------------------------------------------------ merge keys

    def _merge(self, frame: list[Any], value: Any) -> None:
        """A '<<' entry: its mappings (the first one winning) join what the mapping merges;
        a later '<<' entry overrides an earlier one."""
        self.merges = True
        at = (*frame[1], -frame[7])
        sources = (
            [(item, (*at, i)) for i, item in enumerate(value)]
            if isinstance(value, list)
            else [(value, at)]
        )
        brought: dict[str, tuple[Any, Path]] = {}
        for item, where in sources:
            if not isinstance(item, dict):
                raise _Unsafe(
                    "'<<' merges only mappings", self.values[where], "Merge an anchored mapping."
                )
            for key, val in item.items():
                brought.setdefault(key, (val, (*where, key)))
        frame[6] = {**(frame[6] or {}), **brought}

    def _apply_merges(self, frame: list[Any]) -> None:
        out, path = frame[0], frame[1]
        for key, (value, where) in frame[6].items():
            if key not in out:
                out[key] = value
                self.keys[(*path, key)] = self.keys[where]
                self._move(value, where, (*path, key))

    def _move(self, value: Any, src: Path, dst: Path) -> None:
        self.values[dst] = self.values[src]
        if isinstance(value, dict):
            for key, item in value.items():
                self.keys[(*dst, key)] = self.keys[(*src, key)]
                self._move(item, (*src, key), (*dst, key))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self._move(item, (*src, i), (*dst, i))

    def _forget_merge_paths(self) -> None:
        """Drop the positions recorded under a '<<' entry's own (negative) place."""
        for table in (self.values, self.keys):
            for path in [p for p in table if any(type(x) is int and x < 0 for x in p)]:
                del table[path]

    # ------------------------------------------------------------------ the rest of the stream

    def rest(self, get: Callable[[], Any], *, documents: int) -> tuple[int, int] | None:
        """Read the stream to its end for syntax errors, without building; return where a
        second document begins, if there is one."""
        anchors = self.anchors
        second: tuple[int, int] | None = None
        waiting = False
        while True:
            event = get()
            cls = event.__class__
            if cls is _StreamEndEvent:
                return second
            if cls is _DocumentStartEvent:
                documents += 1
                waiting = documents == 2
                anchors.clear()
            elif cls is _AliasEvent:
                if event.anchor not in anchors:
                    raise yaml.composer.ComposerError(
                        None, None, "found undefined alias", event.start_mark
                    )
                waiting = False
            elif cls is _ScalarEvent or cls is _MappingStartEvent or cls is _SequenceStartEvent:
                if waiting:
                    second, waiting = _pos(event.start_mark), False
                if event.anchor is not None:
                    self._anchor(event.anchor, event.start_mark)


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


def read_bytes(path: str | os.PathLike[str]) -> tuple[bytes | None, Diagnostic | None]:
    """Read a blueprint file, refusing what is missing, not a file or over ``MAX_BYTES``."""
    name = os.fspath(path)
    p = FsPath(name)
    try:
        size = p.stat().st_size
        if not p.is_file():
            return None, _diag(
                "BP001", "not a regular file", name, 1, 1, "Give the path of a blueprint YAML file."
            )
        if size > MAX_BYTES:
            return None, _diag(
                "BP001",
                f"the file is {size / 1048576:.1f} MiB; blueprints are limited to "
                f"{MAX_BYTES // 1048576} MiB",
                name,
                1,
                1,
                "Split generated content out, or check you named the right file.",
            )
        with p.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return None, _diag("BP001", "no such file", name, 1, 1, "Check the path.")
    except OSError as exc:
        return None, _diag(
            "BP001",
            f"cannot read the file: {exc.strerror}",
            name,
            1,
            1,
            "Check the path and its permissions.",
        )
    if len(data) > MAX_BYTES:
        return None, _diag(
            "BP001",
            "the file grew past the size limit while being read",
            name,
            1,
            1,
            "Retry once the file is written.",
        )
    return data, None


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
    builder = _Builder(source)
    value: Any = None
    failure: _Unsafe | None = None
    try:
        # Given text, libyaml names the stream '<unicode string>' in its reader errors.
        get = _Parser(raw.decode("utf-8")).get_event
        get()  # the stream's start
        documents = 0
        if get().__class__ is _DocumentStartEvent:
            documents = 1
            try:
                value = builder.document(get)
            except _Unsafe as exc:
                failure = exc
        # A syntax error anywhere, or a second document, outranks a problem in the first.
        second = builder.rest(get, documents=documents) if documents else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        pos = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise reject(
            "BP002", f"YAML syntax error: {what}", "Fix the YAML syntax at this position.", pos
        ) from None
    except yaml.YAMLError as exc:
        raise reject("BP002", f"YAML error: {exc}", "Fix the YAML syntax.") from None
    if not documents:
        raise reject("BP004", "the file is empty", "Start from examples/attonixcorp.yaml.")
    if second is not None:
        raise reject(
            "BP003",
            "more than one YAML document",
            "Keep one blueprint per file (remove the '---').",
            second,
        )
    if failure is not None:
        raise reject("BP003", str(failure), failure.hint, failure.pos)
    return value
