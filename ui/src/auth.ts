// Sign-in, access tokens and sharing, for a server started with `--app-name basic-auth`. With
// auth off the server has no such endpoints (`signedIn` resolves to "off") and none of this shows.
import { ApiError, MLFLOW, MLFLOW_V3, TRAZA, call } from "./api";

export interface User {
  id: number;
  username: string;
  is_admin: boolean;
}

export interface Token {
  id: number;
  name: string;
  kind: string;
  created_time: number;
  expires_time?: number | null;
  last_used_time?: number | null;
  run_id?: string | null;
}

export type Level = "READ" | "USE" | "EDIT" | "MANAGE" | "NO_PERMISSIONS";
export const LEVELS: Level[] = ["READ", "USE", "EDIT", "MANAGE", "NO_PERMISSIONS"];

export interface Grant {
  username: string;
  permission: Level;
}

/** What the signed-in user may do on an experiment, a run's experiment or a registered model. */
export interface Mine {
  permission: Level;
  is_admin: boolean;
  auth_enabled: boolean;
  can_update: boolean;
  can_delete: boolean;
  can_manage: boolean;
}

/** The signed-in user; "off" when the server has no authentication; null when signed out. */
export async function signedIn(): Promise<User | "off" | null> {
  try {
    const r = await call<{ user: User | null; auth_enabled?: boolean }>("GET", `${TRAZA}auth/me`);
    return r.auth_enabled === false ? "off" : r.user;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return "off";
    if (e instanceof ApiError && e.status === 401) return null;
    throw e;
  }
}

export const signIn = (username: string, password: string) =>
  call<{ user: User }>("POST", `${TRAZA}auth/login`, { username, password }).then((r) => r.user);
export const signOut = () => call("POST", `${TRAZA}auth/logout`, {});

export const listTokens = () => call<{ tokens?: Token[] }>("GET", `${TRAZA}tokens`).then((r) => r.tokens ?? []);
export const createToken = (name: string, expiresInDays?: number) =>
  call<{ token: string; info: Token }>("POST", `${TRAZA}tokens`, {
    name,
    expires_in_days: expiresInDays,
  });
export const revokeToken = (id: number) => call("DELETE", `${TRAZA}tokens/${id}`);

/** A new password ends every session of the user's, this one included. */
export const changePassword = (username: string, current: string, password: string) =>
  call("PATCH", `${MLFLOW}users/update-password`, { username, password, current_password: current });

/** A resource that can be shared: an experiment (by id) or a registered model (by name). */
export type Resource = { kind: "experiment"; id: string } | { kind: "registered_model"; id: string };

const query = (r: Resource) =>
  r.kind === "experiment" ? `experiment_id=${encodeURIComponent(r.id)}` : `name=${encodeURIComponent(r.id)}`;

export async function mine(r: Resource): Promise<Mine | undefined> {
  try {
    return await call<Mine>("GET", `${TRAZA}permissions/mine?${query(r)}`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404 && e.code === "ENDPOINT_NOT_FOUND") return undefined;
    throw e;
  }
}

export const listGrants = (r: Resource) =>
  call<{ permissions?: Grant[] }>("GET", `${TRAZA}permissions/list?${query(r)}`).then((x) => x.permissions ?? []);

export const grant = (r: Resource, username: string, permission: Level) =>
  call("POST", `${MLFLOW_V3}users/permissions/grant`, {
    username,
    resource_type: r.kind,
    resource_id: r.id,
    permission,
  });

export const revoke = (r: Resource, username: string) =>
  call("POST", `${MLFLOW_V3}users/permissions/revoke`, {
    username,
    resource_type: r.kind,
    resource_id: r.id,
  });

/** The caller's access to each experiment of a list (undefined on servers without the endpoint). */
export async function mineExperiments(ids: string[]): Promise<Map<string, { canUpdate: boolean; canDelete: boolean }> | undefined> {
  const found = new Map<string, { canUpdate: boolean; canDelete: boolean }>();
  for (let i = 0; i < ids.length; i += 1000) {
    const q = ids.slice(i, i + 1000).map((id) => `experiment_ids=${encodeURIComponent(id)}`).join("&");
    try {
      const r = await call<{ experiments: (Mine & { experiment_id: string })[] }>("GET", `${TRAZA}permissions/mine/experiments?${q}`);
      for (const e of r.experiments) found.set(e.experiment_id, { canUpdate: e.can_update, canDelete: e.can_delete });
    } catch (e) {
      if (e instanceof ApiError && e.status === 404 && e.code === "ENDPOINT_NOT_FOUND") return undefined;
      throw e;
    }
  }
  return found;
}
