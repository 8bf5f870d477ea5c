import type { KeyboardEvent } from "react";
import { layout, lookOf, type DiagramModel, type FindingLike, type Health } from "../lib/diagram";

interface Props {
  model: DiagramModel;
  findings: readonly FindingLike[];
  health?: Record<string, Health>;
  selected: string | null;
  onSelect: (id: string) => void;
}

/** The architecture drawn as SVG: one band per layer, boxes filled by live health (when known)
 * and bordered by their worst finding, links as lines. */
export function Diagram({ model, findings, health = {}, selected, onSelect }: Props) {
  const l = layout(model);
  const key = (id: string) => (e: KeyboardEvent) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      onSelect(id);
    }
  };
  const linked = new Set(
    selected ? model.edges.filter((e) => e.from === selected || e.to === selected).flatMap((e) => [e.from, e.to]) : [],
  );
  return (
    <svg className="diagram" viewBox={`0 0 ${l.width} ${l.height}`} role="group" aria-label="Architecture diagram">
      {l.rows.map((r, i) => (
        <g key={r.layer.id}>
          <rect x={0} y={r.y} width={l.width} height={r.height} className={i % 2 ? "band odd" : "band"} />
          <text x={10} y={r.y + 22} className="band-title">{r.layer.title}</text>
        </g>
      ))}
      <g className="edges" aria-hidden="true">
        {model.edges.map((e, i) => {
          const a = l.placed.get(e.from);
          const b = l.placed.get(e.to);
          if (!a || !b) return null;
          const hot = selected !== null && (e.from === selected || e.to === selected);
          return (
            <line
              key={i}
              x1={a.x + l.boxW / 2}
              y1={a.y + (b.y > a.y ? l.boxH : 0)}
              x2={b.x + l.boxW / 2}
              y2={b.y + (b.y > a.y ? 0 : l.boxH)}
              className={hot ? "edge hot" : "edge"}
            />
          );
        })}
      </g>
      {[...l.placed.values()].map(({ node, x, y }) => {
        const look = lookOf(node, findings, health[node.id]);
        const name = node.name.length > 20 ? `${node.name.slice(0, 19)}…` : node.name;
        const sub = node.sub.length > 26 ? `${node.sub.slice(0, 25)}…` : node.sub;
        const cls = ["node", ...look.classes, node.id === selected ? "selected" : "", selected && !linked.has(node.id) && node.id !== selected ? "dim" : ""];
        return (
          <g
            key={node.id}
            className={cls.filter(Boolean).join(" ")}
            transform={`translate(${x},${y})`}
            role="button"
            tabIndex={0}
            aria-pressed={node.id === selected}
            // The visible words first (speech input users say what they see), then the rest.
            aria-label={`${name} ${sub}: ${node.id}, ${look.text}`}
            data-component={node.id}
            data-state={look.findings}
            data-health={look.health}
            onClick={() => onSelect(node.id)}
            onKeyDown={key(node.id)}
          >
            <rect width={l.boxW} height={l.boxH} rx={6} />
            <text x={10} y={19} className="name">{name}</text>
            <text x={10} y={36} className="sub">{" "}{sub}</text>
            {look.health !== "unknown" && look.findings !== "ok" ? <circle cx={l.boxW - 9} cy={9} r={5} className={`badge badge-${look.findings}`} /> : null}
          </g>
        );
      })}
    </svg>
  );
}
