"""The diagram target: a well-formed, accessible SVG with a labelled node for every host,
cluster, database, service and load balancer, and arrows for the flows; Mermaid alike."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from attonix.blueprint.loader import load_file
from attonix.blueprint.model import Blueprint
from attonix.render.registry import render

SVG = "{http://www.w3.org/2000/svg}"
MAX_BYTES = 2_000_000


@pytest.fixture
def example(example_path: Path) -> Blueprint:
    return load_file(example_path).blueprint


def _svg(bp: Blueprint) -> ET.Element:
    text = {a.path: a.text() for a in render(bp, "diagram")}["diagram/architecture.svg"]
    assert len(text.encode()) < MAX_BYTES
    assert "<!DOCTYPE" not in text and "<!ENTITY" not in text
    # Our own output, size-checked and without a DTD: no entity expansion to fear.
    return ET.fromstring(text)


def _nodes(root: ET.Element) -> dict[str, str]:
    out = {}
    for g in root.iter(f"{SVG}g"):
        if (g.get("class") or "").startswith("node "):
            label = g.find(f"{SVG}text")
            assert label is not None
            out[g.get("id", "")] = label.text or ""
    return out


def test_accessible_and_well_formed(example: Blueprint) -> None:
    root = _svg(example)
    assert root.get("role") == "img" and root.get("aria-labelledby") == "title desc"
    assert root.find(f"{SVG}title").text == "attonixcorp — prod architecture"  # type: ignore[union-attr]
    desc = root.find(f"{SVG}desc").text or ""  # type: ignore[union-attr]
    assert "Hosts by zone: 20" in desc and "Databases: 4" in desc


def test_a_labelled_node_for_every_component(example: Blueprint) -> None:
    nodes = _nodes(_svg(example))
    expected = {
        **{f"node-host-{h.name}": h.name for h in example.hosts},
        **{f"node-cluster-{c.name}": c.name for c in example.orchestration.clusters},
        **{f"node-database-{d.name}": d.name for d in example.databases},
        **{f"node-service-{s.name}": s.name for s in example.services.backend},
        **{f"node-frontend-{f.name}": f.name for f in example.services.frontend},
        **{f"node-lb-{lb.name}": lb.name for lb in example.ha.load_balancers},
    }
    assert {k: nodes.get(k) for k in expected} == expected
    for layer in (
        "node-ceph-ceph-main",
        "node-openstack-openstack-main",
        "node-zuul",
        "node-firewall",
        "node-chef",
        "node-pipeline-attonix-server",
    ):
        assert layer in nodes


def test_arrows_for_flows(example: Blueprint) -> None:
    root = _svg(example)
    edges = {
        (p.get("data-from"), p.get("data-to"), (p.get("class") or "").split()[-1])
        for p in root.iter(f"{SVG}path")
        if "edge" in (p.get("class") or "")
    }
    assert ("frontend-attonix-console", "service-attonix-server", "api") in edges
    for svc in example.services.backend:
        for db in svc.databases:
            assert (f"service-{svc.name}", f"database-{db}", "data") in edges
    assert ("lb-lb-edge", "frontend-attonix-console", "traffic") in edges
    assert ("service-orders-api", "service-events-api", "api") in edges
    for p in root.iter(f"{SVG}path"):
        if "edge" in (p.get("class") or ""):
            assert re.fullmatch(
                r"M[\d.]+,[\d.]+ C[\d.]+,[\d.]+ [\d.]+,[\d.]+ [\d.]+,[\d.]+", p.get("d", "")
            )


def test_hosts_grouped_by_zone_without_overlap(example: Blueprint) -> None:
    root = _svg(example)
    rects = {}
    for g in root.iter(f"{SVG}g"):
        if (g.get("class") or "").startswith("node "):
            r = g.find(f"{SVG}rect")
            assert r is not None
            rects[g.get("id")] = tuple(float(r.get(k, "0")) for k in ("x", "y", "width", "height"))
    boxes = list(rects.values())
    for i, (x, y, w, h) in enumerate(boxes):
        for x2, y2, w2, h2 in boxes[i + 1 :]:
            assert x + w <= x2 or x2 + w2 <= x or y + h <= y2 or y2 + h2 <= y
    zone_x = {}
    for h in example.hosts:
        zone_x.setdefault(h.zone, set()).add(rects[f"node-host-{h.name}"][0])
    assert all(len(xs) == 1 for xs in zone_x.values())
    assert len({next(iter(xs)) for xs in zone_x.values()}) == len(zone_x)


def test_text_is_escaped(example_path: Path, tmp_path: Path) -> None:
    data = yaml.safe_load(example_path.read_text(encoding="utf-8"))
    # The managed database's region is free text that the diagram shows.
    data["databases"][3]["managed"]["region"] = "<b>&x</b>"
    path = tmp_path / "datacenter.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    bp = load_file(path).blueprint
    arts = {a.path: a.text() for a in render(bp, "diagram")}
    root = _svg(bp)  # still well-formed
    svg = arts["diagram/architecture.svg"]
    assert "<b>" not in svg and "&lt;b&gt;&amp;x&lt;/b&gt;" in svg
    (node,) = [g for g in root.iter(f"{SVG}g") if g.get("id") == "node-database-analytics"]
    assert "<b>&x</b>" in (node.find(f"{SVG}title").text or "")  # type: ignore[union-attr]
    assert "#lt;b#gt;#amp;x#lt;/b#gt;" in arts["diagram/architecture.mmd"]


def test_mermaid_mirrors_the_graph(example: Blueprint) -> None:
    mmd = {a.path: a.text() for a in render(example, "diagram")}["diagram/architecture.mmd"]
    assert mmd.splitlines()[3] == "flowchart TB"
    for h in example.hosts:
        assert f'n_host_{h.name.replace("-", "_")}["{h.name}"]' in mmd
    assert "n_service_attonix_server -.-> n_database_pg_main" in mmd
    assert "n_frontend_attonix_console --> n_service_attonix_server" in mmd
    assert "n_lb_lb_edge ==> n_frontend_attonix_console" in mmd
    assert mmd.count("subgraph ") == 10 + 3  # ten layers, three zones


def test_deterministic(example: Blueprint) -> None:
    assert [a.text() for a in render(example, "diagram")] == [
        a.text() for a in render(example, "diagram")
    ]
