import { createContext, useContext } from "react";
import type { Api } from "./api/client";
import type { components } from "./api/schema";
import type { Session } from "./auth/session";
import type { Access } from "./auth/roles";

export type Me = components["schemas"]["MeOut"];

export interface AppState {
  api: Api;
  session: Session;
  apiUrl: string;
  me: Me;
  access: Access;
  reloadMe: () => Promise<void>;
}

export const AppContext = createContext<AppState | null>(null);

export function useApp(): AppState {
  const ctx = useContext(AppContext);
  if (!ctx) throw new Error("useApp outside the signed-in app");
  return ctx;
}

export function accessOf(me: Me): Access {
  return {
    isAdmin: me.is_admin,
    environments: Object.fromEntries(
      me.environments.map((e) => [e.environment, { roles: e.roles, permissions: e.permissions }]),
    ),
    global: me.global_permissions,
  };
}
