import { useState, type SyntheticEvent } from "react";
import { call } from "../api/client";
import { ApiProblem, problemOf, type Problem } from "../api/problem";
import { can } from "../auth/roles";
import { CodeView, type Diagnostic } from "../components/CodeView";
import { DiffView } from "../components/DiffView";
import { ProblemView } from "../components/ProblemView";
import { useAsync } from "../components/useAsync";
import { useApp } from "../context";
import { navigate, useLocation } from "../router";
import { IdentityPlans } from "./IdentityPlans";
import type { components } from "../api/schema";

function diagnosticsOf(problem: Problem): Diagnostic[] {
  return (problem.diagnostics ?? []).map((d) => ({
    line: d.line || 1,
    col: d.col || null,
    severity: d.severity,
    code: d.code,
    message: d.message,
    pointer: d.path || null,
    hint: d.hint || null,
  }));
}

export function Blueprints({ env }: { env: string }) {
  const { api, access } = useApp();
  const { query } = useLocation();
  const versions = useAsync(() => call(api.GET("/api/v1/environments/{env}/blueprints", { params: { path: { env } } })), env);
  const list = [...(versions.data ?? [])].sort((a, b) => b.version - a.version);
  const shown = Number(query.get("v") ?? list[0]?.version ?? 0);
  const line = query.get("line") ? Number(query.get("line")) : null;
  const [from, setFrom] = useState<number | null>(null);
  const [to, setTo] = useState<number | null>(null);
  const writable = can(access, "blueprint:write", env);
  return (
    <>
      <ProblemView problem={versions.problem} />
      {writable ? <Upload env={env} onStored={(v) => { versions.reload(); navigate(`/envs/${env}/blueprints?v=${v}`); }} /> : null}
      <IdentityPlans env={env} refresh={String(list.length)} />
      <section className="card" aria-labelledby="vers">
        <h2 id="vers">Versions</h2>
        <table className="grid">
          <thead>
            <tr><th scope="col">Version</th><th scope="col">File</th><th scope="col">Uploaded by</th><th scope="col">When</th><th scope="col">Findings</th><th scope="col">SHA-256</th><th scope="col"><span className="visually-hidden">View</span></th></tr>
          </thead>
          <tbody>
            {list.map((v) => (
              <tr key={v.version} aria-current={v.version === shown ? "true" : undefined}>
                <td>{v.version}</td>
                <td>{v.filename}</td>
                <td>{v.uploaded_by}</td>
                <td>{new Date(v.created_at).toLocaleString()}</td>
                <td>{v.findings_count}</td>
                <td><code>{v.sha256.slice(0, 12)}</code></td>
                <td><button onClick={() => navigate(`/envs/${env}/blueprints?v=${v.version}`)} aria-label={`View version ${v.version}`}>View</button></td>
              </tr>
            ))}
            {!versions.loading && list.length === 0 ? <tr><td colSpan={7}>No versions yet.</td></tr> : null}
          </tbody>
        </table>
        {list.length >= 2 ? (
          <form className="inline" onSubmit={(e) => e.preventDefault()} aria-label="Compare versions">
            <label>From
              <select aria-label="From" value={from ?? list[1]?.version} onChange={(e) => setFrom(Number(e.target.value))}>
                {list.map((v) => <option key={v.version} value={v.version}>v{v.version}</option>)}
              </select>
            </label>
            <label>To
              <select aria-label="To" value={to ?? list[0]?.version} onChange={(e) => setTo(Number(e.target.value))}>
                {list.map((v) => <option key={v.version} value={v.version}>v{v.version}</option>)}
              </select>
            </label>
          </form>
        ) : null}
      </section>
      {list.length >= 2 ? <Compare env={env} from={from ?? list[1]?.version ?? 1} to={to ?? list[0]?.version ?? 1} /> : null}
      {shown ? <Version env={env} version={shown} line={line} /> : null}
    </>
  );
}

