/**
 * The typed API client: openapi-fetch over the types generated from the server's OpenAPI
 * (src/api/schema.d.ts, `npm run gen:api`), with the session's bearer token on every call.
 */
import createClient from "openapi-fetch";
import type { paths } from "./schema";
import { ApiProblem, toProblem } from "./problem";
import type { Session } from "../auth/session";

export type Api = ReturnType<typeof createClient<paths>>;

export function makeApi(baseUrl: string, session: Session): Api {
  return createClient<paths>({ baseUrl, fetch: (req) => session.fetch(req) });
}

/** Await an openapi-fetch call and return its data, or throw ApiProblem with the problem. */
export async function call<T>(
  pending: Promise<{ data?: T; error?: unknown; response: Response }>,
): Promise<T> {
  let result: { data?: T; error?: unknown; response: Response };
  try {
    result = await pending;
  } catch (err) {
    throw new ApiProblem({ title: "The API cannot be reached", status: 0, detail: err instanceof Error ? err.message : String(err) });
  }
  if (result.error !== undefined || !result.response.ok) {
    throw new ApiProblem(toProblem(result.error, result.response.status));
  }
  return result.data as T;
}
