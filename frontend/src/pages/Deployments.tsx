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
        {selected ? <Detail env={env} id={selected} onChange={list.reload} /> : null}
      </div>
    </>
  );
}

function Detail({ env, id, onChange }: { env: string; id: number; onChange: () => void }) {
  const { api, access } = useApp();
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
  return (
    <section className="card" aria-labelledby="dd">
      <h2 id="dd">Deployment #{id} · v{d.data.version} → {d.data.target}</h2>
      <ol className="steps" aria-label="Progress">
        {["check, render, plan", "approval", "apply"].map((s, i) => (
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
              question={`Apply v${d.data.version} to ${d.data.target} now? The apply job starts at once and changes the live target${plan.endpoint ? ` at ${plan.endpoint}` : ""}.`}
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
      {d.data.cluster || plan.endpoint ? (
        <p data-testid="deployment-endpoint">
          Cluster <strong>{d.data.cluster || "(chosen by the plan)"}</strong>
          {plan.endpoint ? <> · touches <code>{plan.endpoint}</code></> : null}
        </p>
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
      <LiveLog env={env} id={id} key={`${env}/${id}/${status === "approved" || status === "applying" ? "apply" : "plan"}`} onEnd={() => setLogEnded((n) => n + 1)} />
    </section>
  );
}

/** A unified diff with added, removed and hunk lines coloured (and prefixed for non-colour readers). */
export function PlanDiff({ text }: { text: string }) {
  return (
    <pre aria-label="Plan diff" tabIndex={0}>
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
function LiveLog({ env, id, onEnd }: { env: string; id: number; onEnd: () => void }) {
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
