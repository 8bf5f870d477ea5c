"""A YAML emitter specialised for the plain data renderers produce, byte-identical to PyYAML.

``emit(doc)`` writes a mapping or list of plain ``dict``/``list``/``str``/``int``/``bool``/
``None`` values exactly as ``yaml.dump(doc, Dumper=<CSafeDumper without aliases>,
sort_keys=False, default_flow_style=False, allow_unicode=True, width=4096)`` writes it, or
returns ``None`` when the document holds anything whose exact PyYAML form it does not
reproduce (floats, other types, line breaks or characters libyaml escapes, very long or
complex keys, lines near the folding width); the caller then falls back to PyYAML for that
whole document, so the output never differs.

The quoting rules are libyaml's (``yaml_emitter_analyze_scalar`` and
``yaml_emitter_select_scalar_style``) restricted to one-line scalars: a string is written
plain when libyaml would allow plain style and PyYAML's resolver reads it back as a string;
otherwise single-quoted (``'`` doubled). What reads as a number, boolean, date, null, ``~``,
``yes``/``no``/``on``/``off``, ``<<`` or ``=`` is therefore quoted, as PyYAML quotes it.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_RESOLVER: Any = yaml.resolver.Resolver()
_STR = "tag:yaml.org,2002:str"

# One-line text libyaml writes without escapes: printable (its IS_PRINTABLE) and no line break
# (its IS_BREAK includes U+0085, U+2028, U+2029). Anything else: fall back.
_SAFE = re.compile("[\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd]*")
# Characters that make a plain scalar impossible (libyaml's indicators), per position.
_FIRST_INDICATOR = frozenset("#,[]{}&*!|>'\"%@`")
_PLAIN_BREAKER = re.compile(r": | #|:$")
_MAX_TEXT = 1000  # folding at width 4096 can never reach a one-line scalar this short
_MAX_KEY = 128  # libyaml writes a longer key as a complex key ("? key")
_MAX_INDENT = 2000

_cache: dict[str, str | None] = {}
_CACHE_LIMIT = 200_000


class _Unsupported(Exception):
    """The document holds something this emitter does not reproduce exactly."""


def _quote(s: str) -> str | None:
    """The exact one-line form libyaml writes for ``s``, or ``None`` if outside the fast path."""
    if len(s) > _MAX_TEXT or not _SAFE.fullmatch(s):
        return None
    if not s:
        return "''"  # the empty string reads as null
    plain = True
    first = s[0]
    if (
        first == " "
        or s[-1] == " "
        or first in _FIRST_INDICATOR
        or (first in "-?:" and (len(s) == 1 or s[1] == " "))
        or s.startswith(("---", "..."))
        or _PLAIN_BREAKER.search(s)
        or _RESOLVER.resolve(yaml.ScalarNode, s, (True, False)) != _STR
    ):
        plain = False
    if plain:
        return s
    return "'" + s.replace("'", "''") + "'"


def _scalar(value: Any) -> str:
    t = type(value)
    if t is str:
        text = _cache.get(value)
        if text is None:
            if value in _cache:
                raise _Unsupported
            text = _quote(value)
            if len(_cache) >= _CACHE_LIMIT:
                _cache.clear()
            _cache[value] = text
            if text is None:
                raise _Unsupported
        return text
    if t is bool:
        return "true" if value else "false"
    if t is int:
        return str(value)
    if value is None:
        return "null"
    raise _Unsupported


_keys: dict[str, str] = {}  # string keys (few, repeated in every object) and their form


def _key(value: Any) -> str:
    text = _keys.get(value) if type(value) is str else None
    if text is not None:
        return text
    text = _scalar(value)
    # libyaml measures the key's own bytes, not its quoted form
    if len(text) > _MAX_KEY // 4 and len(str(value).encode()) > _MAX_KEY:
        raise _Unsupported
    if type(value) is str and len(_keys) < _CACHE_LIMIT:
        _keys[value] = text
    return text


def _mapping(m: dict[Any, Any], ind: str, out: list[str], first: str) -> None:
    if len(ind) > _MAX_INDENT:
        raise _Unsupported
    pre = first
    inner = ind + "  "
    for k, v in m.items():
        t = type(v)
        if t is dict:
            if v:
                out.append(f"{pre}{_key(k)}:\n")
                _mapping(v, inner, out, inner)
            else:
                out.append(f"{pre}{_key(k)}: {{}}\n")
        elif t is list:
            if v:
                out.append(f"{pre}{_key(k)}:\n")
                _sequence(v, ind, out, ind)
            else:
                out.append(f"{pre}{_key(k)}: []\n")
        else:
            text = _cache.get(v) if t is str else None
            out.append(f"{pre}{_key(k)}: {text if text is not None else _scalar(v)}\n")
        pre = ind


def _sequence(s: list[Any], ind: str, out: list[str], first: str) -> None:
    if len(ind) > _MAX_INDENT:
        raise _Unsupported
    pre = first
    inner = ind + "  "
    for v in s:
        t = type(v)
        if t is dict:
            if v:
                _mapping(v, inner, out, pre + "- ")
            else:
                out.append(pre + "- {}\n")
        elif t is list:
            if v:
                _sequence(v, inner, out, pre + "- ")
            else:
                out.append(pre + "- []\n")
        else:
            out.append(f"{pre}- {_scalar(v)}\n")
        pre = ind


def emit(doc: Any) -> str | None:
    """``doc`` as PyYAML writes it (block style, insertion order), or ``None`` to fall back."""
    out: list[str] = []
    t = type(doc)
    try:
        if t is dict:
            if not doc:
                return "{}\n"
            _mapping(doc, "", out, "")
        elif t is list:
            if not doc:
                return "[]\n"
            _sequence(doc, "", out, "")
        else:
            return None
    except (_Unsupported, RecursionError):
        return None
    return "".join(out)
