// What the signed-in user may do where they are looking, so a reader sees no edit controls.
// Without auth, or for an admin, everything is allowed at once. A signed-in user who is not an
// admin sees no edit controls until the server has answered (a control that showed, then
// vanished, could be clicked in between and fail); if the server cannot say (an older
// server), everything is allowed: the server checks every request anyway.
import type { ComponentChildren } from "preact";
import { createContext } from "preact";
import { useContext } from "preact/hooks";
import { mine, mineExperiments, type Resource, type User } from "./auth";
import { useAsync } from "./hooks";

export interface Access {
  canUpdate: boolean;
  canDelete: boolean;
}

export const EVERYTHING: Access = { canUpdate: true, canDelete: true };
export const NOTHING: Access = { canUpdate: false, canDelete: false };
const AccessContext = createContext<Access>(EVERYTHING);
/** The session: "off" without auth, else the signed-in user. */
export const SessionContext = createContext<User | "off">("off");

export const useAccess = () => useContext(AccessContext);

/** Whether the session needs the server's answer before showing edit controls. */
const mustAsk = (user: User | "off") => user !== "off" && !user.is_admin;

/** Children see the caller's access to `resource` (an experiment or a registered model). */
export function AccessScope({ resource, children }: { resource: Resource | undefined; children: ComponentChildren }) {
  const user = useContext(SessionContext);
  const ask = mustAsk(user) && resource !== undefined;
  const key = ask && resource ? `${resource.kind}:${resource.id}` : "";
  const me = useAsync(() => (ask && resource ? mine(resource) : Promise.resolve(undefined)), [key]);
  let access = EVERYTHING;
  if (ask) {
    const d = me.data;
    if (me.loading && !d) access = NOTHING;
    else if (d?.auth_enabled) access = { canUpdate: d.can_update, canDelete: d.can_delete };
  }
  return <AccessContext.Provider value={access}>{children}</AccessContext.Provider>;
}

/** The caller's access to each experiment of a list (one request per 1,000). */
export function useExperimentsAccess(ids: string[]): (id: string) => Access {
  const user = useContext(SessionContext);
  const ask = mustAsk(user) && ids.length > 0;
  const found = useAsync(() => (ask ? mineExperiments(ids) : Promise.resolve(undefined)), [ask ? ids.join(",") : ""]);
  return (id: string) => {
    if (!ask) return EVERYTHING;
    if (found.loading && !found.data) return NOTHING;
    const map = found.data;
    if (map === undefined) return EVERYTHING; // the server cannot say; it checks anyway
    return map.get(id) ?? NOTHING;
  };
}


/** Children see what the caller may do on every one of several experiments (a runs table over
 * several: Delete shows only when it is allowed in each). */
export function ExperimentsAccessScope({ ids, children }: { ids: string[]; children: ComponentChildren }) {
  const accessOf = useExperimentsAccess(ids);
  const each = ids.map(accessOf);
  const access = { canUpdate: each.every((a) => a.canUpdate), canDelete: each.every((a) => a.canDelete) };
  return <AccessContext.Provider value={access}>{children}</AccessContext.Provider>;
}
