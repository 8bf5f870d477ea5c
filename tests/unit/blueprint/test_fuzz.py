"""Fuzzing the loader: whatever the input, the outcome is a Blueprint or diagnostics — never a
traceback — and every diagnostic points inside the file."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attonix.blueprint import BlueprintInvalid, load_bytes

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["latest", "0.0.0.0/0", "1.35", "zone-a", "-1", "", "[", "&a", "*a", "!x"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def check(data: bytes | str) -> None:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    lines = max(1, text.count("\n") + 1)
    try:
        load_bytes(data, file="fuzz.yaml")
    except BlueprintInvalid as exc:
        assert exc.diagnostics
        for d in exc.diagnostics:
            assert d.location.file == "fuzz.yaml"
            assert 1 <= d.location.line <= lines + 1, d.format()
            assert d.message and d.code.startswith("BP")


@FUZZ
@given(st.binary(max_size=400))
def test_arbitrary_bytes(data: bytes) -> None:
    check(data)


@FUZZ
@given(st.text(alphabet=st.sampled_from(list("ab:- \n[]{}&*!|>'\"#,?%@`\t0.")), max_size=200))
def test_yaml_punctuation_soup(text: str) -> None:
    check(text)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


@FUZZ
@given(data=st.data())
def test_mutated_example(example_text: str, data: st.DataObject) -> None:
    doc = yaml.safe_load(example_text)
    paths = [p for p in _paths(doc) if p]
    for _ in range(data.draw(st.integers(1, 4))):
        path = data.draw(st.sampled_from(paths))
        parent = doc
        try:
            for part in path[:-1]:
                parent = parent[part]
            action = data.draw(st.sampled_from(["replace", "delete"]))
            if action == "delete" and isinstance(parent, dict):
                parent.pop(path[-1], None)
            elif action == "delete" and isinstance(parent, list) and path[-1] < len(parent):
                parent.pop(path[-1])
            else:
                parent[path[-1]] = data.draw(values)
        except (KeyError, IndexError, TypeError):
            continue
    check(yaml.safe_dump(doc, sort_keys=False))
