"""The loader: valid input loads; every kind of bad input becomes diagnostics at the right place."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from attonix.blueprint import BlueprintInvalid, Diagnostic, load_bytes, load_file
from attonix.blueprint.source import MAX_BYTES


def problems(text: str | bytes, file: str = "dc.yaml") -> list[Diagnostic]:
    with pytest.raises(BlueprintInvalid) as info:
        load_bytes(text, file=file)
    return info.value.diagnostics


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line number of the n-th line containing ``needle``."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[occurrence - 1]


def edit(example_text: str, mutate: Any) -> str:
    """Load the example as data, change it, dump it back (so positions are real lines)."""
    data = yaml.safe_load(example_text)
    mutate(data)
    return yaml.safe_dump(data, sort_keys=False)


def test_example_loads_with_every_section(example_path: Path) -> None:
    loaded = load_file(example_path)
    bp = loaded.blueprint
    assert bp.metadata.name == "attonixcorp"
    assert {c.kind for c in bp.orchestration.clusters} == {"kubernetes", "swarm", "podman"}
    assert {d.engine for d in bp.databases} == {"postgresql", "mysql", "biganimal", "mongodb"}
    assert [d.name for d in bp.databases if d.primary] == ["pg-main"]
    assert bp.storage.ceph[0].mode == "rook"
    assert bp.storage.openstack and bp.storage.vsphere
    assert bp.cicd.zuul and bp.cicd.github and bp.cicd.gitlab
    assert bp.configuration.chef is not None
    assert "attonix-server" in bp.workloads_by_name
    assert bp.services.frontend[0].name == "attonix-console"
    assert loaded.source.locate(("databases", 0, "replicas")).line > 1


def test_source_map_points_at_values_and_keys(example_text: str) -> None:
    loaded = load_bytes(example_text, file="ex.yaml")
    loc = loaded.source.locate(("metadata", "domain"))
    assert (loc.file, loc.line) == ("ex.yaml", line_of(example_text, "domain: attonixcorp.com"))
    assert loc.col == example_text.splitlines()[loc.line - 1].index("attonixcorp.com") + 1
    key = loaded.source.locate(("metadata", "domain"), key=True)
    assert key.col == example_text.splitlines()[key.line - 1].index("domain") + 1
    # unknown paths fall back to the nearest ancestor
    assert loaded.source.locate(("metadata", "nope", 3)).line == line_of(
        example_text, "name: attonixcorp"
    )


def test_unknown_key_suggests_the_right_one(example_text: str) -> None:
    text = example_text.replace("    synchronous_replicas: 1\n", "    synchronus_replicas: 1\n", 1)
    (diag,) = problems(text)
    assert diag.code == "BP010"
    assert diag.pointer == "databases[0].synchronus_replicas"
    assert diag.location.line == line_of(text, "synchronus_replicas")
    assert diag.location.col == 5
    assert "Did you mean 'synchronous_replicas'?" in diag.hint
    assert diag.format().startswith(f"dc.yaml:{diag.location.line}:5: error[BP010]: ")


def test_wrong_type_names_value_and_place(example_text: str) -> None:
    text = example_text.replace(
        "      replicas: 3\n      ports: [{name: http, port: 8000}]\n      health: {path: /readyz",
        "      replicas: lots\n      ports: [{name: http, port: 8000}]\n"
        "      health: {path: /readyz",
        1,
    )
    (diag,) = problems(text)
    assert diag.code == "BP012"
    assert diag.pointer == "services.backend[0].replicas"
    assert diag.location.line == line_of(text, "replicas: lots")
    assert "'lots'" in diag.message
    assert "whole number" in diag.hint


def test_all_problems_reported_in_one_run(example_text: str) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["hosts"][0]["zone"] = "Zone A"  # not a DNS label
        d["databases"][1]["replicas"] = 0  # below minimum
        del d["security"]["tls"]["ca"]["common_name"]  # missing

    diags = problems(edit(example_text, mutate))
    pointers = {d.pointer for d in diags}
    assert {"hosts[0].zone", "databases[1].replicas", "security.tls.ca.common_name"} <= pointers
    missing = next(d for d in diags if d.pointer == "security.tls.ca.common_name")
    assert missing.code == "BP011" and "common_name" in missing.message
    # sorted by position in the file
    assert [d.location.line for d in diags] == sorted(d.location.line for d in diags)


def test_dangling_reference_is_reported_at_its_line(example_text: str) -> None:
    text = example_text.replace("databases: [mongo-events]", "databases: [mongo-event]", 1)
    (diag,) = problems(text)
    assert diag.code == "BP021"
    assert diag.pointer == "services.backend[3].databases[0]"
    assert diag.location.line == line_of(text, "databases: [mongo-event]")
    assert diag.message == "unknown database 'mongo-event'"
    assert "Did you mean 'mongo-events'?" in diag.hint


def test_duplicate_name_points_at_second_and_names_first(example_text: str) -> None:
    text = example_text.replace("- {name: cp-b,", "- {name: cp-a,", 1)
    diags = problems(text)
    dup = next(d for d in diags if d.code == "BP020")
    assert dup.message.startswith("duplicate host name 'cp-a'")
    assert dup.location.line == line_of(text, "- {name: cp-a,", 2)
    assert f"first at line {line_of(text, '- {name: cp-a,')}" in dup.message
    # the references to the now-missing cp-b are reported too
    assert any(d.code == "BP021" and "'cp-b'" in d.message for d in diags)


def test_cross_field_rule_explains_itself(example_text: str) -> None:
    text = example_text.replace("    synchronous_replicas: 1\n", "    synchronous_replicas: 3\n", 1)
    (diag,) = problems(text)
    assert diag.code == "BP013"
    assert diag.pointer == "databases[0]"
    assert "synchronous_replicas (3) must be fewer than replicas (3)" in diag.message


def test_pool_of_wrong_type_is_refused(example_text: str) -> None:
    text = example_text.replace(
        "storage: {size: 200Gi, pool: ceph-block}", "storage: {size: 200Gi, pool: ceph-objects}", 1
    )
    (diag,) = problems(text)
    assert diag.code == "BP022"
    assert "pool 'ceph-objects' is object storage" in diag.message


@pytest.mark.parametrize(
    ("text", "code", "fragment", "line"),
    [
        ("a: &a [1,2]\nb: *a\nc: !!python/object:os.system x\n", "BP003", "is not allowed", 3),
        ("x: !custom 1\n", "BP003", "tag '!custom' is not allowed", 1),
        ("a: 1\na: 2\n", "BP003", "duplicate key 'a' (first at line 1)", 2),
        ("a: 1\n---\nb: 2\n", "BP003", "more than one YAML document", 3),
        ("a: [1, 2\n", "BP002", "YAML syntax error", 2),
        ("", "BP004", "the file is empty", 1),
        ("- just\n- a list\n", "BP012", "the document is a list, not a mapping", 1),
        ("a: &a [*a]\n", "BP003", "nesting deeper than", 1),
        ("{1: x}\n", "BP003", "mapping keys must be plain strings", 1),
    ],
)
def test_unsafe_or_broken_yaml(text: str, code: str, fragment: str, line: int) -> None:
    (diag,) = problems(text)
    assert diag.code == code
    assert fragment in diag.message
    assert diag.location.line == line


def test_yaml_bomb_is_stopped_quickly() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, cur in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    (diag,) = problems("\n".join(lines) + "\n")
    assert diag.code == "BP003"
    assert "aliases expand to more than" in diag.message
    assert "YAML bomb" in diag.hint


def test_deeply_nested_flow_is_refused() -> None:
    (diag,) = problems("[" * 50_000)
    assert diag.code in ("BP002", "BP003")
    assert "nesting" in diag.message or "depth" in diag.message


def test_merge_keys_are_supported(example_text: str) -> None:
    text = example_text.replace(
        "  - name: pg-main\n    engine: postgresql\n",
        "  - &pg\n    name: pg-main\n    engine: postgresql\n",
        1,
    ).replace(
        '  - name: mysql-apps\n    engine: mysql\n    version: "8.4"\n',
        "  - <<: *pg\n    name: mysql-apps\n    engine: mysql\n    primary: false\n"
        '    version: "8.4"\n',
        1,
    )
    bp = load_bytes(text).blueprint
    mysql = bp.databases_by_name["mysql-apps"]
    assert mysql.engine == "mysql"
    assert mysql.database == "orders"
    assert mysql.storage.size == "100Gi"


def test_binary_garbage_is_not_yaml(tmp_path: Path) -> None:
    f = tmp_path / "garbage.yaml"
    f.write_bytes(b"apiVersion: x\n\x00\x01\x02\xff" * 10)
    with pytest.raises(BlueprintInvalid) as info:
        load_file(f)
    (diag,) = info.value.diagnostics
    assert diag.code == "BP001" and "binary" in diag.message
    assert diag.location.file == str(f) and diag.location.line == 2


def test_invalid_utf8_is_located() -> None:
    (diag,) = problems(b"metadata:\n  name: caf\xe9\n")
    assert diag.code == "BP001"
    assert "not UTF-8" in diag.message
    assert (diag.location.line, diag.location.col) == (2, 12)


def test_huge_file_is_refused_before_reading(tmp_path: Path) -> None:
    f = tmp_path / "huge.yaml"
    with f.open("wb") as fh:
        fh.truncate(50 * 1024 * 1024)  # sparse: 50 MB on paper, nothing read
    with pytest.raises(BlueprintInvalid) as info:
        load_file(f)
    (diag,) = info.value.diagnostics
    assert diag.code == "BP001"
    assert re.search(r"50\.0 MiB; blueprints are limited to 10 MiB", diag.message)


def test_huge_text_is_refused() -> None:
    (diag,) = problems("a: " + "x" * (MAX_BYTES + 1))
    assert diag.code == "BP001" and "larger than" in diag.message


def test_missing_file_and_directory(tmp_path: Path) -> None:
    for path, fragment in ((tmp_path / "nope.yaml", "no such file"), (tmp_path, "not a regular")):
        with pytest.raises(BlueprintInvalid) as info:
            load_file(path)
        assert fragment in info.value.diagnostics[0].message


def test_error_message_carries_every_problem(example_text: str) -> None:
    text = example_text.replace("kind: swarm", "kind: nomad", 1).replace(
        "kind: podman", "kind: lxc", 1
    )
    with pytest.raises(BlueprintInvalid) as info:
        load_bytes(text, file="dc.yaml")
    rendered = str(info.value)
    assert rendered.count("error[BP012]") == 2
    assert "'kubernetes', 'swarm' or 'podman'" in rendered
    assert "blueprint has 2 problems" in info.value.message


def test_misspelt_required_key_is_reported_once(example_text: str) -> None:
    text = example_text.replace("    engine: mysql", "    engin: mysql", 1)
    (diag,) = problems(text)
    assert (diag.code, diag.pointer) == ("BP010", "databases[1].engin")
    assert diag.hint.startswith("Did you mean 'engine'?")


def test_missing_required_key_without_a_near_miss_is_still_reported(example_text: str) -> None:
    text = example_text.replace("    engine: mysql\n", "    flavour: mysql\n", 1)
    codes = sorted((d.code, d.pointer) for d in problems(text))
    assert codes == [("BP010", "databases[1].flavour"), ("BP011", "databases[1].engine")]


def test_hints_explain_the_field_from_its_description(example_text: str) -> None:
    def mutate(d: dict[str, Any]) -> None:
        del d["security"]["tls"]["ca"]["common_name"]
        d["hosts"][0]["disks"] = ["sdb"]
        d["hosts"][1]["zone"] = "Zone B"
        d["services"]["backend"][0]["image"] = "Registry/Server"

    by_pointer = {d.pointer: d.hint for d in problems(edit(example_text, mutate))}
    assert by_pointer["security.tls.ca.common_name"] == (
        "Add 'common_name': The CA certificate's subject common name (1 to 64 characters)."
    )
    # a list item is explained by its list's field
    assert by_pointer["hosts[0].disks[0]"] == (
        "Expected: Raw devices given to Ceph OSDs (paths under /dev, wiped by Ceph)."
    )
    assert by_pointer["services.backend[0].image"].startswith(
        "Expected: The container image, lowercase: [registry/]path/name with ':tag'"
    )
    # names keep the one-line rule for DNS labels
    assert (
        by_pointer["hosts[1].zone"] == "Names are lowercase letters, digits and '-' (DNS labels)."
    )


@pytest.mark.parametrize(
    ("policy", "shown"),
    [
        ("\"default-src 'self';\\nscript-src 'none'\"", "'\\n'"),
        ("\"default-src 'self';\\rX-Injected: 1\"", "'\\r'"),
        ("\"default-src\\t'self'\"", "'\\t'"),
        ("\"default-src 'self' https://exämple.com\"", "'ä'"),
    ],
)
def test_a_content_security_policy_is_one_line_of_printable_ascii(
    example_text: str, policy: str, shown: str
) -> None:
    # haproxy and the ingress send the header verbatim: nothing that could end or bend it.
    needle = "      content_security_policy: "
    start = example_text.index(needle) + len(needle)
    end = example_text.index("\n", start)
    text = example_text[:start] + policy + example_text[end:]
    (diag,) = problems(text)
    assert diag.code == "BP013"
    assert diag.pointer == "services.frontend[0].content_security_policy"
    assert diag.location.line == line_of(text, needle)
    assert f"the Content-Security-Policy contains {shown}" in diag.message


def test_a_content_security_policy_has_no_surrounding_spaces(example_text: str) -> None:
    text = example_text.replace(
        "content_security_policy: \"default-src 'none';",
        "content_security_policy: \" default-src 'none';",
    )
    (diag,) = problems(text)
    assert diag.pointer == "services.frontend[0].content_security_policy"
    assert "starts or ends with a space" in diag.message


def test_ingress_custom_headers_is_only_for_kubernetes(example_text: str) -> None:
    text = example_text.replace(
        "      kind: swarm\n", "      kind: swarm\n      ingress_custom_headers: true\n", 1
    )
    (diag,) = problems(text)
    assert diag.code == "BP013"
    assert "'ingress_custom_headers' is only for kubernetes clusters, not swarm" in diag.message
