import { useState } from "react";
import { call } from "../api/client";
import type { components } from "../api/schema";
import { Diagram } from "../components/Diagram";
import { ProblemView } from "../components/ProblemView";
import { useAsync } from "../components/useAsync";
import { useApp } from "../context";
import { buildDiagram, findingsFor, lookOf, type Health } from "../lib/diagram";
import { Link } from "../router";
import { bySeverity } from "./findings";

type ComponentStatus = components["schemas"]["ComponentStatusOut"];

const TARGETS = ["kubernetes", "podman", "swarm"] as const;

export function Overview({ env }: { env: string }) {
  const { api } = useApp();
  const current = useAsync(async () => {
    const e = await call(api.GET("/api/v1/environments/{env}", { params: { path: { env } } }));
    if (!e.latest_version) return { env: e, version: null };
    const v = await call(api.GET("/api/v1/environments/{env}/blueprints/{version}", { params: { path: { env, version: e.latest_version } } }));
    return { env: e, version: v };
  }, env);
  // Live health comes separately: the engine may be slow, the diagram must not wait for it.
  const live = useAsync(() => call(api.GET("/api/v1/environments/{env}/status", { params: { path: { env } } })), env);
  const [selected, setSelected] = useState<string | null>(null);
  if (current.problem) return <ProblemView problem={current.problem} />;
  if (!current.data) return <p role="status">Loading…</p>;
  const v = current.data.version;
  if (!v) return <p className="notice">No blueprint yet. <Link to={`/envs/${env}/blueprints`}>Upload one</Link>.</p>;
  const model = buildDiagram(v.parsed);
  const findings = v.findings ?? [];
  const node = model.nodes.find((n) => n.id === selected) ?? null;
  const statuses = new Map<string, ComponentStatus>((live.data?.components ?? []).map((c) => [c.component, c]));
  const health: Record<string, Health> = Object.fromEntries([...statuses].map(([id, c]) => [id, c.state]));
  const counts = model.nodes.reduce<Record<string, number>>((acc, n) => {
    const look = lookOf(n, findings, health[n.id]);
    acc[look.findings] = (acc[look.findings] ?? 0) + 1;
    acc[look.health] = (acc[look.health] ?? 0) + 1;
    return acc;
  }, {});
  const source = live.data?.deployment_id
    ? `health from deployment #${live.data.deployment_id} (v${live.data.version ?? "?"} on ${live.data.target ?? "?"})${live.data.reachable ? "" : `: ${live.data.message}`}`
    : live.data ? `no live health: ${live.data.message}` : live.problem ? "live health unavailable" : "reading live health…";
  return (
    <>
      <p>
        Blueprint version <strong>{v.version}</strong> ({v.filename}), uploaded by {v.uploaded_by} on {new Date(v.created_at).toLocaleString()} ·{" "}
        {model.nodes.length} components · <Link to={`/envs/${env}/findings`}>{findings.length} finding{findings.length === 1 ? "" : "s"}</Link>
      </p>
      <div className="legend" aria-label="Legend">
        <span className="muted">Fill: live health</span>
        <span className="sev health-healthy">healthy: {counts.healthy ?? 0}</span>
        <span className="sev health-degraded">degraded: {counts.degraded ?? 0}</span>
        <span className="sev health-down">down: {counts.down ?? 0}</span>
        <span className="muted">(unknown: {counts.unknown ?? 0}, filled by findings) · Border: findings</span>
        <span className="sev state-ok">no findings: {counts.ok ?? 0}</span>
        <span className="sev state-warning">warnings: {counts.warning ?? 0}</span>
        <span className="sev state-error">high or critical: {counts.error ?? 0}</span>
        <span className="muted" data-testid="health-source">{source}</span>
      </div>
      <div className="overview">
        <Diagram model={model} findings={findings} health={health} selected={selected} onSelect={setSelected} />
        <aside className="card panel" aria-label="Component details" aria-live="polite">
          {node ? (
            <>
              <h2>{node.id}</h2>
              <p className="muted">{node.sub}</p>
              <dl className="facts">
                {node.details.map(([k, val]) => (
                  <div key={k} className="contents">
                    <dt>{k}</dt>
                    <dd>{val || "—"}</dd>
                  </div>
                ))}
                <dt>blueprint path</dt>
                <dd><code>{node.path}</code></dd>
              </dl>
              <h3>Live status</h3>
              <LiveStatus status={statuses.get(node.id)} />
              <h3>Findings</h3>
              {findingsFor(node, findings).sort(bySeverity).map((f, i) => (
                <div key={i} className={`finding sev-${f.severity}`}>
                  <span className={`sev sev-${f.severity}`}>{f.severity}</span> <code>{f.rule}</code> {f.message}
                  {f.hint ? <div className="hint">fix: {f.hint}</div> : null}
                  {f.line ? <Link to={`/envs/${env}/blueprints?v=${v.version}&line=${f.line}`}>line {f.line}</Link> : null}
                </div>
              ))}
              {findingsFor(node, findings).length === 0 ? <p>No findings.</p> : null}
              <Artifacts env={env} version={v.version} component={node.id} key={node.id} />
            </>
          ) : (
            <p>Select a component (click, or Tab then Enter) to see its details, findings and rendered files.</p>
          )}
        </aside>
      </div>
    </>
  );
}

