import { useState, type SyntheticEvent } from "react";
import { call } from "../api/client";
import { can } from "../auth/roles";
import { fieldError } from "../api/problem";
import { CheckList } from "../components/CheckList";
import { ConfirmButton } from "../components/ConfirmButton";
import { Field } from "../components/Field";
import { ProblemView } from "../components/ProblemView";
import { useAction, useAsync } from "../components/useAsync";
import { useApp } from "../context";
import type { components } from "../api/schema";

type BindingIn = components["schemas"]["BindingIn"];

const ROLES = ["admin", "operator", "developer", "auditor"] as const;
// The request fields each form shows its errors beside.
const USER_FIELDS = ["name", "email", "full_name", "groups"];
const GROUP_FIELDS = ["name", "description", "members"];
const BINDING_FIELDS = ["environment", "role", "subject_kind", "subject"];

export function Users() {
  const { api, access } = useApp();
  const users = useAsync(() => call(api.GET("/api/v1/users")), "");
  const writable = can(access, "users:write", null);
  const groups = useAsync(() => (writable ? call(api.GET("/api/v1/groups")) : Promise.resolve([])), String(writable));
  const [form, setForm] = useState({ name: "", email: "", full_name: "", groups: [] as string[], is_admin: false });
  const [otp, setOtp] = useState<{ user: string; password: string } | null>(null);
  const { busy, problem, run } = useAction();
  const create = (e: SyntheticEvent) => {
    e.preventDefault();
    void run(async () => {
      const out = await call(
        api.POST("/api/v1/users", { body: form }),
      );
      setOtp({ user: out.user.name, password: out.one_time_password });
      setForm({ name: "", email: "", full_name: "", groups: [], is_admin: false });
      users.reload();
    });
  };
  const act = (name: string, what: "disable" | "enable" | "reset-mfa") =>
    void run(async () => {
      if (what === "reset-mfa") await call(api.POST("/api/v1/users/{name}/reset-mfa", { params: { path: { name } } }));
      else await call(api.PATCH("/api/v1/users/{name}", { params: { path: { name } }, body: { disabled: what === "disable", unlock: false } }));
      users.reload();
    });
  return (
    <>
      <h1>Users</h1>
      <ProblemView problem={users.problem ?? problem} besideFields={USER_FIELDS} />
      {otp ? (
        <div className="notice" role="status">
          One-time password for <strong>{otp.user}</strong> (shown once; they must change it at first sign-in):{" "}
          <code className="secret" data-testid="one-time-password">{otp.password}</code>{" "}
          <button onClick={() => setOtp(null)}>Done</button>
        </div>
      ) : null}
      <table className="grid">
        <thead>
          <tr>
            <th scope="col">Name</th><th scope="col">Full name</th><th scope="col">Groups</th><th scope="col">Admin</th>
            <th scope="col">MFA</th><th scope="col">State</th>{writable ? <th scope="col"><span className="visually-hidden">Actions</span></th> : null}
          </tr>
        </thead>
        <tbody>
          {(users.data ?? []).map((u) => (
            <tr key={u.id}>
              <td>{u.name}</td>
              <td>{u.full_name}</td>
              <td>{(u.groups ?? []).join(", ")}</td>
              <td>{u.is_admin ? "yes" : ""}</td>
              <td>{u.mfa_enabled ? "on" : "off"}</td>
              <td>{u.disabled ? "disabled" : u.locked_until ? "locked" : "active"}</td>
              {writable ? (
                <td className="actions">
                  {u.disabled ? (
                    <button type="button" onClick={() => act(u.name, "enable")}>Enable</button>
                  ) : (
                    <ConfirmButton
                      ariaLabel={`Disable ${u.name}`}
                      question={`Disable ${u.name}? Their sessions and API tokens end at once and they cannot sign in until enabled.`}
                      confirm={`Yes, disable ${u.name}`}
                      onConfirm={() => act(u.name, "disable")}
                    >
                      Disable
                    </ConfirmButton>
                  )}
                  {u.mfa_enabled ? (
                    <ConfirmButton
                      ariaLabel={`Reset MFA of ${u.name}`}
                      question={`Reset the MFA of ${u.name}? Their authenticator and recovery codes stop working; they enrol again at next sign-in.`}
                      confirm="Yes, reset MFA"
                      onConfirm={() => act(u.name, "reset-mfa")}
                    >
                      Reset MFA
                    </ConfirmButton>
                  ) : null}
                </td>
              ) : null}
            </tr>
          ))}
        </tbody>
      </table>
      {writable ? (
        <form onSubmit={create} className="card inline" aria-labelledby="nu">
          <h2 id="nu">New user</h2>
          <Field label="User name" error={fieldError(problem, "name")} help="Lower-case letters, digits and hyphens.">
            {(c) => <input {...c} required value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} />}
          </Field>
          <Field label="Email" error={fieldError(problem, "email")}>
            {(c) => <input {...c} type="email" value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} />}
          </Field>
          <Field label="Full name" error={fieldError(problem, "full_name")}>
            {(c) => <input {...c} value={form.full_name} onChange={(e) => setForm({ ...form, full_name: e.target.value })} />}
          </Field>
          <CheckList
            legend="Groups"
            options={(groups.data ?? []).map((g) => g.name)}
            value={form.groups}
            onChange={(v) => setForm({ ...form, groups: v })}
            error={fieldError(problem, "groups")}
            empty="No groups yet."
          />
          <label className="check"><input type="checkbox" checked={form.is_admin} onChange={(e) => setForm({ ...form, is_admin: e.target.checked })} /> Administrator</label>
          <button type="submit" className="primary" disabled={busy}>Create user</button>
        </form>
      ) : null}
    </>
  );
}

