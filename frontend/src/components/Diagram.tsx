import { useEffect, useRef, useState, type KeyboardEvent, type PointerEvent } from "react";
import { MIN_WIDTH, layout, lookOf, routeEdge, searchNodes, type DiagramModel, type FindingLike, type Health } from "../lib/diagram";

interface Props {
  model: DiagramModel;
  findings: readonly FindingLike[];
  health?: Record<string, Health>;
  selected: string | null;
  onSelect: (id: string) => void;
}

const ZOOMS = [0.5, 0.67, 0.8, 1, 1.25, 1.5, 2];
const [MIN_ZOOM, MAX_ZOOM] = [0.5, 2];

/**
 * The architecture drawn as SVG at its true size (labels stay readable at any count): one band
 * per layer wrapped to the width available, boxes filled by live health (when known) and
 * bordered by their worst finding, links routed around the boxes. Zoom with the buttons or
 * Ctrl+wheel, pan by dragging or scrolling, find a component by name, kind or id.
 */
export function Diagram({ model, findings, health = {}, selected, onSelect }: Props) {
  const viewport = useRef<HTMLDivElement>(null);
  const [avail, setAvail] = useState(1180);
  const [zoom, setZoom] = useState(1);
  const [query, setQuery] = useState("");
  const drag = useRef<{ x: number; y: number; left: number; top: number } | null>(null);

  useEffect(() => {
    const el = viewport.current;
    if (!el) return;
    const measure = () => setAvail(el.clientWidth);
    measure();
    const seen = new ResizeObserver(measure);
    seen.observe(el);
    // Ctrl+wheel zooms (React's wheel listener is passive and cannot keep the page from zooming).
    const wheel = (e: WheelEvent) => {
      if (!e.ctrlKey) return;
      e.preventDefault();
      setZoom((z) => step(z, e.deltaY < 0 ? 1 : -1));
    };
    el.addEventListener("wheel", wheel, { passive: false });
    return () => {
      seen.disconnect();
      el.removeEventListener("wheel", wheel);
    };
  }, []);

  const l = layout(model, Math.max(MIN_WIDTH, Math.floor((avail - 2) / zoom)));
  const matches = searchNodes(model, query);
  const matched = new Set(matches.map((n) => n.id));
  const linked = new Set(
    selected ? model.edges.filter((e) => e.from === selected || e.to === selected).flatMap((e) => [e.from, e.to]) : [],
  );
  const show = (id: string) => {
    onSelect(id);
    const el = viewport.current?.querySelector<SVGGElement>(`[data-component="${CSS.escape(id)}"]`);
    el?.scrollIntoView({ block: "center", inline: "center" });
    el?.focus({ preventScroll: true });
  };
  const key = (id: string) => (e: KeyboardEvent) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      onSelect(id);
    }
  };
  const grab = (e: PointerEvent<HTMLDivElement>) => {
    const el = viewport.current;
    if (!el || e.button !== 0 || (e.target as Element).closest(".node")) return;
    drag.current = { x: e.clientX, y: e.clientY, left: el.scrollLeft, top: el.scrollTop };
    el.setPointerCapture(e.pointerId);
  };
  const move = (e: PointerEvent<HTMLDivElement>) => {
    const el = viewport.current;
    const d = drag.current;
    if (!el || !d) return;
    el.scrollLeft = d.left - (e.clientX - d.x);
    el.scrollTop = d.top - (e.clientY - d.y);
  };
  const release = () => {
    drag.current = null;
  };
  return (
    <div className="diagram-frame">
      <div className="diagram-tools" role="toolbar" aria-label="Diagram view">
        <label className="diagram-find">
          Find a component
          <input
            type="search"
            value={query}
            placeholder="name, kind or id"
            onChange={(e) => setQuery(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === "Enter" && matches[0]) {
                e.preventDefault();
                show(matches[0].id);
              }
            }}
          />
        </label>
        <span className="muted" role="status">
          {query.trim() ? `${matches.length} found${matches.length ? " · Enter shows the first" : ""}` : ""}
        </span>
        <span className="zoom">
          <button type="button" aria-label="Zoom out" disabled={zoom <= MIN_ZOOM} onClick={() => setZoom((z) => step(z, -1))}>−</button>
          <span aria-live="polite" data-testid="diagram-zoom">{Math.round(zoom * 100)}%</span>
          <button type="button" aria-label="Zoom in" disabled={zoom >= MAX_ZOOM} onClick={() => setZoom((z) => step(z, 1))}>+</button>
          <button type="button" onClick={() => setZoom(1)} disabled={zoom === 1}>Actual size</button>
        </span>
      </div>
      <div
        className="diagram-viewport"
        ref={viewport}
        tabIndex={0}
        role="region"
        aria-label="Diagram area: scroll or drag to pan"
        onPointerDown={grab}
        onPointerMove={move}
        onPointerUp={release}
        onPointerCancel={release}
      >
        <svg
          className="diagram"
          width={l.width * zoom}
          height={l.height * zoom}
          viewBox={`0 0 ${l.width} ${l.height}`}
          role="group"
          aria-label="Architecture diagram"
        >
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
              return <path key={i} d={routeEdge(a, b, l)} className={hot ? "edge hot" : "edge"} />;
            })}
          </g>
          {[...l.placed.values()].map(({ node, x, y }) => {
            const look = lookOf(node, findings, health[node.id]);
            const name = node.name.length > 20 ? `${node.name.slice(0, 19)}…` : node.name;
            const sub = node.sub.length > 24 ? `${node.sub.slice(0, 23)}…` : node.sub;
            const faded = query.trim() ? !matched.has(node.id) : selected !== null && !linked.has(node.id) && node.id !== selected;
            const cls = ["node", ...look.classes, node.id === selected ? "selected" : "", matched.has(node.id) ? "match" : "", faded ? "dim" : ""];
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
                <text x={10} y={37} className="sub">{" "}{sub}</text>
                {look.health !== "unknown" && look.findings !== "ok" ? <circle cx={l.boxW - 9} cy={9} r={5} className={`badge badge-${look.findings}`} /> : null}
              </g>
            );
          })}
        </svg>
      </div>
    </div>
  );
}

/** The next zoom level up (+1) or down (-1) from `z`. */
function step(z: number, dir: 1 | -1): number {
  const i = ZOOMS.findIndex((v) => v >= z - 1e-9);
  const at = i < 0 ? ZOOMS.length - 1 : i;
  return ZOOMS[Math.min(ZOOMS.length - 1, Math.max(0, at + dir))] ?? 1;
}
