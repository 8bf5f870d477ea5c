import { useState, type SyntheticEvent } from "react";
import { call } from "../api/client";
import { can } from "../auth/roles";
import { ConfirmButton } from "../components/ConfirmButton";
import { ProblemView } from "../components/ProblemView";
import { useAction, useAsync } from "../components/useAsync";
import { useApp } from "../context";

/** Secret names and metadata; values can be written but are never shown (the API never returns them). */
export function Secrets({ env }: { env: string }) {
  const { api, access } = useApp();
  const list = useAsync(() => call(api.GET("/api/v1/environments/{env}/secrets", { params: { path: { env } } })), env);
  const writable = can(access, "secret:write", env);
  const [name, setName] = useState("");
  const [pairs, setPairs] = useState<{ key: string; value: string }[]>([{ key: "value", value: "" }]);
  const [saved, setSaved] = useState("");
  const act = useAction();
  const save = (e: SyntheticEvent) => {
    e.preventDefault();
    void act.run(async () => {
      await call(api.PUT("/api/v1/environments/{env}/secrets/{name}", { params: { path: { env, name } }, body: { values: Object.fromEntries(pairs.map((p) => [p.key, p.value])) } }));
      // Forget the values at once: the form must not keep a secret after it is written.
      setPairs(pairs.map((p) => ({ key: p.key, value: "" })));
      setSaved(`Secret ${name} stored. Its value cannot be displayed again.`);
      setName("");
      list.reload();
    });
  };
  const remove = (n: string) =>
    void act.run(async () => {
      await call(api.DELETE("/api/v1/environments/{env}/secrets/{name}", { params: { path: { env, name: n } } }));
      // The banner says what happened last, never an earlier store.
      setSaved(`Secret ${n} deleted.`);
      list.reload();
    });
  return (
    <>
      <p className="muted">Secret values are write-only: they are stored encrypted and never shown, here or anywhere.</p>
      <ProblemView problem={list.problem ?? act.problem} />
      {saved ? <p className="ok-banner" role="status">{saved}</p> : null}
      <table className="grid">
        <thead>
          <tr><th scope="col">Name</th><th scope="col">Keys</th><th scope="col">Version</th><th scope="col">Updated</th><th scope="col">By</th>{writable ? <th scope="col"><span className="visually-hidden">Actions</span></th> : null}</tr>
        </thead>
        <tbody>
          {(list.data ?? []).map((s) => (
            <tr key={s.name}>
              <td>{s.name}</td><td>{s.keys.join(", ")}</td><td>{s.version}</td><td>{new Date(s.updated_at).toLocaleString()}</td><td>{s.updated_by}</td>
              {writable ? (
                <td>
                  <ConfirmButton
                    ariaLabel={`Delete secret ${s.name}`}
                    question={`Delete secret ${s.name} from ${env}? Its value is gone for good, and deployments that mount it fail until it is stored again.`}
                    confirm="Yes, delete the secret"
                    onConfirm={() => remove(s.name)}
                  >
                    Delete
                  </ConfirmButton>
                </td>
              ) : null}
            </tr>
          ))}
          {!list.loading && (list.data ?? []).length === 0 ? <tr><td colSpan={6}>No secrets stored.</td></tr> : null}
        </tbody>
      </table>
      {writable ? (
        <form className="card" onSubmit={save} aria-labelledby="ws">
          <h2 id="ws">Write a secret</h2>
          <label>Name <input required value={name} onChange={(e) => setName(e.target.value)} /></label>
          {pairs.map((p, i) => (
            <div className="inline" key={i}>
              <label>Key <input required value={p.key} onChange={(e) => setPairs(pairs.map((q, k) => (k === i ? { ...q, key: e.target.value } : q)))} /></label>
              <label>Value <input type="password" autoComplete="off" required value={p.value} onChange={(e) => setPairs(pairs.map((q, k) => (k === i ? { ...q, value: e.target.value } : q)))} /></label>
            </div>
          ))}
          <p>
            <button type="button" onClick={() => setPairs([...pairs, { key: "", value: "" }])}>Add a key</button>{" "}
            <button className="primary" type="submit" disabled={act.busy}>Store secret</button>
          </p>
        </form>
      ) : null}
    </>
  );
}
