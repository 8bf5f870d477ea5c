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

/** Where a field error points, without the "body" prefix: "members.1", "environment". */
export function fieldPath(e: Partial<components["schemas"]["FieldError"]>): string {
  return (e.loc ?? []).filter((l, i) => !(i === 0 && (l === "body" || l === "query" || l === "path"))).join(".");
}

/** A field error's message in words (pydantic's regular expressions mean nothing to a person). */
export function fieldMessage(e: Partial<components["schemas"]["FieldError"]>): string {
  switch (e.type) {
    case "string_pattern_mismatch":
      return "Use lower-case letters, digits and hyphens, starting and ending with a letter or digit.";
    case "missing":
      return "Required.";
    case "literal_error":
    case "enum":
      return "Choose one of the offered values.";
    default:
      return e.msg ?? "Invalid.";
  }
}

/** The messages of the field errors at `field` (and below it, e.g. "members.2"), joined. */
export function fieldError(problem: Problem | null, field: string): string | undefined {
  const hits = (problem?.errors ?? []).filter((e) => {
    const p = fieldPath(e);
    return p === field || p.startsWith(field + ".");
  });
  return hits.length ? hits.map(fieldMessage).join(" ") : undefined;
}

const HEADLINES: Record<number, string> = {
  0: "The API cannot be reached",
  400: "The request was refused",
  401: "Your session has ended: sign in again",
  403: "You are not allowed to do this",
  404: "Not found",
  409: "This conflicts with the current state",
  413: "The request is too large",
  422: "Some of what you entered needs attention",
  429: "Too many attempts: wait a moment and retry",
  500: "The server failed to do this",
  503: "The server is busy or switching over: retry in a moment",
};

/** What happened, in words, for a problem's status. */
export function headline(problem: Problem): string {
  if (problem.status === 0) return problem.title;
  return HEADLINES[problem.status] ?? problem.title;
}
