/**
 * What each role may do, so the console shows only the actions the API would allow. The API
 * stays the authority: a refused call is still shown as a problem; this only avoids offering
 * buttons that are certain to be refused.
 */

export type Role = "admin" | "operator" | "developer" | "auditor";
export const ROLES: readonly Role[] = ["admin", "operator", "developer", "auditor"];

export type Action =
  | "blueprint.upload"
  | "deployment.start"
  | "deployment.approve"
  | "deployment.apply"
  | "deployment.rollback"
  | "secret.write"
  | "admin.manage"
  | "audit.read"
  | "audit.verify";

const ALLOWED: Record<Action, readonly Role[]> = {
  "blueprint.upload": ["admin", "operator", "developer"],
  "deployment.start": ["admin", "operator"],
  "deployment.approve": ["admin", "operator"],
  "deployment.apply": ["admin", "operator"],
  "deployment.rollback": ["admin", "operator"],
  "secret.write": ["admin"],
  "admin.manage": ["admin"],
  "audit.read": ["admin", "auditor"],
  "audit.verify": ["admin", "auditor"],
};

export interface RoleSource {
  /** Global administrators may do everything everywhere. */
  isAdmin: boolean;
  /** Roles per environment name. */
  roles: Record<string, readonly string[]>;
}

/** Whether the caller's roles allow `action` in `env` (or in any environment when env is null). */
export function can(who: RoleSource | null, action: Action, env: string | null): boolean {
  if (!who) return false;
  if (who.isAdmin) return true;
  const allowed = ALLOWED[action];
  const envs = env === null ? Object.keys(who.roles) : [env];
  return envs.some((e) => (who.roles[e] ?? []).some((r) => (allowed as readonly string[]).includes(r)));
}

/** The environments the caller has any role in, sorted. */
export function environmentsOf(who: RoleSource | null): string[] {
  return who ? Object.keys(who.roles).filter((e) => (who.roles[e] ?? []).length > 0).sort() : [];
}
