import type { Problem } from "../api/problem";

/** Shows an API refusal or failure in full: status, title, detail, hint, field errors. */
export function ProblemView({ problem }: { problem: Problem | null }) {
  if (!problem) return null;
  const refused = problem.status === 403;
  return (
    <div className={`problem${refused ? " refused" : ""}`} role="alert">
      <strong>
        {problem.status ? `${problem.status} ` : ""}
        {problem.title}
      </strong>
      {problem.detail ? <p>{problem.detail}</p> : null}
      {problem.hint ? <p className="hint">{problem.hint}</p> : null}
      {problem.errors?.length ? (
        <ul>
          {problem.errors.map((e, i) => (
            <li key={i}>
              <code>{(e.loc ?? []).filter((l) => l !== "body").join(".")}</code>: {e.msg}
            </li>
          ))}
        </ul>
      ) : null}
      {problem.request_id ? <p className="muted">Request {problem.request_id}</p> : null}
    </div>
  );
}