export function Groups() {
  const { api, access } = useApp();
  const groups = useAsync(() => call(api.GET("/api/v1/groups")), "");
  const writable = can(access, "users:write", null);
  const users = useAsync(() => call(api.GET("/api/v1/users")), "");
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [members, setMembers] = useState<string[]>([]);
  const { busy, problem, run } = useAction();
  const create = (e: SyntheticEvent) => {
    e.preventDefault();
    void run(async () => {
      await call(api.POST("/api/v1/groups", { body: { name, description, members } }));
      setName("");
      setDescription("");
      setMembers([]);
      groups.reload();
    });
  };
  const remove = (g: string) =>
    void run(async () => {
      await call(api.DELETE("/api/v1/groups/{name}", { params: { path: { name: g } } }));
      groups.reload();
    });
  return (
    <>
      <h1>Groups</h1>
      <ProblemView problem={groups.problem ?? problem} besideFields={GROUP_FIELDS} />
      <table className="grid">
        <thead>
          <tr><th scope="col">Name</th><th scope="col">Description</th><th scope="col">Members</th>{writable ? <th scope="col"><span className="visually-hidden">Actions</span></th> : null}</tr>
        </thead>
        <tbody>
          {(groups.data ?? []).map((g) => (
            <tr key={g.name}>
              <td>{g.name}</td><td>{g.description}</td><td>{(g.members ?? []).join(", ")}</td>
              {writable ? (
                <td>
                  <ConfirmButton
                    ariaLabel={`Delete group ${g.name}`}
                    question={`Delete group ${g.name}? Its ${(g.members ?? []).length} member(s) lose every role bound to the group.`}
                    confirm="Yes, delete the group"
                    onConfirm={() => remove(g.name)}
                  >
                    Delete
                  </ConfirmButton>
                </td>
              ) : null}
            </tr>
          ))}
        </tbody>
      </table>
      {writable ? (
        <form onSubmit={create} className="card inline" aria-labelledby="ng">
          <h2 id="ng">New group</h2>
          <Field label="Name" error={fieldError(problem, "name")} help="Lower-case letters, digits and hyphens.">
            {(c) => <input {...c} required value={name} onChange={(e) => setName(e.target.value)} />}
          </Field>
          <Field label="Description" error={fieldError(problem, "description")}>
            {(c) => <input {...c} value={description} onChange={(e) => setDescription(e.target.value)} />}
          </Field>
          <CheckList
            legend="Members"
            options={(users.data ?? []).map((u) => u.name)}
            value={members}
            onChange={setMembers}
            error={fieldError(problem, "members")}
            empty="No users yet."
          />
          <button type="submit" className="primary" disabled={busy}>Create group</button>
        </form>
      ) : null}
    </>
  );
}

