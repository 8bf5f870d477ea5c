"""The ``diagram`` target: ``diagram/architecture.svg`` and ``diagram/architecture.mmd``.

Both draw one graph of every layer of the blueprint — load balancers, frontend, backend
services, databases, clusters, hosts by zone, storage, security, CI/CD and configuration —
with arrows for load-balancer, API and data flows.
"""

from __future__ import annotations

from attonix.blueprint.model import Blueprint
from attonix.render.base import Artifact
from attonix.render.diagram._graph import Graph, build
from attonix.render.diagram.mermaid import render_mermaid
from attonix.render.diagram.svg import render_svg

__all__ = ["Graph", "build", "render"]


def _description(bp: Blueprint, graph: Graph) -> str:
    counts = {b.title: len(b.nodes) for b in graph.bands}
    layers = "; ".join(f"{k}: {v}" for k, v in counts.items())
    return (
        f"Architecture of {bp.metadata.name} ({bp.metadata.environment}), layer by layer from "
        f"load balancers down to configuration. {layers}. Arrows: {len(graph.edges)} flows "
        "(load balancer to workload, frontend and service calls, service to database)."
    )


def render(bp: Blueprint) -> list[Artifact]:
    """The SVG and Mermaid diagrams of ``bp``."""
    graph = build(bp)
    title = f"{bp.metadata.name} — {bp.metadata.environment} architecture"
    return [
        Artifact(
            "diagram",
            "diagram/architecture.svg",
            render_svg(graph, title=title, description=_description(bp, graph)),
            format="text",
        ),
        Artifact(
            "diagram", "diagram/architecture.mmd", render_mermaid(graph, title=title), format="text"
        ),
    ]
