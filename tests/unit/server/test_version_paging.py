"""A large version's findings and diff are paged and filtered on the server: the browser asks
for one page at a time and every page, followed to the end, gives back the whole."""

from __future__ import annotations

import difflib
import random
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from attonix.server import pipeline

V = "/api/v1"
FRAGILE = (Path(__file__).resolve().parents[2] / "fixtures" / "policy" / "fragile.yaml").read_text()


def _setup(client: TestClient, h: dict[str, str]) -> list[dict[str, Any]]:
    client.post(f"{V}/environments", headers=h, json={"name": "prod"})
    r = client.post(f"{V}/environments/prod/blueprints", headers=h, json={"source": FRAGILE})
    assert r.status_code == 201, r.text
    edited = FRAGILE.replace("\n", "\n# edited\n", 3)
    r = client.post(f"{V}/environments/prod/blueprints", headers=h, json={"source": edited})
    assert r.status_code == 201, r.text
    findings: list[dict[str, Any]] = r.json()["version"]["findings"]
    assert len(findings) > 5
    return findings


def _follow(client: TestClient, h: dict[str, str], url: str) -> list[dict[str, Any]]:
    pages, cursor = [], 0
    while True:
        r = client.get(f"{url}&cursor={cursor}", headers=h)
        assert r.status_code == 200, r.text
        pages.append(r.json())
        if r.json()["next_cursor"] is None:
            return pages
        cursor = r.json()["next_cursor"]


def test_findings_pages_add_up_to_the_whole(client: TestClient, admin: Any) -> None:
    whole = _setup(client, admin.headers)
    url = f"{V}/environments/prod/blueprints/2/findings?limit=4"
    pages = _follow(client, admin.headers, url)
    assert [f for p in pages for f in p["items"]] == whole
    assert all(len(p["items"]) <= 4 for p in pages) and len(pages) == -(-len(whole) // 4)
    assert {p["total"] for p in pages} == {len(whole)}
    # Filters run on the server: one rule, one severity, a text, open findings only.
    rule = whole[0]["rule"]
    r = client.get(f"{url}&rule={rule}", headers=admin.headers).json()
    assert r["items"] and {f["rule"] for f in r["items"]} == {rule}
    assert r["matched"] == sum(f["rule"] == rule for f in whole)
    sev = whole[-1]["severity"]
    r = client.get(f"{url}&severity={sev}&limit=1000", headers=admin.headers).json()
    assert r["items"] == [f for f in whole if f["severity"] == sev]
    word = whole[0]["component"].split("/")[-1].upper()
    r = client.get(f"{url}&q={word}&limit=1000", headers=admin.headers).json()
    assert whole[0] in r["items"]
    r = client.get(f"{url}&suppressed=false&limit=1000", headers=admin.headers).json()
    assert r["items"] == [f for f in whole if not f["suppressed"]]
    missing = client.get(f"{V}/environments/prod/blueprints/9/findings", headers=admin.headers)
    assert missing.status_code == 404


def test_diff_pages_add_up_to_the_whole(client: TestClient, admin: Any) -> None:
    _setup(client, admin.headers)
    pipeline.clear_cache()
    computed = pipeline.cache_stats()["diff"]["computed"]
    base = f"{V}/environments/prod/diff?from=1&to=2"
    whole = client.get(base, headers=admin.headers).json()
    assert whole["next_cursor"] is None and whole["total_lines"] > 6
    pages = _follow(client, admin.headers, f"{base}&limit=5")
    assert "".join(p["diff"] for p in pages) == whole["diff"]
    assert all(p["diff"].count("\n") <= 5 for p in pages)
    assert {p["total_lines"] for p in pages} == {whole["total_lines"]}
    # The diff was computed once; every page after it was cut from the cached lines.
    assert pipeline.cache_stats()["diff"]["computed"] == computed + 1


def _apply(a: list[str], diff: list[str]) -> list[str]:
    """Apply a unified diff to ``a`` (hunks in order; context lines must match)."""
    out: list[str] = []
    pos = 0
    for line in diff[2:]:
        if line.startswith("@@ "):
            start = int(line.split(" ")[1][1:].split(",")[0])
            length = line.split(" ")[1].partition(",")[2]
            at = start if length == "0" else start - 1
            out += a[pos:at]
            pos = at
        elif line[0] == " ":
            assert a[pos] == line[1:]
            out.append(line[1:])
            pos += 1
        elif line[0] == "-":
            assert a[pos] == line[1:]
            pos += 1
        else:
            out.append(line[1:])
    return out + a[pos:]


def test_the_trimmed_diff_is_a_correct_diff() -> None:
    """The diff skips the texts' common beginning and end before difflib: applied to the old
    text it gives the new one, and on distinct lines it is difflib's diff of the whole."""
    rng = random.Random(3)
    for base in ([f"line {i % 40}\n" for i in range(400)], [f"line {i}\n" for i in range(400)]):
        cases = [(base, base), (base, base[:-1]), (base, base[1:]), (base, [])]
        for _ in range(60):
            new = list(base)
            for _ in range(rng.randrange(1, 4)):
                i = rng.randrange(len(new))
                op = rng.choice(("edit", "insert", "delete"))
                if op == "edit":
                    new[i] = f"changed {i}\n"
                elif op == "insert":
                    new.insert(i, f"new {i}\n")
                else:
                    del new[i]
            cases.append((base, new))
        distinct = len(set(base)) == len(base)
        for a, b in cases:
            got = pipeline.diff_lines("".join(a), "".join(b), fromfile="a", tofile="b")
            assert _apply(a, got) == b if got else a == b
            if distinct and len(set(b)) == len(b):
                assert got == list(difflib.unified_diff(a, b, "a", "b"))


def test_version_list_counts_findings_and_pages_on_the_server(
    client: TestClient, admin: Any
) -> None:
    whole = _setup(client, admin.headers)
    client.post(
        f"{V}/environments/prod/blueprints", headers=admin.headers, json={"source": FRAGILE}
    )
    url = f"{V}/environments/prod/blueprints"
    listed = client.get(url, headers=admin.headers).json()
    assert [v["version"] for v in listed] == [3, 2, 1]
    # Counts, not the findings themselves (those are paged by list_findings).
    assert all("findings" not in v and "source" not in v for v in listed)
    second = listed[1]
    assert second["findings_count"] == len(whole)
    severities = {f["severity"] for f in whole}
    assert second["findings_by_severity"] == {
        s: sum(f["severity"] == s for f in whole) for s in severities
    }
    # Newest first, a page at a time: `before` is the last version of the previous page.
    first = client.get(f"{url}?limit=2", headers=admin.headers).json()
    assert [v["version"] for v in first] == [3, 2]
    rest = client.get(f"{url}?limit=2&before=2", headers=admin.headers).json()
    assert rest == listed[2:]
    assert client.get(f"{url}?limit=0", headers=admin.headers).status_code == 422
