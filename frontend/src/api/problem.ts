/** RFC 9457 problem details as the API returns them, and turning any failure into one. */
import type { components } from "./schema";

export interface Problem {
  type?: string;
  title: string;
  status: number;
  detail?: string;
  hint?: string;
  request_id?: string;
  diagnostics?: components["schemas"]["Diagnostic"][];
  errors?: Partial<components["schemas"]["FieldError"]>[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object";
}

/** A problem from an error body (problem+json, FastAPI's validation body, or anything else). */
export function toProblem(body: unknown, status: number): Problem {
  if (isRecord(body) && typeof body.title === "string") {
    return { ...(body as unknown as Problem), status: typeof body.status === "number" ? body.status : status };
  }
  if (isRecord(body) && Array.isArray(body.detail)) {
    return { title: "Unprocessable content", status, errors: body.detail as Problem["errors"] };
  }
  if (isRecord(body) && typeof body.detail === "string") return { title: "Error", status, detail: body.detail };
  return { title: status === 0 ? "The API cannot be reached" : `Request failed (${status})`, status };
}

/** The error thrown by `call()` so pages can show the problem. */
export class ApiProblem extends Error {
  readonly problem: Problem;
  constructor(problem: Problem) {
    super(problem.detail ?? problem.title);
    this.name = "ApiProblem";
    this.problem = problem;
  }
}

export function problemOf(err: unknown): Problem {
  if (err instanceof ApiProblem) return err.problem;
  return { title: "The API cannot be reached", status: 0, detail: err instanceof Error ? err.message : String(err) };
}
