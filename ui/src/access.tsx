// What the signed-in user may do where they are looking, so a reader sees no edit controls.
// Without auth, or until the server answers, everything is allowed (the server checks anyway).
import type { ComponentChildren } from "preact";
import { createContext } from "preact";
import { useContext } from "preact/hooks";
import { mine, type Resource } from "./auth";
import { useAsync } from "./hooks";

export interface Access {
  canUpdate: boolean;
  canDelete: boolean;
}

const EVERYTHING: Access = { canUpdate: true, canDelete: true };
const AccessContext = createContext<Access>(EVERYTHING);

export const useAccess = () => useContext(AccessContext);

/** Children see the caller's access to `resource` (an experiment or a registered model). */
export function AccessScope({ resource, children }: { resource: Resource | undefined; children: ComponentChildren }) {
  const key = resource ? `${resource.kind}:${resource.id}` : "";
  const me = useAsync(() => (resource ? mine(resource) : Promise.resolve(undefined)), [key]);
  const d = me.data;
  const access = d?.auth_enabled ? { canUpdate: d.can_update, canDelete: d.can_delete } : EVERYTHING;
  return <AccessContext.Provider value={access}>{children}</AccessContext.Provider>;
}
