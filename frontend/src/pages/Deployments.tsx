import { useEffect, useState, type SyntheticEvent } from "react";
import { call } from "../api/client";
import { ApiProblem, problemOf, toProblem, type Problem } from "../api/problem";
import { can } from "../auth/roles";
import { ConfirmButton } from "../components/ConfirmButton";
import { ProblemView } from "../components/ProblemView";
import { useAction, useAsync } from "../components/useAsync";
import { useApp } from "../context";
import { readSse } from "../lib/sse";
import { navigate, useLocation } from "../router";

const TARGETS = ["podman", "kubernetes", "swarm", "vsphere"] as const;
const DONE = new Set(["succeeded", "failed", "rejected", "plan_failed", "cancelled"]);
const STEPS = ["planning", "awaiting_approval", "approved", "applying", "succeeded"];
/** A rotation's steps, and the job-log line that says each is done. */
const ROTATION_STEPS: [string, string][] = [
  ["rotate: created and verified ", "new login created and verified"],
  ["rotate: consumers switched to ", "consumers switched to the new login"],
  ["rotate: no session uses ", "old login no longer in use"],
  ["rotate: dropped ", "old login dropped"],
];
const LOGIN_KINDS = ["app", "readonly", "owner"] as const;

interface BlueprintDatabases {
  databases: string[];
  /** Service name -> the databases it declares. */
  services: [string, string[]][];
}

/** The databases of a parsed blueprint and the backend services that use each. */
function databasesOf(parsed: Record<string, unknown> | undefined): BlueprintDatabases {
  const names = (list: unknown) =>
    Array.isArray(list) ? list.filter((x): x is { name: string; databases?: unknown } => typeof x === "object" && x !== null && typeof (x as { name?: unknown }).name === "string") : [];
  const backend = ((parsed?.services ?? {}) as Record<string, unknown>).backend;
  return {
    databases: names(parsed?.databases).map((d) => d.name),
    services: names(backend).map((s) => [s.name, Array.isArray(s.databases) ? s.databases.filter((d): d is string => typeof d === "string") : []]),
  };
}