function LiveStatus({ status }: { status: ComponentStatus | undefined }) {
  if (!status) return <p data-testid="live-status">Not run by a deploy target (health unknown).</p>;
  return (
    <p data-testid="live-status">
      <span className={`sev health-${status.state}`}>{status.state}</span>{" "}
      {status.state === "unknown" ? status.message : `${status.running}/${status.desired} running, ${status.healthy} healthy${status.message ? ` · ${status.message}` : ""}`}
    </p>
  );
}

function Artifacts({ env, version, component }: { env: string; version: number; component: string }) {
  const { api } = useApp();
  const [target, setTarget] = useState<(typeof TARGETS)[number]>("kubernetes");
  const files = useAsync(
    () => call(api.GET("/api/v1/environments/{env}/blueprints/{version}/renders/{target}/files", { params: { path: { env, version, target } } })),
    `${env}/${version}/${target}`,
  );
  // The renderer says which component each file belongs to.
  const mine = (files.data ?? []).filter((f) => f.component === component);
  return (
    <>
      <h3>Rendered files</h3>
      <label className="env-inline">
        Target{" "}
        <select aria-label="Target" value={target} onChange={(e) => setTarget(e.target.value as (typeof TARGETS)[number])}>
          {TARGETS.map((t) => <option key={t}>{t}</option>)}
        </select>
      </label>
      <ProblemView problem={files.problem} />
      {files.loading ? <p role="status">Rendering…</p> : null}
      {!files.loading && !files.problem && mine.length === 0 ? <p>No {target} files belong to this component.</p> : null}
      {mine.slice(0, 8).map((f) => (
        <RenderedFile key={f.path} env={env} version={version} target={target} path={f.path} size={f.size} />
      ))}
      {mine.length > 8 ? <p className="muted">and {mine.length - 8} more</p> : null}
    </>
  );
}

/** One file, its text fetched when opened. */
function RenderedFile({ env, version, target, path, size }: { env: string; version: number; target: string; path: string; size: number }) {
  const { api } = useApp();
  const [open, setOpen] = useState(false);
  const text = useAsync(
    async () => (open ? call(api.GET("/api/v1/environments/{env}/blueprints/{version}/renders/{target}/files/{path}", { params: { path: { env, version, target, path } } })) : null),
    `${env}/${version}/${target}/${path}/${String(open)}`,
  );
  return (
    <details onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary><code>{path}</code> <span className="muted">{size} bytes</span></summary>
      <ProblemView problem={text.problem} />
      {text.data ? <pre tabIndex={0}>{text.data.text}</pre> : open ? <p role="status">Loading…</p> : null}
    </details>
  );
}
