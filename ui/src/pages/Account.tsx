import { useState } from "preact/hooks";
import { SIGN_IN_EVENT } from "../api";
import { changePassword, createToken, listTokens, revokeToken, type User } from "../auth";
import { ErrorBox, Loading } from "../components/common";
import { dateTime } from "../format";
import { useAsync } from "../hooks";

/** The signed-in user's access tokens (for scripts and jobs) and password. */
export function AccountPage({ user }: { user: User }) {
  const tokens = useAsync(listTokens, []);
  const [name, setName] = useState("");
  const [days, setDays] = useState("90");
  const [secret, setSecret] = useState<string>();
  const [error, setError] = useState<Error>();

  const create = async (e: Event) => {
    e.preventDefault();
    setError(undefined);
    try {
      const made = await createToken(name.trim(), days ? Number(days) : undefined);
      setSecret(made.token);
      setName("");
      tokens.reload();
    } catch (err) {
      setError(err as Error);
    }
  };
  const revoke = async (id: number) => {
    setError(undefined);
    try {
      await revokeToken(id);
      tokens.reload();
    } catch (err) {
      setError(err as Error);
    }
  };
  const shown = (tokens.data ?? []).filter((t) => t.kind !== "session");

  return (
    <section aria-labelledby="account-title">
      <div class="page-head">
        <h1 id="account-title">{user.username}</h1>
        <span class="muted">{user.is_admin ? "Administrator" : "User"}</span>
      </div>
      <h2>Access tokens</h2>
      <p class="muted">
        A token signs a script or a job in without your password: set <code>MLFLOW_TRACKING_TOKEN</code> to it.
        Revoking one takes effect on every server worker within seconds.
      </p>
      <form class="toolbar" onSubmit={create} aria-label="New access token">
        <label>
          Name <input required maxLength={255} value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label>
          Expires in{" "}
          <select value={days} onChange={(e) => setDays(e.currentTarget.value)}>
            <option value="7">7 days</option>
            <option value="30">30 days</option>
            <option value="90">90 days</option>
            <option value="365">1 year</option>
            <option value="">never</option>
          </select>
        </label>
        <button type="submit">Create token</button>
      </form>
      {secret && (
        <div class="card" role="status" aria-label="New token">
          <p>Copy the token now: it is not shown again.</p>
          <code class="secret">{secret}</code>{" "}
          <button type="button" onClick={() => void navigator.clipboard?.writeText(secret)}>
            Copy
          </button>{" "}
          <button type="button" onClick={() => setSecret(undefined)}>
            Done
          </button>
        </div>
      )}
      <ErrorBox error={error ?? tokens.error} />
      {tokens.loading && !tokens.data ? (
        <Loading what="Loading tokens" />
      ) : shown.length ? (
        <div class="table-wrap">
          <table aria-label="Access tokens">
            <thead>
              <tr>
                <th>Name</th>
                <th>Kind</th>
                <th>Created</th>
                <th>Expires</th>
                <th>Last used</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {shown.map((t) => (
                <tr key={t.id}>
                  <td>{t.name || <span class="muted">unnamed</span>}</td>
                  <td>{t.kind === "run" ? `run ${t.run_id?.slice(0, 8) ?? ""}` : t.kind}</td>
                  <td>{dateTime(t.created_time)}</td>
                  <td>{t.expires_time ? dateTime(t.expires_time) : "never"}</td>
                  <td>{t.last_used_time ? dateTime(t.last_used_time) : "never"}</td>
                  <td>
                    <button type="button" class="danger" onClick={() => void revoke(t.id)}>
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        <p class="muted">No tokens yet.</p>
      )}
      <PasswordForm user={user} />
    </section>
  );
}

function PasswordForm({ user }: { user: User }) {
  const [current, setCurrent] = useState("");
  const [password, setPassword] = useState("");
  const [again, setAgain] = useState("");
  const [message, setMessage] = useState<string>();
  const [error, setError] = useState<string>();
  const submit = async (e: Event) => {
    e.preventDefault();
    setMessage(undefined);
    setError(undefined);
    if (password !== again) {
      setError("The two passwords differ.");
      return;
    }
    try {
      await changePassword(user.username, current, password);
      setCurrent("");
      setPassword("");
      setAgain("");
      setMessage("Password changed: sign in again with the new one.");
      window.setTimeout(() => window.dispatchEvent(new Event(SIGN_IN_EVENT)), 1500);
    } catch (err) {
      setError((err as Error).message);
    }
  };
  return (
    <>
      <h2>Password</h2>
      <form class="toolbar" onSubmit={submit} aria-label="Change password">
        <label>
          Current password{" "}
          <input type="password" autocomplete="current-password" required value={current} onInput={(e) => setCurrent(e.currentTarget.value)} />
        </label>
        <label>
          New password{" "}
          <input type="password" autocomplete="new-password" required value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        </label>
        <label>
          Again{" "}
          <input type="password" autocomplete="new-password" required value={again} onInput={(e) => setAgain(e.currentTarget.value)} />
        </label>
        <button type="submit">Change password</button>
      </form>
      {message && <p role="status">{message}</p>}
      <ErrorBox error={error} />
    </>
  );
}