export function Deployments({ env }: { env: string }) {
  const { api, access } = useApp();
  const { query } = useLocation();
  const list = useAsync(() => call(api.GET("/api/v1/environments/{env}/deployments", { params: { path: { env } } })), env);
  const versions = useAsync(() => call(api.GET("/api/v1/environments/{env}/blueprints", { params: { path: { env } } })), env);
  const [target, setTarget] = useState<(typeof TARGETS)[number]>("podman");
  const [version, setVersion] = useState<number | null>(null);
  const [cluster, setCluster] = useState("");
  const start = useAction();
  const selected = Number(query.get("d") ?? 0) || (list.data?.[0]?.id ?? 0);
  const latest = Math.max(0, ...(versions.data ?? []).map((v) => v.version));
  const submit = (e: SyntheticEvent) => {
    e.preventDefault();
    void start.run(async () => {
      const d = await call(api.POST("/api/v1/environments/{env}/deployments", { params: { path: { env } }, body: { target, version: version ?? latest, cluster: cluster.trim() || null } }));
      list.reload();
      navigate(`/envs/${env}/deployments?d=${d.id}`);
    });
  };
  return (
    <>
      {can(access, "deploy:request", env) ? (
        <form className="card inline" onSubmit={submit} aria-labelledby="nd">
          <h2 id="nd">Start a deployment</h2>
          <p className="muted">check → render → plan, then an approval, then apply.</p>
          <label>Blueprint version
            <select aria-label="Blueprint version" value={version ?? latest} onChange={(e) => setVersion(Number(e.target.value))}>
              {(versions.data ?? []).map((v) => <option key={v.version} value={v.version}>v{v.version}</option>)}
            </select>
          </label>
          <label>Target
            <select aria-label="Target" value={target} onChange={(e) => setTarget(e.target.value as (typeof TARGETS)[number])}>
              {TARGETS.map((t) => <option key={t}>{t}</option>)}
            </select>
          </label>
          <label>Cluster
            <input aria-label="Cluster" value={cluster} onChange={(e) => setCluster(e.target.value)} placeholder="the only one of the target" />
          </label>
          <button className="primary" type="submit" disabled={start.busy || !latest}>Check, render and plan</button>
          <ProblemView problem={start.problem} />
        </form>
      ) : null}
      {can(access, "deploy:request", env) && latest ? <RotationForm env={env} version={version ?? latest} onRequested={list.reload} /> : null}
      <ProblemView problem={list.problem} />
      <div className="two-col">
        <section className="card" aria-labelledby="hist">
          <h2 id="hist">History</h2>
          <table className="grid">
            <thead>
              <tr><th scope="col">#</th><th scope="col">Version</th><th scope="col">Target</th><th scope="col">Status</th><th scope="col">Requested by</th><th scope="col">Approved by</th></tr>
            </thead>
            <tbody>
              {(list.data ?? []).map((d) => (
                <tr key={d.id} aria-current={d.id === selected ? "true" : undefined}>
                  <td><button className="link" onClick={() => navigate(`/envs/${env}/deployments?d=${d.id}`)} aria-label={`Deployment ${d.id}`}>#{d.id}</button></td>
                  <td>v{d.version}{d.rollback_of ? ` (rollback of #${d.rollback_of})` : ""}</td>
                  <td>{d.target}</td>
                  <td className="status">{d.status}</td>
                  <td>{d.requested_by}</td>
                  <td>{d.approved_by ?? "—"}</td>
                </tr>
              ))}
              {!list.loading && (list.data ?? []).length === 0 ? <tr><td colSpan={6}>No deployments yet.</td></tr> : null}
            </tbody>
          </table>
        </section>
        {selected ? <Detail key={`${env}/${selected}`} env={env} id={selected} onChange={list.reload} /> : null}
      </div>
    </>
  );
}

/**
 * Request a coordinated rotation of one database login: a new login, the service's consumers
 * rolled onto it, the old login dropped. It becomes a deployment of target "rotation" that is
 * planned, approved (by someone else where the two-person rule applies) and run as a job.
 */
