import { useState, type SyntheticEvent } from "react";
import { call } from "../api/client";
import { fieldError } from "../api/problem";
import type { components } from "../api/schema";
import { can } from "../auth/roles";
import { ConfirmButton } from "../components/ConfirmButton";
import { Field } from "../components/Field";
import { ProblemView } from "../components/ProblemView";
import { useAction, useAsync } from "../components/useAsync";
import { useApp } from "../context";
import { clustersOf, connectionBody, EMPTY_FORM, needsSsh, needsTls, withoutCredentials, type BlueprintCluster, type ConnectionForm, type ConnectionKind, type HostForm } from "../lib/connections";
import { Link } from "../router";

type Stored = components["schemas"]["ConnectionOut"];
type Check = components["schemas"]["ConnectionCheckOut"];

/** A stored connection's clear setting as text ("" when absent or not text). */
function setting(settings: Record<string, unknown> | undefined, key: string): string {
  const v = settings?.[key];
  return typeof v === "string" ? v : "";
}

/** A stored per-host Podman connection's hosts: name -> {url, known_hosts} ({} otherwise). */
function storedHosts(settings: Record<string, unknown> | undefined): Record<string, HostForm> {
  const hosts = settings?.hosts;
  if (typeof hosts !== "object" || hosts === null) return {};
  return Object.fromEntries(
    Object.entries(hosts as Record<string, Record<string, unknown>>).map(([h, v]) => [h, { url: setting(v, "url"), knownHosts: setting(v, "known_hosts"), sshKey: "" }]),
  );
}

function without<T>(map: Record<string, T>, key: string): Record<string, T> {
  return Object.fromEntries(Object.entries(map).filter(([k]) => k !== key));
}

const ENDPOINT_LABEL: Record<ConnectionKind, string> = {
  docker: "Docker host",
  podman: "Podman URL",
  kubernetes: "",
  vsphere: "vCenter SDK URL",
  openstack: "",
};
const ENDPOINT_HELP: Record<ConnectionKind, string> = {
  docker: "unix:///var/run/docker.sock on the server's machine, or tcp://HOST:2376 with mutual TLS.",
  podman: "local (the server's own Podman), unix:///run/podman/podman.sock, or ssh://USER@HOST:PORT/run/podman/podman.sock with a key.",
  kubernetes: "",
  vsphere: "https://vcenter.example/sdk",
  openstack: "",
};

/**
 * The blueprint's clusters and the connection the server reaches each through: kind, endpoint,
 * who stored it and when. Credentials are write-only: pasted here, sealed by the server, never
 * shown again (the API returns only their names).
 */
