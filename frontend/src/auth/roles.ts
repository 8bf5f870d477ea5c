/**
 * Whether to offer an action, from the permissions the API reports for the caller (`GET /me`:
 * permissions per environment plus global ones). The API stays the authority: a refused call
 * is still shown as a problem; this only avoids offering buttons that are certain to fail.
 */

export type Permission =
  | "blueprint:write"
  | "deploy:request"
  | "deploy:approve"
  | "secret:read"
  | "secret:write"
  | "cert:write"
  | "connection:read"
  | "connection:write"
  | "audit:read"
  | "users:read"
  | "users:write"
  | "env:create"
  | "jobs:read";

export interface Access {
  isAdmin: boolean;
  /** Permission names per environment name. */
  environments: Record<string, { roles: readonly string[]; permissions: readonly string[] }>;
  /** Permissions that are not tied to an environment (users, audit…). */
  global: readonly string[];
}

/**
 * Whether the caller holds `permission` in `env`; with env null: globally, or in at least one
 * environment for environment-scoped permissions (used by pages that span environments).
 */
export function can(who: Access | null, permission: Permission, env: string | null): boolean {
  if (!who) return false;
  if (who.global.includes(permission)) return true;
  if (env !== null) return who.environments[env]?.permissions.includes(permission) ?? false;
  return Object.values(who.environments).some((e) => e.permissions.includes(permission));
}

/** The environments the caller has any role in, sorted. */
export function environmentsOf(who: Access | null): string[] {
  return who ? Object.keys(who.environments).sort() : [];
}

/** Roles in an environment, for display ("operator, developer"). */
export function rolesIn(who: Access | null, env: string): string {
  return who?.environments[env]?.roles.join(", ") ?? "";
}
