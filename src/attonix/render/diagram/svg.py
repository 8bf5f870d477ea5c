"""The architecture graph as a self-contained SVG: one band per layer, nodes in rows (hosts
in one column per zone), arrows for the flows. Every coordinate is computed here from the
graph alone, so the same blueprint always gives the same bytes."""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from attonix.render.diagram._graph import Edge, Graph, Node

MARGIN = 24
HEADER_H = 64
LABEL_W = 172
NODE_W = 170
NODE_H = 50
HOST_H = 38
GAP = 16
COLS = 7
BAND_PAD = 14
CONTENT_W = COLS * NODE_W + (COLS - 1) * GAP
WIDTH = MARGIN * 2 + LABEL_W + CONTENT_W
#: band key -> (band background, node fill, node stroke)
PALETTE: dict[str, tuple[str, str, str]] = {
    "lb": ("#f3f0ff", "#e5dbff", "#7048e8"),
    "frontend": ("#e7f5ff", "#d0ebff", "#1c7ed6"),
    "backend": ("#e6fcf5", "#c3fae8", "#0ca678"),
    "database": ("#fff9db", "#fff3bf", "#f08c00"),
    "cluster": ("#f1f3f5", "#e9ecef", "#495057"),
    "host": ("#f8f9fa", "#ffffff", "#868e96"),
    "storage": ("#fff4e6", "#ffe8cc", "#e8590c"),
    "security": ("#fff5f5", "#ffe3e3", "#e03131"),
    "cicd": ("#f8f0fc", "#f3d9fa", "#ae3ec9"),
    "config": ("#f4fce3", "#e9fac8", "#66a80f"),
}
EDGE_COLOURS = {"traffic": "#7048e8", "api": "#1c7ed6", "data": "#f08c00"}
_CHAR_W = {"label": 7.6, "sub": 5.7}


@dataclass(frozen=True, slots=True)
class Box:
    """Where a node is drawn."""

    x: float
    y: float
    w: float
    h: float


def _fit(text: str, width: float, kind: str) -> str:
    """``text`` cut with an ellipsis to fit ``width`` pixels (a sans-serif estimate)."""
    room = int((width - 16) / _CHAR_W[kind])
    return text if len(text) <= room else text[: max(1, room - 1)] + "…"


def layout(graph: Graph) -> tuple[dict[str, Box], list[tuple[str, str, float, float]], float]:
    """Boxes by node id, band rectangles (key, title, y, height) and the total height."""
    boxes: dict[str, Box] = {}
    bands: list[tuple[str, str, float, float]] = []
    y: float = MARGIN + HEADER_H
    x0 = MARGIN + LABEL_W
    for band in graph.bands:
        top = y
        y += BAND_PAD
        if band.key == "host":
            y = _layout_hosts(band.nodes, boxes, x0=x0, y=y)
        else:
            for i, node in enumerate(band.nodes):
                row, col = divmod(i, COLS)
                in_row = min(COLS, len(band.nodes) - row * COLS)
                # Centre short rows, so arrows between bands stay short and mostly vertical.
                offset = (CONTENT_W - (in_row * NODE_W + (in_row - 1) * GAP)) / 2
                boxes[node.id] = Box(
                    x0 + offset + col * (NODE_W + GAP), y + row * (NODE_H + GAP), NODE_W, NODE_H
                )
            rows = (len(band.nodes) + COLS - 1) // COLS
            y += rows * NODE_H + (rows - 1) * GAP
        y += BAND_PAD
        bands.append((band.key, band.title, top, y - top))
        y += GAP
    return boxes, bands, y - GAP + MARGIN


def _layout_hosts(nodes: list[Node], boxes: dict[str, Box], *, x0: float, y: float) -> float:
    """One column per zone (a row of at most COLS zones), hosts stacked inside it."""
    zones = list(dict.fromkeys(n.group for n in nodes))
    per_row = min(len(zones), COLS)
    col_w = (CONTENT_W - (per_row - 1) * GAP) / per_row
    row_top, bottom = y, y
    for zi, zone in enumerate(zones):
        zrow, zcol = divmod(zi, per_row)
        if zrow and zcol == 0:
            row_top = bottom + GAP
        x = x0 + zcol * (col_w + GAP)
        members = [n for n in nodes if n.group == zone]
        boxes[f"zone-{zone}"] = Box(x, row_top, col_w, 22)
        for i, node in enumerate(members):
            boxes[node.id] = Box(x, row_top + 26 + i * (HOST_H + 6), col_w, HOST_H)
        bottom = max(bottom, row_top + 26 + len(members) * (HOST_H + 6) - 6)
    return bottom


def _edge_path(a: Box, b: Box) -> str:
    if abs(a.y - b.y) < 1:
        # Same band: a curve dipping below the row.
        x1, x2 = a.x + a.w / 2, b.x + b.w / 2
        y1 = a.y + a.h
        dip = y1 + 26
        return f"M{x1:.1f},{y1:.1f} C{x1:.1f},{dip:.1f} {x2:.1f},{dip:.1f} {x2:.1f},{y1 + 3:.1f}"
    if b.y < a.y:
        x1, y1 = a.x + a.w / 2, a.y
        x2, y2 = b.x + b.w / 2, b.y + b.h + 3
    else:
        x1, y1 = a.x + a.w / 2, a.y + a.h
        x2, y2 = b.x + b.w / 2, b.y - 3
    mid = (y1 + y2) / 2
    return f"M{x1:.1f},{y1:.1f} C{x1:.1f},{mid:.1f} {x2:.1f},{mid:.1f} {x2:.1f},{y2:.1f}"