export function Connections({ env }: { env: string }) {
  const { api, access } = useApp();
  const readable = can(access, "connection:read", env);
  const writable = can(access, "connection:write", env);
  const blueprint = useAsync(async () => {
    const e = await call(api.GET("/api/v1/environments/{env}", { params: { path: { env } } }));
    if (!e.latest_version) return { version: null, clusters: [] as BlueprintCluster[] };
    const v = await call(api.GET("/api/v1/environments/{env}/blueprints/{version}", { params: { path: { env, version: e.latest_version } } }));
    return { version: v.version, clusters: clustersOf(v.parsed) };
  }, env);
  const stored = useAsync(
    () => (readable ? call(api.GET("/api/v1/environments/{env}/connections", { params: { path: { env } } })) : Promise.resolve([] as Stored[])),
    `${env}:${String(readable)}`,
  );
  const [cluster, setCluster] = useState("");
  const [form, setForm] = useState<ConnectionForm>(EMPTY_FORM);
  const [saved, setSaved] = useState("");
  const [checks, setChecks] = useState<Record<string, Check>>({});
  const act = useAction();

  if (!readable) return <p className="notice">Your role in {env} does not include reading its cluster connections.</p>;
  const clusters = blueprint.data?.clusters ?? [];
  const byName = new Map((stored.data ?? []).map((c) => [c.cluster, c]));
  const orphans = (stored.data ?? []).filter((c) => !clusters.some((b) => b.name === c.cluster));
  const chosen = clusters.find((c) => c.name === cluster) ?? null;
  const kind = chosen?.connection ?? null;
  const set = (patch: Partial<ConnectionForm>) => setForm({ ...form, ...patch });

  const save = (e: SyntheticEvent) => {
    e.preventDefault();
    if (!kind) return;
    void act.run(async () => {
      const out = await call(api.PUT("/api/v1/environments/{env}/connections/{cluster}", { params: { path: { env, cluster } }, body: connectionBody(kind, form, chosen?.hosts ?? []) }));
      // The credentials leave the page with the request: nothing keeps them afterwards.
      setForm(withoutCredentials(form));
      setSaved(`Connection of ${out.cluster} stored (version ${out.version}): ${out.endpoint}. Its credentials cannot be displayed again.`);
      setChecks((old) => without(old, out.cluster));
      stored.reload();
    });
  };
  const remove = (name: string) =>
    void act.run(async () => {
      await call(api.DELETE("/api/v1/environments/{env}/connections/{cluster}", { params: { path: { env, cluster: name } } }));
      setSaved(`Connection of ${name} deleted: it cannot be deployed to until one is stored again.`);
      setChecks((old) => without(old, name));
      stored.reload();
    });
  const test = (name: string) =>
    void act.run(async () => {
      const out = await call(api.POST("/api/v1/environments/{env}/connections/{cluster}/check", { params: { path: { env, cluster: name } } }));
      setChecks((old) => ({ ...old, [name]: out }));
    });
  const choose = (name: string) => {
    setCluster(name);
    const s = byName.get(name);
    // Replacing a connection starts from its endpoint; credentials are never filled in.
    const hosts = storedHosts(s?.settings);
    setForm({
      ...EMPTY_FORM,
      perHost: Object.keys(hosts).length > 0,
      hosts,
      endpoint: setting(s?.settings, "host") || setting(s?.settings, "url"),
      fallbacks: Array.isArray(s?.settings.fallback_hosts) ? s.settings.fallback_hosts.join("\n") : "",
      cloud: setting(s?.settings, "cloud"),
      knownHosts: setting(s?.settings, "known_hosts"),
      context: setting(s?.settings, "context"),
      username: setting(s?.settings, "username"),
      verifyTls: s?.settings.verify_tls !== false,
    });
  };

  const row = (name: string, blueprintKind: string, conn: ConnectionKind | null, inBlueprint: boolean) => {
    const s = byName.get(name);
    const check = checks[name];
    return (
      <tr key={name} data-cluster={name}>
        <th scope="row">{name}</th>
        <td>{inBlueprint ? blueprintKind : <span className="muted">not in the blueprint</span>}</td>
        <td data-testid={`endpoint-${name}`}>
          {s && (s.endpoints ?? []).length > 1 ? (
            <>
              <span className="muted">{s.kind}, one engine per host:</span>
              <ul className="endpoints" aria-label={`Endpoints of ${name}`}>
                {(s.endpoints ?? []).map((e) => <li key={e}>{e}</li>)}
              </ul>
            </>
          ) : s ? (
            <>
              <span className="muted">{s.kind}:</span> {s.endpoint}
            </>
          ) : (
            <span className="muted">no connection: not deployed to</span>
          )}
          {check ? (
            <div role="status" data-testid={`check-${name}`} className={check.ok ? "ok-banner" : "problem"}>
              {check.ok ? `Reached ${check.endpoint}.` : `${check.message}${check.hint ? ` ${check.hint}` : ""}`}
            </div>
          ) : null}
        </td>
        <td>{s ? s.credential_keys.join(", ") || "none" : ""}</td>
        <td>{s ? `v${s.version}, ${new Date(s.updated_at).toLocaleString()} by ${s.updated_by}` : ""}</td>
        {writable ? (
          <td>
            {s ? (
              <>
                <button type="button" disabled={act.busy} aria-label={`Test connection of ${name}`} onClick={() => test(name)}>
                  Test connection
                </button>
                {inBlueprint ? (
                  <button type="button" aria-label={`Replace connection of ${name}`} onClick={() => choose(name)}>
                    Replace
                  </button>
                ) : null}
                <ConfirmButton
                  ariaLabel={`Delete connection of ${name}`}
                  question={`Delete the connection of ${name} in ${env}? Its credentials are gone for good, and ${name} cannot be deployed to until one is stored again.`}
                  confirm="Yes, delete the connection"
                  onConfirm={() => remove(name)}
                >
                  Delete
                </ConfirmButton>
              </>
            ) : conn !== null ? (
              <button type="button" aria-label={`Add connection of ${name}`} onClick={() => choose(name)}>
                Add
              </button>
            ) : null}
          </td>
        ) : null}
      </tr>
    );
  };

  const cred = (label: string, value: string, onChange: (v: string) => void, field: string, help?: string, required = true) => (
    <Field label={label} error={fieldError(act.problem, field)} help={help}>
      {(c) => <textarea {...c} className="yaml" rows={4} spellCheck={false} autoComplete="off" required={required} value={value} onChange={(e) => onChange(e.target.value)} />}
    </Field>
  );

  return (
    <>
      <p className="muted">
        The server deploys a cluster only through its stored connection. Credentials are write-only: sealed in the vault, never shown, logged or returned.
      </p>
      <ProblemView problem={blueprint.problem ?? stored.problem ?? act.problem} />
      {saved ? <p className="ok-banner" role="status">{saved}</p> : null}
      {blueprint.data && blueprint.data.version === null ? (
        <p className="notice">
          No blueprint yet: its clusters are listed here once one is <Link to={`/envs/${env}/blueprints`}>uploaded</Link>.
        </p>
      ) : null}
      <table className="grid" aria-label="Cluster connections">
        <thead>
          <tr>
            <th scope="col">Cluster</th>
            <th scope="col">Kind</th>
            <th scope="col">Connection</th>
            <th scope="col">Credentials</th>
            <th scope="col">Stored</th>
            {writable ? <th scope="col"><span className="visually-hidden">Actions</span></th> : null}
          </tr>
        </thead>
        <tbody>
          {clusters.map((c) => row(c.name, c.kind, c.connection, true))}
          {orphans.map((s) => row(s.cluster, s.kind, s.kind, false))}
          {!blueprint.loading && !stored.loading && clusters.length + orphans.length === 0 ? (
            <tr><td colSpan={writable ? 6 : 5}>No clusters in the blueprint and no connections stored.</td></tr>
          ) : null}
        </tbody>
      </table>
      {writable && clusters.some((c) => c.connection !== null) ? (
        <form className="card upload" onSubmit={save} aria-labelledby="wc">
          <h2 id="wc">Store a connection</h2>
          <Field label="Cluster" help={chosen && byName.has(chosen.name) ? "It has a connection: storing replaces it (a new version)." : undefined}>
            {(c) => (
              <select {...c} required value={cluster} onChange={(e) => choose(e.target.value)}>
                <option value="">Choose a cluster…</option>
                {clusters.filter((b) => b.connection !== null).map((b) => (
                  <option key={b.name} value={b.name}>{`${b.name} (${b.kind})`}</option>
                ))}
              </select>
            )}
          </Field>
          {kind === "podman" && chosen && chosen.hosts.length > 1 ? (
            <label>
              <input type="checkbox" checked={form.perHost} onChange={(e) => set({ perHost: e.target.checked })} /> One connection per host ({chosen.hosts.join(", ")})
            </label>
          ) : null}
          {kind && kind !== "kubernetes" && kind !== "openstack" && !(kind === "podman" && form.perHost) ? (
            <Field label={ENDPOINT_LABEL[kind]} error={fieldError(act.problem, kind === "docker" ? "host" : "url")} help={ENDPOINT_HELP[kind]}>
              {(c) => <input {...c} required value={form.endpoint} onChange={(e) => set({ endpoint: e.target.value })} />}
            </Field>
          ) : null}
          {kind === "docker" ? (
            <Field label="Further managers" error={fieldError(act.problem, "fallback_hosts")} help="Optional: other manager endpoints of the same Swarm, one a line, tried in this order when the one before is unreachable.">
              {(c) => <textarea {...c} rows={2} spellCheck={false} value={form.fallbacks} onChange={(e) => set({ fallbacks: e.target.value })} />}
            </Field>
          ) : null}
          {kind === "docker" && needsTls(form.endpoint) ? (
            <>
              {cred("CA certificate (PEM)", form.ca, (v) => set({ ca: v }), "tls.ca", "The CA that signed the engine's certificate.")}
              {cred("Client certificate (PEM)", form.cert, (v) => set({ cert: v }), "tls.cert")}
              {cred("Client key (PEM)", form.key, (v) => set({ key: v }), "tls.key", "Unencrypted. Write-only: never shown again.")}
            </>
          ) : null}
          {kind === "podman" && form.perHost && chosen
            ? chosen.hosts.map((h) => {
                const one = form.hosts[h] ?? { url: "", sshKey: "", knownHosts: "" };
                const setHost = (patch: Partial<HostForm>) => set({ hosts: { ...form.hosts, [h]: { ...one, ...patch } } });
                return (
                  <fieldset key={h} className="host" aria-label={`Host ${h}`}>
                    <legend>Host {h}</legend>
                    <Field label={`${h}: Podman URL`} error={fieldError(act.problem, `hosts.${h}.url`)} help="unix:///run/podman/podman.sock, or ssh://USER@HOST:PORT/run/podman/podman.sock with a key.">
                      {(c) => <input {...c} required value={one.url} onChange={(e) => setHost({ url: e.target.value })} />}
                    </Field>
                    {needsSsh(one.url) ? (
                      <>
                        {cred(`${h}: SSH private key`, one.sshKey, (v) => setHost({ sshKey: v }), `hosts.${h}.ssh_key`, "Without a passphrase. Write-only: never shown again.")}
                        <Field label={`${h}: host key (known_hosts line)`} error={fieldError(act.problem, `hosts.${h}.known_hosts`)} help="ssh-keyscan -p PORT HOST: the host is verified, never trusted on first use.">
                          {(c) => <input {...c} required value={one.knownHosts} onChange={(e) => setHost({ knownHosts: e.target.value })} />}
                        </Field>
                      </>
                    ) : null}
                  </fieldset>
                );
              })
            : null}
          {kind === "podman" && !form.perHost && needsSsh(form.endpoint) ? (
            <>
              {cred("SSH private key", form.sshKey, (v) => set({ sshKey: v }), "ssh_key", "Without a passphrase. Write-only: never shown again.")}
              <Field label="Host key (known_hosts line)" error={fieldError(act.problem, "known_hosts")} help="ssh-keyscan -p PORT HOST: the host is verified, never trusted on first use.">
                {(c) => <input {...c} required value={form.knownHosts} onChange={(e) => set({ knownHosts: e.target.value })} />}
              </Field>
            </>
          ) : null}
          {kind === "kubernetes" ? (
            <>
              {cred("Kubeconfig", form.kubeconfig, (v) => set({ kubeconfig: v }), "kubeconfig", "Stored sealed; write-only.")}
              <Field label="Context" error={fieldError(act.problem, "context")} help="Empty: the kubeconfig's current context.">
                {(c) => <input {...c} value={form.context} onChange={(e) => set({ context: e.target.value })} />}
              </Field>
            </>
          ) : null}
          {kind === "openstack" ? (
            <>
              <Field label="Cloud" error={fieldError(act.problem, "cloud")} help="The entry's name under clouds: (as in openstack --os-cloud NAME).">
                {(c) => <input {...c} required value={form.cloud} onChange={(e) => set({ cloud: e.target.value })} />}
              </Field>
              {cred("clouds.yaml", form.cloudsYaml, (v) => set({ cloudsYaml: v }), "clouds_yaml", "Only the named entry is kept, sealed; write-only.")}
            </>
          ) : null}
          {kind === "vsphere" ? (
            <>
              <Field label="vCenter user" error={fieldError(act.problem, "username")}>
                {(c) => <input {...c} required value={form.username} onChange={(e) => set({ username: e.target.value })} />}
              </Field>
              <Field label="vCenter password" error={fieldError(act.problem, "password")}>
                {(c) => <input {...c} type="password" autoComplete="off" required value={form.password} onChange={(e) => set({ password: e.target.value })} />}
              </Field>
              {cred("vCenter CA certificate (PEM)", form.ca, (v) => set({ ca: v }), "ca", "Only when the server's trust store does not hold it.", false)}
              <label>
                <input type="checkbox" checked={form.verifyTls} onChange={(e) => set({ verifyTls: e.target.checked })} /> Verify vCenter's certificate
              </label>
            </>
          ) : null}
          <p>
            <button className="primary" type="submit" disabled={act.busy || !kind}>Store connection</button>
          </p>
        </form>
      ) : null}
    </>
  );
}
