import { useState } from "react";
import { call } from "../api/client";
import { ApiProblem, toProblem } from "../api/problem";
import { Diagram } from "../components/Diagram";
import { ProblemView } from "../components/ProblemView";
import { useAsync } from "../components/useAsync";
import { useApp } from "../context";
import { buildDiagram, findingsFor, stateOf } from "../lib/diagram";
import { gunzip, untar, type TarFile } from "../lib/tar";
import { Link } from "../router";
import { asFindings, bySeverity } from "./findings";

const TARGETS = ["kubernetes", "podman", "swarm"] as const;

export function Overview({ env }: { env: string }) {
  const { api } = useApp();
  const current = useAsync(async () => {
    const e = await call(api.GET("/api/v1/environments/{env}", { params: { path: { env } } }));
    if (!e.latest_version) return { env: e, version: null };
    const v = await call(api.GET("/api/v1/environments/{env}/blueprints/{version}", { params: { path: { env, version: e.latest_version } } }));
    return { env: e, version: v };
  }, env);
  const [selected, setSelected] = useState<string | null>(null);
  if (current.problem) return <ProblemView problem={current.problem} />;
  if (!current.data) return <p role="status">Loading…</p>;
  const v = current.data.version;
  if (!v) return <p className="notice">No blueprint yet. <Link to={`/envs/${env}/blueprints`}>Upload one</Link>.</p>;
  const model = buildDiagram(v.parsed);
  const findings = asFindings(v.findings);
  const node = model.nodes.find((n) => n.id === selected) ?? null;
  const counts = model.nodes.reduce<Record<string, number>>((acc, n) => {
    const s = stateOf(n, findings);
    acc[s] = (acc[s] ?? 0) + 1;
    return acc;
  }, {});
  return (
    <>
      <p>
        Blueprint version <strong>{v.version}</strong> ({v.filename}), uploaded by {v.uploaded_by} on {new Date(v.created_at).toLocaleString()} ·{" "}
        {model.nodes.length} components · <Link to={`/envs/${env}/findings`}>{findings.length} finding{findings.length === 1 ? "" : "s"}</Link>
      </p>
      <div className="legend" aria-label="Legend">
        <span className="sev state-ok">no findings: {counts.ok ?? 0}</span>
        <span className="sev state-warning">warnings: {counts.warning ?? 0}</span>
        <span className="sev state-error">high or critical: {counts.error ?? 0}</span>
        <span className="muted">Health of live components is not reported by the API; colours come from policy findings.</span>
      </div>
      <div className="overview">
        <Diagram model={model} findings={findings} selected={selected} onSelect={setSelected} />
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
              <h3>Findings</h3>
              {findingsFor(node, findings).sort(bySeverity).map((f, i) => (
                <div key={i} className={`finding sev-${f.severity}`}>
                  <span className={`sev sev-${f.severity}`}>{f.severity}</span> <code>{f.rule}</code> {f.message}
                  {f.hint ? <div className="hint">fix: {f.hint}</div> : null}
                  {f.line ? <Link to={`/envs/${env}/blueprints?v=${v.version}&line=${f.line}`}>line {f.line}</Link> : null}
                </div>
              ))}
              {findingsFor(node, findings).length === 0 ? <p>No findings.</p> : null}
              <Artifacts env={env} version={v.version} component={node.name} key={node.id} />
            </>
          ) : (
            <p>Select a component (click, or Tab then Enter) to see its details, findings and rendered files.</p>
          )}
        </aside>
      </div>
    </>
  );
}

function Artifacts({ env, version, component }: { env: string; version: number; component: string }) {
  const { api } = useApp();
  const [target, setTarget] = useState<(typeof TARGETS)[number]>("kubernetes");
  const files = useAsync(async (): Promise<TarFile[]> => {
    const { data, error, response } = await api.GET("/api/v1/environments/{env}/blueprints/{version}/render/{target}", {
      params: { path: { env, version, target } },
      parseAs: "blob",
    });
    if (error !== undefined || !response.ok || !(data instanceof Blob)) throw new ApiProblem(toProblem(error, response.status));
    return untar(await gunzip(data));
  }, `${env}/${version}/${target}`);
  // Rendered paths carry the component's name (…/attonix-server/deployment.yaml).
  const mine = (files.data ?? []).filter((f) => f.path.split(/[/._]/).includes(component) || f.path.includes(`${component}-`) || f.path.includes(`/${component}`));
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
      {!files.loading && !files.problem && mine.length === 0 ? <p>No {target} files mention this component.</p> : null}
      {mine.slice(0, 8).map((f) => (
        <details key={f.path}>
          <summary><code>{f.path}</code></summary>
          <pre>{f.text}</pre>
        </details>
      ))}
      {mine.length > 8 ? <p className="muted">and {mine.length - 8} more</p> : null}
    </>
  );
}
