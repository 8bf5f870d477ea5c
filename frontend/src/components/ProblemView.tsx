import { fieldMessage, fieldPath, headline, type Problem } from "../api/problem";

/**
 * Shows an API refusal or failure in words: what happened, the server's detail and hint, the
 * field errors not already shown beside their fields (`besideFields` lists those fields), and
 * the request id to quote.
 */
export function ProblemView({ problem, besideFields = [] }: { problem: Problem | null; besideFields?: string[] }) {
  if (!problem) return null;
  const refused = problem.status === 403;
  const beside = (p: string) => besideFields.some((f) => p === f || p.startsWith(f + "."));
  const rest = (problem.errors ?? []).filter((e) => !beside(fieldPath(e)));
  const shownBeside = (problem.errors ?? []).length - rest.length;
  return (
    <div className={`problem${refused ? " refused" : ""}`} role="alert">
      <strong>{headline(problem)}</strong>
      {problem.detail && problem.detail !== "The request does not match the API schema." ? <p>{problem.detail}</p> : null}
      {shownBeside ? <p>See the marked field{shownBeside > 1 ? "s" : ""} below.</p> : null}
      {problem.hint ? <p className="hint">{problem.hint}</p> : null}
      {rest.length ? (
        <ul>
          {rest.map((e, i) => (
            <li key={i}>
              {fieldPath(e) ? <><code>{fieldPath(e)}</code>: </> : null}
              {fieldMessage(e)}
            </li>
          ))}
        </ul>
      ) : null}
      {problem.status || problem.request_id ? (
        <p className="request-id">
          {problem.status ? `HTTP ${problem.status}` : ""}
          {problem.request_id ? <> · request id <code>{problem.request_id}</code> (quote it when asking for help)</> : null}
        </p>
      ) : null}
    </div>
  );
}
