/** A policy finding as stored with a blueprint version (the policy engine's JSON form). */
export interface Finding {
  rule: string;
  severity: string;
  title?: string;
  message: string;
  component?: string | null;
  path?: string | null;
  file?: string;
  line?: number;
  col?: number;
  hint?: string;
  suppressed?: boolean;
}

export function asFindings(raw: readonly Record<string, unknown>[] | undefined): Finding[] {
  return (raw ?? []).filter((f) => typeof f.rule === "string" && typeof f.severity === "string") as unknown as Finding[];
}

const RANK: Record<string, number> = { critical: 0, high: 1, medium: 2, low: 3, info: 4 };
export function bySeverity(a: Finding, b: Finding): number {
  return (RANK[a.severity] ?? 9) - (RANK[b.severity] ?? 9) || (a.line ?? 0) - (b.line ?? 0);
}
