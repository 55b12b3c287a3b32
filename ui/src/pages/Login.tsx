import { useState } from "preact/hooks";
import { ApiError } from "../api";
import { signIn, type User } from "../auth";
import { ErrorBox } from "../components/common";

/** The sign-in form; on success the app shows the view that asked for it. */
export function LoginPage({ onSignedIn }: { onSignedIn: (user: User) => void }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      onSignedIn(await signIn(username.trim(), password));
    } catch (err) {
      const status = err instanceof ApiError ? err.status : 0;
      setError(status === 401 ? "Wrong username or password." : (err as Error).message);
      setPassword("");
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="login" aria-labelledby="login-title">
      <h1 id="login-title">Sign in to Traza</h1>
      <form onSubmit={submit}>
        <label>
          Username
          <input
            name="username"
            autocomplete="username"
            required
            value={username}
            onInput={(e) => setUsername(e.currentTarget.value)}
          />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autocomplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        <ErrorBox error={error} label="Sign-in error" />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
      <p class="muted small">
        Scripts sign in with <code>MLFLOW_TRACKING_USERNAME</code>/<code>MLFLOW_TRACKING_PASSWORD</code> or a
        token in <code>MLFLOW_TRACKING_TOKEN</code>; ask an admin for an account.
      </p>
    </section>
  );
}