function Version({ env, version, line }: { env: string; version: number; line: number | null }) {
  const { api } = useApp();
  const v = useAsync(() => call(api.GET("/api/v1/environments/{env}/blueprints/{version}", { params: { path: { env, version } } })), `${env}/${version}`);
  if (v.problem) return <ProblemView problem={v.problem} />;
  if (!v.data) return <p role="status">Loading…</p>;
  const diags: Diagnostic[] = (v.data.findings ?? [])
    .filter((f) => f.line)
    .map((f) => ({ line: f.line, col: f.col || null, severity: f.severity, code: f.rule, message: f.message, pointer: f.path || null, hint: f.hint || null }));
  return (
    <section className="card" aria-labelledby="src">
      <h2 id="src">Version {version} · {v.data.filename}</h2>
      <CodeView label={`Blueprint version ${version}`} text={v.data.source} diagnostics={diags} focusLine={line} />
    </section>
  );
}

function Compare({ env, from, to }: { env: string; from: number; to: number }) {
  const { api } = useApp();
  const texts = useAsync(async () => {
    const get = (version: number) => call(api.GET("/api/v1/environments/{env}/blueprints/{version}", { params: { path: { env, version } } }));
    const [a, b] = await Promise.all([get(from), get(to)]);
    return { a: a.source, b: b.source };
  }, `${env}/${from}/${to}`);
  return (
    <section className="card" aria-labelledby="cmp">
      <h2 id="cmp">Changes from v{from} to v{to}</h2>
      <ProblemView problem={texts.problem} />
      {texts.data ? <DiffView oldText={texts.data.a} newText={texts.data.b} oldLabel={`v${from}`} newLabel={`v${to}`} /> : null}
    </section>
  );
}

function Upload({ env, onStored }: { env: string; onStored: (version: number) => void }) {
  const { api } = useApp();
  const [source, setSource] = useState("");
  const [filename, setFilename] = useState("datacenter.yaml");
  const [problem, setProblem] = useState<Problem | null>(null);
  const [rejected, setRejected] = useState<{ text: string; diags: Diagnostic[] } | null>(null);
  const [busy, setBusy] = useState(false);
  const [stored, setStored] = useState<string>("");
  const [identity, setIdentity] = useState<components["schemas"]["IdentityDrift"] | null>(null);
  const pick = async (file: File | undefined) => {
    if (!file) return;
    setFilename(file.name);
    setSource(await file.text());
  };
  const submit = async (e: SyntheticEvent) => {
    e.preventDefault();
    setBusy(true);
    setProblem(null);
    setRejected(null);
    setStored("");
    try {
      const out = await call(api.POST("/api/v1/environments/{env}/blueprints", { params: { path: { env } }, body: { source, filename } }));
      setStored(`Stored as version ${out.version.version} with ${out.version.findings?.length ?? 0} findings.`);
      setIdentity(out.identity);
      onStored(out.version.version);
    } catch (err) {
      const p = problemOf(err);
      setProblem(p);
      if (err instanceof ApiProblem && p.diagnostics?.length) setRejected({ text: source, diags: diagnosticsOf(p) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="card" aria-labelledby="up">
      <h2 id="up">Upload a new version</h2>
      <form onSubmit={(e) => void submit(e)} className="upload">
        <div className="inline">
          <label>File <input type="file" accept=".yaml,.yml" onChange={(e) => void pick(e.target.files?.[0])} /></label>
          <label>File name <input value={filename} onChange={(e) => setFilename(e.target.value)} required /></label>
        </div>
        <label>
          Blueprint YAML
          <textarea aria-label="Blueprint YAML" name="source" rows={10} value={source} onChange={(e) => setSource(e.target.value)} required spellCheck={false} className="yaml" />
        </label>
        <button className="primary" type="submit" disabled={busy || !source}>Validate and store</button>
      </form>
      {stored ? <p className="ok-banner" role="status">{stored}</p> : null}
      {identity && (identity.created?.length ?? 0) + (identity.updated?.length ?? 0) + (identity.disabled?.length ?? 0) > 0 ? (
        <div className="notice">
          <p>
            Identity changes held for an identity administrator&apos;s approval (nothing was applied):{" "}
            {[...(identity.created ?? []), ...(identity.updated ?? []), ...(identity.disabled ?? [])].join(", ")}.
          </p>
          {(identity.warnings ?? []).length ? <p>Reaches other environments: {(identity.warnings ?? []).join("; ")}.</p> : null}
          {(identity.ignored ?? []).length ? <p>Ignored (other environments): {(identity.ignored ?? []).join(", ")}.</p> : null}
        </div>
      ) : null}
      <ProblemView problem={problem} />
      {rejected ? <CodeView label="Rejected blueprint" text={rejected.text} diagnostics={rejected.diags} /> : null}
    </section>
  );
}
