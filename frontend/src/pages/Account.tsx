import { useState, type SyntheticEvent } from "react";
import { call } from "../api/client";
import { ConfirmButton } from "../components/ConfirmButton";
import { CopyButton } from "../components/CopyButton";
import { ProblemView } from "../components/ProblemView";
import { useAction, useAsync } from "../components/useAsync";
import { useApp } from "../context";
import { MfaEnrolment, PasswordChange } from "./Mfa";

export function Account() {
  const { me, api, reloadMe } = useApp();
  return (
    <>
      <h1>Your account</h1>
      <section className="card" aria-labelledby="who">
        <h2 id="who">{me.full_name || me.name}</h2>
        <dl className="facts">
          <dt>User name</dt>
          <dd>{me.name}</dd>
          <dt>Email</dt>
          <dd>{me.email || "—"}</dd>
          <dt>Administrator</dt>
          <dd>{me.is_admin ? "yes" : "no"}</dd>
          <dt>Two-factor authentication</dt>
          <dd>{me.mfa_enabled ? "on" : "off"}</dd>
        </dl>
        <h3>Roles</h3>
        <table className="grid">
          <thead>
            <tr><th scope="col">Environment</th><th scope="col">Roles</th></tr>
          </thead>
          <tbody>
            {me.environments.map((e) => (
              <tr key={e.environment}><td>{e.environment}</td><td>{e.roles.join(", ")}</td></tr>
            ))}
            {me.environments.length === 0 ? <tr><td colSpan={2}>No roles yet.</td></tr> : null}
          </tbody>
        </table>
      </section>
      {!me.mfa_enabled ? <MfaEnrolment api={api} onDone={() => void reloadMe()} /> : null}
      <PasswordChange api={api} rules={me.password_rules ?? []} onDone={() => undefined} />
      <ApiTokens />
    </>
  );
}

function ApiTokens() {
  const { api } = useApp();
  const tokens = useAsync(() => call(api.GET("/api/v1/me/tokens")), "");
  const [name, setName] = useState("");
  const [scopes, setScopes] = useState("env:read,blueprint:read");
  const [shown, setShown] = useState<string | null>(null);
  const { busy, problem, run } = useAction();
  const create = (e: SyntheticEvent) => {
    e.preventDefault();
    void run(async () => {
      const out = await call(api.POST("/api/v1/me/tokens", { body: { name, scopes: scopes.split(",").map((s) => s.trim()).filter(Boolean), expires_days: 90 } }));
      setShown(out.token);
      setName("");
      tokens.reload();
    });
  };
  const revoke = (id: number) =>
    void run(async () => {
      await call(api.DELETE("/api/v1/me/tokens/{token_id}", { params: { path: { token_id: id } } }));
      tokens.reload();
    });
  return (
    <section className="card" aria-labelledby="tok">
      <h2 id="tok">API tokens</h2>
      {shown ? (
        <div className="notice" role="status">
          <p>Copy this token now: it is shown only once.</p>
          <code className="secret" data-testid="new-token">{shown}</code>{" "}
          <CopyButton text={shown} label="Copy token" />{" "}
          <button onClick={() => setShown(null)}>Done</button>
        </div>
      ) : null}
      <ProblemView problem={tokens.problem ?? problem} />
      <table className="grid">
        <thead>
          <tr><th scope="col">Name</th><th scope="col">Scopes</th><th scope="col">Expires</th><th scope="col">Last used</th><th scope="col"><span className="visually-hidden">Actions</span></th></tr>
        </thead>
        <tbody>
          {(tokens.data ?? []).map((t) => (
            <tr key={t.id}>
              <td>{t.name}</td>
              <td>{t.scopes.join(", ")}</td>
              <td>{t.expires_at ? new Date(t.expires_at).toLocaleDateString() : "never"}</td>
              <td>{t.last_used_at ? new Date(t.last_used_at).toLocaleString() : "—"}</td>
              <td>
                {t.revoked_at ? (
                  "revoked"
                ) : (
                  <ConfirmButton
                    ariaLabel={`Revoke token ${t.name}`}
                    question={`Revoke token ${t.name}? Every script using it is refused from now on.`}
                    confirm="Yes, revoke"
                    onConfirm={() => revoke(t.id)}
                  >
                    Revoke
                  </ConfirmButton>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form onSubmit={create} className="inline">
        <label>Name <input required value={name} onChange={(e) => setName(e.target.value)} /></label>
        <label>Scopes (comma-separated) <input required value={scopes} onChange={(e) => setScopes(e.target.value)} /></label>
        <button type="submit" disabled={busy}>Create token</button>
      </form>
    </section>
  );
}
