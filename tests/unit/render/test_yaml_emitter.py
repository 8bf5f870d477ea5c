"""The specialised YAML emitter: byte-identical to PyYAML, and every document reads back."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from attonix.render import _yaml
from attonix.render.base import dump_yaml

_C: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Reference(_C):  # type: ignore[misc]
    def ignore_aliases(self, data: Any) -> bool:
        return True


def reference(doc: Any) -> str:
    """What PyYAML writes with the options ``dump_yaml`` promises."""
    return str(
        yaml.dump(
            doc,
            Dumper=_Reference,
            sort_keys=False,
            default_flow_style=False,
            allow_unicode=True,
            width=4096,
        )
    )


TRICKY = [
    *("", " ", " a", "a ", "  a  b  ", "a  b"),
    *("1", "-1", "+1", "1.5", "-.5", "1e3", "1_000", "0x1F", "0o17", "0b101", "012", "1:20"),
    *(".inf", "-.Inf", ".nan", ".NaN"),
    *("true", "True", "FALSE", "yes", "No", "on", "OFF", "y", "n", "Y"),
    *("null", "Null", "NULL", "~", "2020-01-01", "2001-12-14t21:59:43.10-05:00"),
    *("<<", "=", "-", "- a", "-a", "--", "---", "---x", "...", "...x", "?", "? a", "?a"),
    *(":", ":a", "a:", "a:b", "a: b", "a :b", "http://x:80/p?q=1#f", "a#b", "a #b", "#a"),
    *("'", "'a'", "a'b", '"', '"a"', "a,b", "[a]", "{a: 1}", "@a", "`a", "%a", "!a", "&a"),
    *("*a", "|a", ">a", "a|b", "a>b", "a&b", "a*b", "a!b", "a%b", "a@b"),
    *("ü", "日本語", "naïve café", "\u00a0", "a\u00a0b", "Ω≈ç√", "\ue000", "\ufffd"),
    *("a\nb", "a\n", "\n", "line one\nline two\n", "a \nb", "a\n b", "tab\there", "\x00"),
    *("\x85", "\u2028", "\u2029", "\ufeff", "😀", "\x7f", "\r\n", "x" * 1500, "a " * 700),
]


def _documents(s: str) -> list[Any]:
    return [
        {"k": s},
        {s: 1},
        [s],
        {"a": [s, {"b": s, "c": [s, [s, s]]}], "d": {"e": {s: s}}, "f": [], "g": {}},
        [[s], [], {}, [{s: [s]}]],
    ]


@pytest.mark.parametrize("s", TRICKY)
def test_tricky_strings_are_written_as_pyyaml_writes_them_and_read_back(s: str) -> None:
    for doc in _documents(s):
        fast = _yaml.emit(doc)
        want = reference(doc)
        if fast is not None:
            assert fast == want
        assert dump_yaml(doc) == want
        assert yaml.safe_load(dump_yaml(doc)) == doc


def test_plain_data_takes_the_fast_path() -> None:
    doc = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web", "version": "1.0"}},
        "spec": {
            "replicas": 3,
            "paused": False,
            "selector": None,
            "template": {"spec": {"containers": [{"args": ["--port", "8080", "yes", ""]}]}},
            "ports": [[1, 2], [], {}],
        },
        7: "int key",
        True: "bool key",
    }
    fast = _yaml.emit(doc)
    assert fast is not None
    assert fast == reference(doc)
    assert "version: '1.0'" in fast and "- 'yes'" in fast and "- ''" in fast
    assert yaml.safe_load(fast) == doc


@pytest.mark.parametrize(
    "doc",
    [
        {"f": 1.5},  # floats: PyYAML's float form is not reproduced
        {"t": (1, 2)},  # tuples: PyYAML's safe dumper refuses them
        {"m": "a\nb"},  # line breaks: PyYAML's multi-line quoting
        {"e": "😀"},  # characters libyaml escapes
        {"k" * 200: 1},  # libyaml writes long keys as complex keys
        {("a",): 1},
        "top-level scalar",
        [],
        {},
    ],
)
def test_what_the_fast_path_does_not_reproduce_goes_through_pyyaml(doc: Any) -> None:
    fast = _yaml.emit(doc)
    if fast is not None:
        assert fast == reference(doc)
    else:
        assert dump_yaml(doc) == reference(doc)


_scalars = st.one_of(
    st.text(max_size=30),
    st.text(alphabet="0123456789.:-+_eExXoObB~#' ntrufalsyNTRUFALSY", max_size=12),
    st.sampled_from(TRICKY),
    st.integers(),
    st.booleans(),
    st.none(),
)
_keys = st.one_of(st.text(max_size=20), st.sampled_from(TRICKY[:60]), st.integers())
_data = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_keys, inner, max_size=4)),
    max_leaves=25,
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.dictionaries(_keys, _data, max_size=5), st.lists(_data, max_size=5)))
def test_property_identical_to_pyyaml_and_round_trips(doc: Any) -> None:
    fast = _yaml.emit(doc)
    want = reference(doc)
    if fast is not None:
        assert fast == want
    assert yaml.safe_load(dump_yaml(doc)) == doc
