import { useState } from "react";
import { call } from "../api/client";
import { ProblemView } from "../components/ProblemView";
import { useAsync } from "../components/useAsync";
import { useApp } from "../context";
import { SEVERITIES } from "../lib/diagram";
import { Link } from "../router";
import { bySeverity } from "./findings";

export function Findings({ env }: { env: string }) {
  const { api } = useApp();
  const latest = useAsync(async () => {
    const e = await call(api.GET("/api/v1/environments/{env}", { params: { path: { env } } }));
    if (!e.latest_version) return null;
    return call(api.GET("/api/v1/environments/{env}/blueprints/{version}", { params: { path: { env, version: e.latest_version } } }));
  }, env);
  const [severity, setSeverity] = useState("");
  const [rule, setRule] = useState("");
  const [component, setComponent] = useState("");
  if (latest.problem) return <ProblemView problem={latest.problem} />;
  if (latest.loading) return <p role="status">Loading…</p>;
  if (!latest.data) return <p className="notice">No blueprint yet.</p>;
  const all = [...(latest.data.findings ?? [])].sort(bySeverity);
  const rules = [...new Set(all.map((f) => f.rule))].sort();
  const components = [...new Set(all.map((f) => f.component).filter(Boolean))].sort();
  const rows = all.filter((f) => (!severity || f.severity === severity) && (!rule || f.rule === rule) && (!component || f.component === component));
  const version = latest.data.version;
  return (
    <>
      <p>Findings of blueprint version {version}: {all.length} in all, {rows.length} shown.</p>
      <form className="inline filters" aria-label="Filter findings" onSubmit={(e) => e.preventDefault()}>
        <label>Severity
          <select aria-label="Severity" value={severity} onChange={(e) => setSeverity(e.target.value)}>
            <option value="">all</option>
            {SEVERITIES.map((s) => <option key={s}>{s}</option>)}
          </select>
        </label>
        <label>Rule
          <select aria-label="Rule" value={rule} onChange={(e) => setRule(e.target.value)}>
            <option value="">all</option>
            {rules.map((r) => <option key={r}>{r}</option>)}
          </select>
        </label>
        <label>Component
          <select aria-label="Component" value={component} onChange={(e) => setComponent(e.target.value)}>
            <option value="">all</option>
            {components.map((c) => <option key={c}>{c}</option>)}
          </select>
        </label>
      </form>
      <table className="grid findings">
        <thead>
          <tr><th scope="col">Severity</th><th scope="col">Rule</th><th scope="col">Component</th><th scope="col">Finding and fix</th><th scope="col">Blueprint line</th></tr>
        </thead>
        <tbody>
          {rows.map((f, i) => (
            <tr key={i} className={f.suppressed ? "muted" : undefined}>
              <td><span className={`sev sev-${f.severity}`}>{f.severity}</span>{f.suppressed ? " (waived)" : ""}</td>
              <td><code>{f.rule}</code></td>
              <td>{f.component}</td>
              <td>
                {f.title ? <strong>{f.title}. </strong> : null}
                {f.message}
                {f.hint ? <div className="hint">fix: {f.hint}</div> : null}
              </td>
              <td>
                {f.line ? <Link to={`/envs/${env}/blueprints?v=${version}&line=${f.line}`}>{`line ${f.line}`}</Link> : "—"}
                {f.path ? <div><code>{f.path}</code></div> : null}
              </td>
            </tr>
          ))}
          {rows.length === 0 ? <tr><td colSpan={5}>No findings match.</td></tr> : null}
        </tbody>
      </table>
    </>
  );
}