export function Bindings() {
  const { api, access } = useApp();
  const bindings = useAsync(() => call(api.GET("/api/v1/bindings")), "");
  const writable = can(access, "users:write", null);
  const choices = useAsync(
    async () => {
      if (!writable) return { environments: [], user: [], group: [] };
      const [envs, users, groups] = await Promise.all([
        call(api.GET("/api/v1/environments")),
        call(api.GET("/api/v1/users")),
        call(api.GET("/api/v1/groups")),
      ]);
      return {
        environments: envs.map((e) => e.name),
        user: users.filter((u) => !u.disabled).map((u) => u.name),
        group: groups.map((g) => g.name),
      };
    },
    String(writable),
  );
  const [form, setForm] = useState<BindingIn>({ environment: "", role: "operator", subject_kind: "user", subject: "" });
  const { busy, problem, run } = useAction();
  const create = (e: SyntheticEvent) => {
    e.preventDefault();
    void run(async () => {
      await call(api.POST("/api/v1/bindings", { body: form }));
      setForm({ ...form, subject: "" });
      bindings.reload();
    });
  };
  const remove = (id: number) =>
    void run(async () => {
      await call(api.DELETE("/api/v1/bindings/{binding_id}", { params: { path: { binding_id: id } } }));
      bindings.reload();
    });
  const rows = [...(bindings.data ?? [])].sort((a, b) => a.environment.localeCompare(b.environment) || a.role.localeCompare(b.role));
  return (
    <>
      <h1>Role bindings</h1>
      <p className="muted">Who holds which role in each environment. Bindings from the blueprint are marked with their source.</p>
      <ProblemView problem={bindings.problem ?? choices.problem ?? problem} besideFields={BINDING_FIELDS} />
      <table className="grid">
        <thead>
          <tr><th scope="col">Environment</th><th scope="col">Role</th><th scope="col">Subject</th><th scope="col">Source</th>{writable ? <th scope="col"><span className="visually-hidden">Actions</span></th> : null}</tr>
        </thead>
        <tbody>
          {rows.map((b) => (
            <tr key={b.id} className={b.disabled ? "muted" : undefined}>
              <td>{b.environment}</td><td>{b.role}</td><td>{b.subject_kind} {b.subject}</td><td>{b.source}</td>
              {writable ? (
                <td>
                  <ConfirmButton
                    ariaLabel={`Remove ${b.role} of ${b.subject} in ${b.environment}`}
                    question={`Remove the ${b.role} role of ${b.subject_kind} ${b.subject} in ${b.environment}? They lose its permissions there at once.`}
                    confirm="Yes, remove the role"
                    onConfirm={() => remove(b.id)}
                  >
                    Remove
                  </ConfirmButton>
                </td>
              ) : null}
            </tr>
          ))}
        </tbody>
      </table>
      {writable ? (
        <form onSubmit={create} className="card inline" aria-labelledby="nb">
          <h2 id="nb">New binding</h2>
          <Field label="Environment" error={fieldError(problem, "environment")}>
            {(c) => (
              <select {...c} required value={form.environment} onChange={(e) => setForm({ ...form, environment: e.target.value })}>
                <option value="">Choose…</option>
                {(choices.data?.environments ?? []).map((env) => <option key={env}>{env}</option>)}
              </select>
            )}
          </Field>
          <Field label="Role" error={fieldError(problem, "role")}>
            {(c) => (
              <select {...c} value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value as BindingIn["role"] })}>
                {ROLES.map((r) => <option key={r}>{r}</option>)}
              </select>
            )}
          </Field>
          <Field label="Kind" error={fieldError(problem, "subject_kind")}>
            {(c) => (
              <select {...c} value={form.subject_kind} onChange={(e) => setForm({ ...form, subject_kind: e.target.value as BindingIn["subject_kind"], subject: "" })}>
                <option>user</option><option>group</option>
              </select>
            )}
          </Field>
          <Field label="Subject" error={fieldError(problem, "subject")}>
            {(c) => (
              <select {...c} required value={form.subject} onChange={(e) => setForm({ ...form, subject: e.target.value })}>
                <option value="">Choose a {form.subject_kind}…</option>
                {(choices.data?.[form.subject_kind] ?? []).map((n) => <option key={n}>{n}</option>)}
              </select>
            )}
          </Field>
          <button type="submit" className="primary" disabled={busy}>Add binding</button>
        </form>
      ) : null}
    </>
  );
}

const AUDIT_PAGE = 50;

interface AuditFilters {
  action: string;
  actor: string;
  target: string;
  since: string;
  until: string;
}

const NO_FILTERS: AuditFilters = { action: "", actor: "", target: "", since: "", until: "" };

/** A datetime-local value (the browser's time zone) as an ISO instant, or undefined. */
function instant(local: string): string | undefined {
  if (!local) return undefined;
  const t = new Date(local);
  return Number.isNaN(t.getTime()) ? undefined : t.toISOString();
}