def _node(node: Node, box: Box, *, band: str) -> str:
    _, fill, stroke = PALETTE[band]
    label = _fit(node.label, box.w, "label")
    sub = _fit(node.subtitle, box.w, "sub")
    cx = box.x + box.w / 2
    tall = box.h >= NODE_H
    ly = box.y + (19 if tall else 16)
    sy = box.y + (36 if tall else 30)
    title = node.label + (f" — {node.subtitle}" if node.subtitle else "")
    parts = [
        f"<g id={quoteattr('node-' + node.id)} class={quoteattr('node ' + node.kind)}>",
        f"<title>{escape(title)}</title>",
        f'<rect x="{box.x:.1f}" y="{box.y:.1f}" width="{box.w:.1f}" height="{box.h:.1f}" '
        f'rx="8" fill="{fill}" stroke="{stroke}" stroke-width="1.4"/>',
        f'<text x="{cx:.1f}" y="{ly:.1f}" class="label">{escape(label)}</text>',
    ]
    if sub:
        parts.append(f'<text x="{cx:.1f}" y="{sy:.1f}" class="sub">{escape(sub)}</text>')
    parts.append("</g>")
    return "".join(parts)


def render_svg(graph: Graph, *, title: str, description: str) -> str:
    """The SVG document of ``graph``."""
    boxes, bands, height = layout(graph)
    kind_of = {n.id: b.key for b in graph.bands for n in b.nodes}
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
        f'viewBox="0 0 {WIDTH} {height:.0f}" role="img" aria-labelledby="title desc">',
        f'<title id="title">{escape(title)}</title>',
        f'<desc id="desc">{escape(description)}</desc>',
        "<style>"
        "text{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;text-anchor:middle;fill:#212529}"
        ".label{font-size:13px;font-weight:600}.sub{font-size:10.5px;fill:#495057}"
        ".band-title{font-size:14px;font-weight:700;text-anchor:start}"
        ".zone{font-size:11px;font-weight:700;fill:#495057}"
        ".heading{font-size:20px;font-weight:700;text-anchor:start}"
        ".legend{font-size:11px;text-anchor:start;fill:#495057}"
        ".edge{fill:none;stroke-width:1.6;opacity:.85}"
        "</style>",
        "<defs>",
    ]
    for kind, colour in EDGE_COLOURS.items():
        out.append(
            f'<marker id="arrow-{kind}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
            f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
            f'fill="{colour}"/></marker>'
        )
    out.append("</defs>")
    out.append(f'<rect width="{WIDTH}" height="{height:.0f}" fill="#ffffff"/>')
    out.append(f'<text x="{MARGIN}" y="{MARGIN + 22}" class="heading">{escape(title)}</text>')
    lx = MARGIN
    for kind, colour in EDGE_COLOURS.items():
        lx_text = {"traffic": "load balancer → workload", "api": "calls", "data": "reads/writes"}
        out.append(
            f'<line x1="{lx}" y1="{MARGIN + 44}" x2="{lx + 26}" y2="{MARGIN + 44}" '
            f'stroke="{colour}" stroke-width="2" marker-end="url(#arrow-{kind})"/>'
            f'<text x="{lx + 34}" y="{MARGIN + 48}" class="legend">{lx_text[kind]}</text>'
        )
        lx += 200
    for key, band_title, y, h in bands:
        bg, _, stroke = PALETTE[key]
        out.append(
            f'<g class="band" id="band-{key}"><rect x="{MARGIN}" y="{y:.1f}" '
            f'width="{WIDTH - 2 * MARGIN}" height="{h:.1f}" rx="10" fill="{bg}"/>'
            f'<rect x="{MARGIN}" y="{y:.1f}" width="5" height="{h:.1f}" fill="{stroke}"/>'
            f'<text x="{MARGIN + 16}" y="{y + 26:.1f}" class="band-title">'
            f"{escape(band_title)}</text></g>"
        )
    for zone_key, box in sorted(boxes.items()):
        if zone_key.startswith("zone-"):
            out.append(
                f'<text x="{box.x + box.w / 2:.1f}" y="{box.y + 15:.1f}" class="zone">'
                f"{escape(zone_key.removeprefix('zone-'))}</text>"
            )
    # Edges before nodes: arrows pass behind boxes instead of over their labels.
    out.append('<g class="edges">')
    for edge in graph.edges:
        out.append(_edge(edge, boxes))
    out.append("</g>")
    out.append('<g class="nodes">')
    for band in graph.bands:
        for node in band.nodes:
            out.append(_node(node, boxes[node.id], band=kind_of[node.id]))
    out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _edge(edge: Edge, boxes: dict[str, Box]) -> str:
    colour = EDGE_COLOURS[edge.kind]
    return (
        f'<path class="edge {edge.kind}" data-from={quoteattr(edge.source)} '
        f"data-to={quoteattr(edge.target)} "
        f'd="{_edge_path(boxes[edge.source], boxes[edge.target])}" stroke="{colour}" '
        f'marker-end="url(#arrow-{edge.kind})"/>'
    )
