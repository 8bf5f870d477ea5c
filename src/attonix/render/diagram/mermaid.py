"""The architecture graph as a Mermaid flowchart: one subgraph per band, the same nodes and
edges as the SVG."""

from __future__ import annotations

import re

from attonix.render.diagram._graph import Graph

_ARROWS = {"traffic": "==>", "api": "-->", "data": "-.->"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def mermaid_id(node_id: str) -> str:
    """A Mermaid-safe identifier for a node id."""
    return "n_" + _UNSAFE.sub("_", node_id)


def _label(text: str) -> str:
    # Mermaid reads entity codes inside quoted labels; quotes and angle brackets must be coded.
    return (
        text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    )


def render_mermaid(graph: Graph, *, title: str) -> str:
    """The Mermaid source of ``graph``."""
    lines = ["---", f"title: {_label(title)}", "---", "flowchart TB"]
    for band in graph.bands:
        lines.append(f'  subgraph band_{band.key}["{_label(band.title)}"]')
        lines.append("    direction LR")
        if band.key == "host":
            for zone in dict.fromkeys(n.group for n in band.nodes):
                lines.append(f'    subgraph zone_{_UNSAFE.sub("_", zone)}["{_label(zone)}"]')
                for n in band.nodes:
                    if n.group == zone:
                        lines.append(f'      {mermaid_id(n.id)}["{_label(n.label)}"]')
                lines.append("    end")
        else:
            for n in band.nodes:
                text = _label(n.label) + (
                    f"<br/><small>{_label(n.subtitle)}</small>" if n.subtitle else ""
                )
                lines.append(f'    {mermaid_id(n.id)}["{text}"]')
        lines.append("  end")
    for e in graph.edges:
        lines.append(f"  {mermaid_id(e.source)} {_ARROWS[e.kind]} {mermaid_id(e.target)}")
    return "\n".join(lines) + "\n"
