import type { components } from "../api/schema";

/** A policy finding as stored with a blueprint version (typed by the API's FindingOut). */
export type Finding = components["schemas"]["FindingOut"];

const RANK: Record<string, number> = { critical: 0, high: 1, medium: 2, low: 3, info: 4 };
export function bySeverity(a: Finding, b: Finding): number {
  return (RANK[a.severity] ?? 9) - (RANK[b.severity] ?? 9) || a.line - b.line;
}
