import { useState, type SyntheticEvent } from "react";
import { call } from "../api/client";
import { can } from "../auth/roles";
import { fieldError } from "../api/problem";
import { Field } from "../components/Field";
import { ProblemView } from "../components/ProblemView";
import { useAction, useAsync } from "../components/useAsync";
import { useApp } from "../context";
import { Link } from "../router";

export function Environments() {
  const { api, access, reloadMe } = useApp();
  const list = useAsync(() => call(api.GET("/api/v1/environments")), "");
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const act = useAction();
  const create = (e: SyntheticEvent) => {
    e.preventDefault();
    void act.run(async () => {
      await call(api.POST("/api/v1/environments", { body: { name, description } }));
      setName("");
      setDescription("");
      list.reload();
      await reloadMe();
    });
  };
  return (
    <>
      <h1>Environments</h1>
      <ProblemView problem={list.problem ?? act.problem} besideFields={["name", "description"]} />
      <table className="grid">
        <thead>
          <tr><th scope="col">Name</th><th scope="col">Description</th><th scope="col">Current version</th><th scope="col">MFA required for</th></tr>
        </thead>
        <tbody>
          {(list.data ?? []).map((e) => (
            <tr key={e.name}>
              <td><Link to={`/envs/${encodeURIComponent(e.name)}/overview`}>{e.name}</Link></td>
              <td>{e.description}</td>
              <td>{e.latest_version ? `v${e.latest_version}` : "none"}</td>
              <td>{e.mfa_required_for.join(", ")}</td>
            </tr>
          ))}
          {!list.loading && (list.data ?? []).length === 0 ? <tr><td colSpan={4}>No environments yet.</td></tr> : null}
        </tbody>
      </table>
      {can(access, "env:create", null) ? (
        <form className="card inline" onSubmit={create} aria-labelledby="ne">
          <h2 id="ne">New environment</h2>
          <Field label="Name" error={fieldError(act.problem, "name")} help="Lower-case letters, digits and hyphens.">
            {(c) => <input {...c} required pattern="[a-z0-9]([a-z0-9\-]*[a-z0-9])?" value={name} onChange={(e) => setName(e.target.value)} />}
          </Field>
          <Field label="Description" error={fieldError(act.problem, "description")}>
            {(c) => <input {...c} value={description} onChange={(e) => setDescription(e.target.value)} />}
          </Field>
          <button className="primary" type="submit" disabled={act.busy}>Create environment</button>
        </form>
      ) : null}
    </>
  );
}
