"""The source map read from libyaml's events against the one composed from PyYAML's node graph
(``oracle_source.py``, the former implementation): the same data, the same position of every
value and key, the same diagnostics — on the example, generated blueprints, hostile inputs and
fuzzed text. Two differences are deliberate and asserted as such: an alias inside the value it
names is refused where the alias stands, and a value a '<<' merge brings in is located where it
was written (the old map could point a key overridden after the merge at the merged value)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attonix.blueprint import BlueprintInvalid, load_bytes
from attonix.blueprint.source import parse

ROOT = Path(__file__).resolve().parents[3]


def _module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


oracle = _module("_attonix_oracle_source", Path(__file__).with_name("oracle_source.py"))
generate = _module("_attonix_bench_generate", ROOT / "bench" / "generate.py")


def outcome(parser: Any, text: str | bytes) -> tuple[str, dict[Any, Any], dict[Any, Any], Any]:
    value, source, problems = parser(text, "dc.yaml")
    diagnostics = [(d.code, d.message, d.location.line, d.location.col, d.hint) for d in problems]
    if diagnostics:  # a refused document's map is never read
        return repr(value), {}, {}, diagnostics
    # repr: dict order, int vs float vs bool, NaN and timestamps all count.
    return repr(value), dict(source.values), dict(source.keys), diagnostics


def assert_same(text: str | bytes) -> None:
    new, old = outcome(parse, text), outcome(oracle.parse, text)
    assert new[3] == old[3]
    assert new[0] == old[0]
    if "<<" not in str(text):  # merged values' positions: see the test below
        assert new[1] == old[1]
        assert new[2] == old[2]


HOSTILE = [
    "a: &a [1,2]\nb: *a\nc: !!python/object:os.system x\n",
    "x: !custom 1\n",
    "a: 1\na: 2\n",
    "a: 1\n---\nb: 2\n",
    "a: [1, 2\n",
    "",
    "# only a comment\n",
    "- just\n- a list\n",
    "{1: x}\n",
    "[" * 50_000,
    "a: {b: [{c: " * 40 + "x" + "}]}" * 40 + "\n",
    "a: 1\nb: *nowhere\n",
    "a: &x 1\nb: &x 2\n",
    "a: 1\na: 2\nb: [1, 2\n",
    "a: 1\na: 2\n---\nc: 3\n",
    "a: !!str 12\nb: !!int '7'\nc: !!float 1\nd: !!bool yes\ne: !!null x\n",
    "a: !!int nope\n",
    "a: !!binary aGk=\nb: !!set {x}\n",
    "a: 2001-02-30\n",
    "a: 2001-12-14t21:59:43.10-05:00\nb: 2002-12-14\nc: 1_000\nd: 0x1f\ne: 0o17\n"
    "f: 190:20:30\ng: .inf\nh: -.Inf\ni: .NaN\nj: 1e3\nk: 6.8523015e+5\nl: 0b1010\n",
    "a: [yes, No, on, OFF, y, n, true, False, ~, null, Null, '', =, <<x, 012, +12, -0]\n",
    "? [a, b]\n: x\n",
    "? {a: b}\n: x\n",
    "a: &k key\n*k : v\n",
    "&k key: v\nb: *k\n",
    "a: \"\\x01\"\nb: 'tab\there'\nc: |\n  block\n  text\nd: >\n  folded\n  text\n",
    "a: \x01\n",
    "\ufeffa: 1\n",
    "a: 1\n...\n",
    "%YAML 1.1\n---\na: 1\n",
    "--- >\n  text\n",
    "--- 12\n",
    "a: !<tag:yaml.org,2002:str> 1\nb: !!map {c: 1}\nd: !!seq [1]\ne: !!str [1]\n",
    "a: ! 12\nb: ! [1]\n",
    "a: &a {b: 1}\nc: {<<: *a, b: 2}\n",
    "a: &a {b: 1, c: 2}\nd: &d {c: 3, e: 4}\nf: {<<: [*a, *d], g: 5}\n",
    "a: {<<: 1}\n",
    "a: {<<: [1]}\n",
    "a: {<<: {b: {c: 1}}, d: 2}\n",
    "'<<': 1\n",
]


def _bomb(levels: int) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, cur in zip("abcdefghijkl"[:levels], "bcdefghijklm"[:levels], strict=True):
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("text", [*HOSTILE, _bomb(8), _bomb(4), _bomb(5)])
def test_hostile_and_odd_input(text: str) -> None:
    assert_same(text)


def test_example(example_text: str) -> None:
    assert_same(example_text)
    assert_same(example_text.encode("utf-8"))


@pytest.mark.parametrize(
    ("services", "databases", "hosts"), [(0, 0, 8), (40, 5, 20), (300, 20, 60)]
)
def test_generated_blueprints(services: int, databases: int, hosts: int) -> None:
    assert_same(generate.generate_blueprint(services, databases=databases, hosts=hosts))


@pytest.mark.parametrize(
    "text", ["- 1\n" * 1001, "a: &a [1, 2, 3]\nb: [" + ", ".join(["*a"] * 300) + "]\n"]
)
def test_too_many_values_are_refused_alike(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("attonix.blueprint.source.MAX_NODES", 1000)
    monkeypatch.setattr(oracle, "MAX_NODES", 1000)
    assert_same(text)
    assert "more than 1,000 values" in outcome(parse, text)[3][0][1]


def test_alias_inside_the_value_it_names_is_refused_where_it_stands() -> None:
    text = "a: 1\nb: &b\n  c:\n    - *b\n"
    (diag,) = parse(text, "dc.yaml")[2]
    (old,) = oracle.parse(text, "dc.yaml")[2]
    assert (diag.code, old.code) == ("BP003", "BP003")
    assert "nesting deeper than 64 levels" in diag.message
    assert old.message == "nesting deeper than 64 levels"
    assert (diag.location.line, diag.location.col) == (4, 7)  # the alias
    assert (old.location.line, old.location.col) == (2, 4)  # wherever depth 65 fell


def test_merged_and_overridden_values_are_located_where_written() -> None:
    text = "base: &base\n  name: one\n  size: 2\nother:\n  <<: *base\n  name: two\n"
    value, source, problems = parse(text, "dc.yaml")
    assert not problems
    assert value["other"] == {"name": "two", "size": 2}
    assert source.locate(("other", "name")).line == 6
    assert source.locate(("other", "name"), key=True).line == 6
    assert source.locate(("other", "size")).line == 3  # brought in from 'base'
    _, old, _ = oracle.parse(text, "dc.yaml")
    assert old.values[("other", "name")] == (2, 9)  # the old map pointed at 'one'
    assert not any(-1 in p for p in (*source.values, *source.keys))


def test_hostile_input_costs_bounded_time() -> None:
    (diag,) = parse(_bomb(12), "dc.yaml")[2]
    assert "aliases expand to more than" in diag.message


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PUNCTUATION = list("ab:- \n[]{}&*!|>'\"#,?%@`\t0.<=~1yY")


@FUZZ
@given(st.text(alphabet=st.sampled_from(PUNCTUATION), max_size=120))
def test_fuzzed_text_reads_alike(text: str) -> None:
    old = outcome(oracle.parse, text)
    if old[3] and old[3][0][1] == "nesting deeper than 64 levels":
        assert outcome(parse, text)[3][0][0] == "BP003"
        return  # an alias inside its own value (see above)
    assert_same(text)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["yes", "No", "0x1F", "1_000", "2026-01-02", "1:30", ".nan", "~", "<<", "="]),
)
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@FUZZ
@given(documents, st.sampled_from([None, True, False]))
def test_dumped_documents_read_alike(document: Any, flow: bool | None) -> None:
    text = yaml.safe_dump(document, default_flow_style=flow, allow_unicode=True)
    assert_same(text)
    assert_same(yaml.safe_dump(document, default_style='"'))


def test_loader_result_is_unchanged(example_text: str) -> None:
    loaded = load_bytes(example_text, file="dc.yaml")
    assert loaded.source.values == oracle.parse(example_text, "dc.yaml")[1].values
    with pytest.raises(BlueprintInvalid):
        load_bytes("a: 1\na: 2\n")
