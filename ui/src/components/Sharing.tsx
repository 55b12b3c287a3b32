import { useState } from "preact/hooks";
import { LEVELS, grant, listGrants, mine, revoke, type Level, type Resource } from "../auth";
import { useAsync } from "../hooks";
import { ErrorBox } from "./common";

const DESCRIBE: Record<Level, string> = {
  READ: "read",
  USE: "read and use",
  EDIT: "read and edit",
  MANAGE: "edit, delete and share",
  NO_PERMISSIONS: "no access",
};

/**
 * Who may do what on an experiment or a registered model. Shown only with auth on: the caller's
 * own level for everyone, and the list of grants with controls to those who may manage it.
 */
export function Sharing({ resource }: { resource: Resource }) {
  const key = `${resource.kind}:${resource.id}`;
  const me = useAsync(() => mine(resource), [key]);
  const manage = (me.data?.auth_enabled && me.data.can_manage) ?? false;
  const grants = useAsync(() => (manage ? listGrants(resource) : Promise.resolve([])), [key, manage]);
  const [username, setUsername] = useState("");
  const [level, setLevel] = useState<Level>("READ");
  const [error, setError] = useState<Error>();

  if (!me.data?.auth_enabled) return null;
  const act = async (fn: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await fn();
      grants.reload();
    } catch (e) {
      setError(e as Error);
    }
  };
  return (
    <details class="sharing card">
      <summary>
        Access: you can {DESCRIBE[me.data.permission]}
        {me.data.is_admin ? " (administrator)" : ""}
      </summary>
      {manage && (
        <>
          <table aria-label="Access granted">
            <tbody>
              {(grants.data ?? []).map((g) => (
                <tr key={g.username}>
                  <th scope="row">{g.username}</th>
                  <td>
                    <select
                      aria-label={`Access of ${g.username}`}
                      value={g.permission}
                      onChange={(e) => void act(() => grant(resource, g.username, e.currentTarget.value as Level))}
                    >
                      {LEVELS.map((l) => (
                        <option value={l}>{l}</option>
                      ))}
                    </select>
                  </td>
                  <td>
                    <button type="button" onClick={() => void act(() => revoke(resource, g.username))}>
                      Remove
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <form
            class="inline-form"
            aria-label="Share"
            onSubmit={(e) => {
              e.preventDefault();
              void act(async () => {
                await grant(resource, username.trim(), level);
                setUsername("");
              });
            }}
          >
            <input placeholder="username" required value={username} onInput={(e) => setUsername(e.currentTarget.value)} />
            <select aria-label="Access level" value={level} onChange={(e) => setLevel(e.currentTarget.value as Level)}>
              {LEVELS.map((l) => (
                <option value={l}>{l}</option>
              ))}
            </select>
            <button type="submit">Share</button>
          </form>
        </>
      )}
      <ErrorBox error={error ?? grants.error} />
    </details>
  );
}