function RotationForm({ env, version, onRequested }: { env: string; version: number; onRequested: () => void }) {
  const { api } = useApp();
  const bp = useAsync(async () => {
    const v = await call(api.GET("/api/v1/environments/{env}/blueprints/{version}", { params: { path: { env, version } } }));
    return databasesOf(v.parsed);
  }, `${env}/${version}`);
  const [database, setDatabase] = useState("");
  const [service, setService] = useState("");
  const [kind, setKind] = useState<(typeof LOGIN_KINDS)[number]>("app");
  const [roll, setRoll] = useState(true);
  const act = useAction();
  const databases = bp.data?.databases ?? [];
  if (bp.data && databases.length === 0) return null;
  const consumers = (bp.data?.services ?? []).filter(([, dbs]) => dbs.includes(database)).map(([name]) => name);
  const submit = (e: SyntheticEvent) => {
    e.preventDefault();
    void act.run(async () => {
      const d = await call(api.POST("/api/v1/environments/{env}/rotations", { params: { path: { env } }, body: { version, database, service, kind, switch: roll } }));
      onRequested();
      navigate(`/envs/${env}/deployments?d=${d.id}`);
    });
  };
  return (
    <form className="card inline" onSubmit={submit} aria-labelledby="rot">
      <h2 id="rot">Rotate a database login</h2>
      <p className="muted">A new login is created, the service is rolled onto it, then the old login is dropped; planned first, then approved.</p>
      <label>Database
        <select aria-label="Database" required value={database} onChange={(e) => { setDatabase(e.target.value); setService(""); }}>
          <option value="">Choose…</option>
          {databases.map((d) => <option key={d} value={d}>{d}</option>)}
        </select>
      </label>
      <label>Service
        <select aria-label="Service" required value={service} onChange={(e) => setService(e.target.value)} disabled={!database}>
          <option value="">Choose…</option>
          {consumers.map((n) => <option key={n} value={n}>{n}</option>)}
        </select>
      </label>
      <label>Login
        <select aria-label="Login" value={kind} onChange={(e) => setKind(e.target.value as (typeof LOGIN_KINDS)[number])}>
          {LOGIN_KINDS.map((k) => <option key={k} value={k}>{k}</option>)}
        </select>
      </label>
      <label className="check">
        <input type="checkbox" checked={roll} onChange={(e) => setRoll(e.target.checked)} /> Roll the service onto the new login (through this environment's connection to its cluster)
      </label>
      <button className="primary" type="submit" disabled={act.busy || !database || !service}>Request rotation</button>
      <ProblemView problem={bp.problem ?? act.problem} />
    </form>
  );
}

function Detail({ env, id, onChange }: { env: string; id: number; onChange: () => void }) {
  const { api, access } = useApp();
  const [logDone, setLogDone] = useState<ReadonlySet<string>>(new Set());
  const onLine = (line: string) => {
    const hit = ROTATION_STEPS.find(([marker]) => line.startsWith(marker));
    if (hit) setLogDone((old) => (old.has(hit[0]) ? old : new Set([...old, hit[0]])));
  };
  const d = useAsync(() => call(api.GET("/api/v1/environments/{env}/deployments/{deployment_id}", { params: { path: { env, deployment_id: id } } })), `${env}/${id}`);
  const act = useAction();
  const [logEnded, setLogEnded] = useState(0);
  const status = d.data?.status ?? "";
  const decide = (approve: boolean) =>
    void act.run(async () => {
      await call(api.POST("/api/v1/environments/{env}/deployments/{deployment_id}/decision", { params: { path: { env, deployment_id: id } }, body: { approve } }));
      d.reload();
      onChange();
    });
  const cancel = () =>
    void act.run(async () => {
      await call(api.POST("/api/v1/environments/{env}/deployments/{deployment_id}/cancel", { params: { path: { env, deployment_id: id } } }));
      d.reload();
      onChange();
    });
  const rollback = () =>
    void act.run(async () => {
      const out = await call(api.POST("/api/v1/environments/{env}/deployments/{deployment_id}/rollback", { params: { path: { env, deployment_id: id } } }));
      onChange();
      navigate(`/envs/${env}/deployments?d=${out.id}`);
    });
  // When the log stream ends, the deployment has reached a resting state: fetch it again.
  const { reload } = d;
  useEffect(() => {
    if (logEnded) {
      reload();
      onChange();
    }
  }, [logEnded, reload, onChange]);
  if (d.problem) return <ProblemView problem={d.problem} />;
  if (!d.data) return <p role="status">Loading…</p>;
  const plan = d.data.plan;
  const changes = plan.changes ?? [];
  const step = STEPS.indexOf(status);
  const rotation = d.data.target === "rotation" ? plan.rotation : null;
  const endpoints = plan.endpoints && plan.endpoints.length > 0 ? plan.endpoints : plan.endpoint ? [plan.endpoint] : [];
  const touches = rotation ? ` replacing ${rotation.old_login} with ${rotation.new_login}` : endpoints.length ? ` at ${endpoints.join("; ")}` : "";
  return (
    <section className="card" aria-labelledby="dd">
      <h2 id="dd">Deployment #{id} · v{d.data.version} → {d.data.target}</h2>
      <ol className="steps" aria-label="Progress">
        {["check, render, plan", "approval", rotation ? "rotate" : "apply"].map((s, i) => (
          <li key={s} className={step > i * 2 || status === "succeeded" ? "done" : step === i * 2 || (i === 1 && step === 1) ? "current" : ""}>{s}</li>
        ))}
      </ol>
      <p>
        Status: <strong className="status" data-testid="deployment-status">{status}</strong> · requested by {d.data.requested_by}
        {d.data.approved_by ? ` · ${status === "rejected" ? "rejected" : "approved"} by ${d.data.approved_by}` : ""}
      </p>
      <div className="actions">
        {d.data.can_approve ? (
          <>
            <ConfirmButton
              className="primary"
              disabled={act.busy}
              question={
                rotation
                  ? `Rotate ${rotation.credential} now? The job starts at once,${touches}, and rolls ${rotation.service} onto the new login.`
                  : `Apply v${d.data.version} to ${d.data.target} now? The apply job starts at once and changes the live target${touches}.`
              }
              confirm="Yes, approve and apply"
              onConfirm={() => decide(true)}
            >
              Approve and apply
            </ConfirmButton>{" "}
            <ConfirmButton
              className="danger"
              disabled={act.busy}
              question={`Reject deployment #${id}? It can never be approved afterwards; ${d.data.requested_by} would have to request it again.`}
              confirm="Yes, reject"
              onConfirm={() => decide(false)}
            >
              Reject
            </ConfirmButton>
          </>
        ) : status === "awaiting_approval" && d.data.two_person_rule && can(access, "deploy:approve", env) ? (
          <p className="muted" data-testid="two-person-note">Awaiting approval by someone other than {d.data.requested_by} (two-person rule).</p>
        ) : null}
        {d.data.can_cancel ? (
          <ConfirmButton
            disabled={act.busy}
            question={`Cancel your deployment #${id}? It will not be applied, and nobody can approve it any more.`}
            confirm="Yes, cancel it"
            onConfirm={cancel}
          >
            Cancel deployment
          </ConfirmButton>
        ) : null}
        {DONE.has(status) && !["plan_failed", "rejected", "cancelled"].includes(status) && can(access, "deploy:request", env) ? (
          <button onClick={rollback} disabled={act.busy}>Roll back to v{d.data.version}</button>
        ) : null}
      </div>
      <ProblemView problem={act.problem} />
      <h3>Plan</h3>
      {!rotation && endpoints.length > 1 ? (
        <div data-testid="deployment-endpoint">
          <p>
            Cluster <strong>{d.data.cluster || "(chosen by the plan)"}</strong> · touches {endpoints.length} endpoints:
          </p>
          <ul className="endpoints" aria-label="Endpoints the apply touches">
            {endpoints.map((e) => <li key={e}><code>{e}</code></li>)}
          </ul>
        </div>
      ) : !rotation && (d.data.cluster || plan.endpoint) ? (
        <p data-testid="deployment-endpoint">
          Cluster <strong>{d.data.cluster || "(chosen by the plan)"}</strong>
          {plan.endpoint ? <> · touches <code>{plan.endpoint}</code></> : null}
        </p>
      ) : null}
      {rotation ? (
        <div data-testid="rotation-plan">
          <p>
            Login <strong>{rotation.kind}</strong> of <strong>{rotation.service}</strong> on database <strong>{rotation.database}</strong>
            {rotation.old_login ? <> · replaces <code>{rotation.old_login}</code> with <code>{rotation.new_login}</code></> : null}
            {rotation.step ? <> · resumes after step <code>{rotation.step}</code></> : null}
            {!rotation.switch ? <> · the service is not rolled: its replicas must reread the login</> : null}
          </p>
          <ol className="rotation-steps" aria-label="Rotation steps">
            {ROTATION_STEPS.map(([marker, label]) => (
              <li key={marker} className={logDone.has(marker) ? "done" : undefined}>
                {label}
                {logDone.has(marker) ? " ✓" : ""}
              </li>
            ))}
          </ol>
        </div>
      ) : null}
      {plan.error ? <div className="problem" role="alert"><strong>Planning failed</strong><p>{plan.error}</p>{plan.hint ? <p className="hint">{plan.hint}</p> : null}</div> : null}
      {plan.counts ? (
        <p>{Object.entries(plan.counts).map(([k, n]) => `${n} to ${k}`).join(" · ")}</p>
      ) : status === "planning" ? <p role="status">Planning…</p> : null}
      {changes.filter((c) => c.action !== "unchanged").map((c) => (
        <details key={`${c.kind}/${c.name}`} className="plan-change" open={changes.length <= 6}>
          <summary><span className={`sev ${c.action === "delete" ? "sev-high" : c.action === "create" ? "sev-info" : "sev-medium"}`}>{c.action}</span> {c.kind}/{c.name}</summary>
          <PlanDiff text={c.diff} />
        </details>
      ))}
      <h3>Log</h3>
      <LiveLog env={env} id={id} key={`${env}/${id}/${status === "approved" || status === "applying" ? "apply" : "plan"}`} onEnd={() => setLogEnded((n) => n + 1)} onLine={onLine} />
    </section>
  );
}

/** A unified diff with added, removed and hunk lines coloured (and prefixed for non-colour readers). */
export function PlanDiff({ text }: { text: string }) {
  return (
    <pre role="region" aria-label="Plan diff" tabIndex={0}>
      {text.split("\n").map((l, i) => (
        <span key={i} className={l.startsWith("+") && !l.startsWith("+++") ? "l-add" : l.startsWith("-") && !l.startsWith("---") ? "l-del" : l.startsWith("@@") ? "l-hunk" : undefined}>
          {l}
          {"\n"}
        </span>
      ))}
    </pre>
  );
}

/** The job log, streamed as server-sent events over fetch so the bearer token is sent. */
function LiveLog({ env, id, onEnd, onLine }: { env: string; id: number; onEnd: () => void; onLine?: (line: string) => void }) {
  const { api, apiUrl, session } = useApp();
  const [lines, setLines] = useState<{ at: string; line: string }[]>([]);
  const [problem, setProblem] = useState<Problem | null>(null);
  const [live, setLive] = useState(true);
  useEffect(() => {
    const abort = new AbortController();
    void (async () => {
      try {
        // The URL comes from the generated client's path so a renamed route fails to compile.
        const path: keyof import("../api/schema").paths = "/api/v1/environments/{env}/deployments/{deployment_id}/logs";
        const url = apiUrl + path.replace("{env}", encodeURIComponent(env)).replace("{deployment_id}", String(id));
        const res = await session.fetch(new Request(url, { headers: { Accept: "text/event-stream" }, signal: abort.signal }));
        if (!res.ok || !res.body) throw new ApiProblem(toProblem(await res.json().catch(() => null), res.status));
        await readSse(res.body, (ev) => {
          if (ev.event === "log") {
            try {
              const parsed = JSON.parse(ev.data) as { at: string; line: string };
              setLines((old) => [...old, parsed]);
              onLine?.(parsed.line);
            } catch {
              setLines((old) => [...old, { at: "", line: ev.data }]);
            }
          } else if (ev.event === "end") {
            setLive(false);
            onEnd();
            abort.abort();
          }
        }, abort.signal);
      } catch (err) {
        if (!abort.signal.aborted) setProblem(problemOf(err));
      }
    })();
    return () => {
      abort.abort();
    };
    // api is stable; onEnd changes identity each render and must not restart the stream.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [env, id, api, apiUrl, session]);
  return (
    <>
      <p className="muted" role="status">{live ? "Streaming…" : "Log complete."}</p>
      <ProblemView problem={problem} />
      <pre className="log" aria-label="Deployment log" aria-live="polite" tabIndex={0}>
        {lines.map((l) => `${l.at ? new Date(l.at).toLocaleTimeString() + "  " : ""}${l.line}\n`).join("") || "(no output yet)"}
      </pre>
    </>
  );
}