export function Audit() {
  const { api, access } = useApp();
  // Suggestions for the actor filter; free text stays allowed (departed accounts, "system").
  const readsUsers = can(access, "users:read", null);
  const people = useAsync(() => (readsUsers ? call(api.GET("/api/v1/users")) : Promise.resolve([])), String(readsUsers));
  const [form, setForm] = useState<AuditFilters>(NO_FILTERS);
  const [applied, setApplied] = useState<AuditFilters>(NO_FILTERS);
  // Newest first; each page starts before the last sequence number of the previous one.
  const [cursors, setCursors] = useState<number[]>([0]);
  const before = cursors[cursors.length - 1];
  const entries = useAsync(
    () =>
      call(
        api.GET("/api/v1/audit", {
          params: {
            query: {
              order: "desc",
              limit: AUDIT_PAGE,
              before,
              action: applied.action || undefined,
              actor: applied.actor || undefined,
              target: applied.target || undefined,
              since: instant(applied.since),
              until: instant(applied.until),
            },
          },
        }),
      ),
    JSON.stringify([applied, before]),
  );
  const verify = useAction();
  const [verdict, setVerdict] = useState<{ ok: boolean; checked: number; problems: unknown[] } | null>(null);
  const check = () =>
    void verify.run(async () => {
      setVerdict(await call(api.GET("/api/v1/audit/verify")));
    });
  const rows = entries.data ?? [];
  const field = (k: keyof AuditFilters) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  return (
    <>
      <h1>Audit log</h1>
      <form
        className="inline filters"
        aria-label="Filter the audit log"
        onSubmit={(e) => {
          e.preventDefault();
          setApplied({ ...form, action: form.action.trim(), actor: form.actor.trim(), target: form.target.trim() });
          setCursors([0]);
        }}
      >
        <label>Action <input value={form.action} onChange={field("action")} placeholder="e.g. auth.login" /></label>
        <label>Actor <input value={form.actor} onChange={field("actor")} placeholder="exact user name" list="audit-actors" /></label>
        <datalist id="audit-actors">
          {(people.data ?? []).map((u) => <option key={u.name} value={u.name} />)}
        </datalist>
        <label>Target starts with <input value={form.target} onChange={field("target")} placeholder="e.g. deployment/" /></label>
        <label>From <input type="datetime-local" value={form.since} onChange={field("since")} /></label>
        <label>Until <input type="datetime-local" value={form.until} onChange={field("until")} /></label>
        <button type="submit">Apply</button>
        <button type="button" onClick={check} disabled={verify.busy}>Verify integrity</button>
      </form>
      {verdict ? (
        <p className={verdict.ok ? "ok-banner" : "problem"} role="status">
          {verdict.ok
            ? `Integrity verified: ${verdict.checked} entries, hash chain intact.`
            : `Integrity check FAILED after ${verdict.checked} entries: ${verdict.problems.map((p) => JSON.stringify(p)).join("; ")}`}
        </p>
      ) : null}
      <ProblemView problem={entries.problem ?? verify.problem} />
      <table className="grid audit">
        <thead>
          <tr><th scope="col">#</th><th scope="col">When</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Target</th><th scope="col">Outcome</th><th scope="col">Detail</th></tr>
        </thead>
        <tbody>
          {rows.map((e) => (
            <tr key={e.seq} className={e.outcome !== "success" ? "warn-row" : undefined}>
              <td>{e.seq}</td>
              <td>{new Date(e.at).toLocaleString()}</td>
              <td>{e.actor}</td>
              <td><code>{e.action}</code></td>
              <td>{e.target}</td>
              <td>{e.outcome}</td>
              <td className="detail">{Object.keys(e.detail).length ? JSON.stringify(e.detail) : ""}</td>
            </tr>
          ))}
          {!entries.loading && rows.length === 0 ? <tr><td colSpan={7}>No entries match.</td></tr> : null}
        </tbody>
      </table>
      <nav className="inline pager" aria-label="Audit pages">
        <button type="button" disabled={cursors.length <= 1 || entries.loading} onClick={() => setCursors(cursors.slice(0, -1))}>Newer</button>
        <span className="muted" role="status">Page {cursors.length}{entries.loading ? " · loading…" : ""}</span>
        <button
          type="button"
          disabled={rows.length < AUDIT_PAGE || entries.loading}
          onClick={() => setCursors([...cursors, rows[rows.length - 1]?.seq ?? 0])}
        >
          Older
        </button>
      </nav>
    </>
  );
}
