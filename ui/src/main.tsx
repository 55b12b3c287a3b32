import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { SessionContext } from "./access";
import { SIGN_IN_EVENT } from "./api";
import { signOut, signedIn, type User } from "./auth";
import { ErrorBox, Link, Loading } from "./components/common";
import { early } from "./hooks";
import { lazily } from "./lazy";
import { LoginPage } from "./pages/Login";
import { ExperimentsPage } from "./pages/Experiments";
import { RunsPage } from "./pages/Runs";

// The experiments list and the runs table are in the first download; other pages load on use.
const AccountPage = lazily(() => import("./pages/Account").then((m) => m.AccountPage));
const RunPage = lazily(() => import("./pages/Run").then((m) => m.RunPage));
const ComparePage = lazily(() => import("./pages/Compare").then((m) => m.ComparePage));
const LoggedModelPage = lazily(() => import("./pages/LoggedModel").then((m) => m.LoggedModelPage));
const ModelsPage = lazily(() => import("./pages/Models").then((m) => m.ModelsPage));
const RegisteredModelPage = lazily(() => import("./pages/Models").then((m) => m.RegisteredModelPage));
import { list, useRoute } from "./router";
import "uplot/dist/uPlot.min.css";
import "./style.css";

function Page() {
  const { parts, query } = useRoute();
  const [first, second] = parts;
  switch (first) {
    case undefined:
      return <ExperimentsPage query={query} />;
    case "experiments":
      // MLflow's links: `#/experiments/<id>/runs/<run>` (what its client prints) and
      // `#/experiments/<id>/models/<model_id>` (a logged model).
      if (parts[2] === "runs" && parts[3]) {
        // MLflow's tab paths too: `.../runs/<run>/artifacts[/<path>]`, `.../model-metrics`.
        const tab = ({ artifacts: "artifacts", "model-metrics": "metrics", overview: "overview" } as const)[parts[4] ?? ""];
        return <RunPage runId={parts[3]} query={query} tab={tab} artifact={parts.slice(5).join("/") || undefined} />;
      }
      if (parts[2] === "models" && parts[3]) return <LoggedModelPage modelId={parts[3]} />;
      return <RunsPage experimentIds={list(second ?? query.get("ids"))} query={query} />;
    case "runs":
      return second ? <RunPage runId={second} query={query} /> : <ExperimentsPage query={query} />;
    case "compare":
      return <ComparePage runIds={list(query.get("runs"))} query={query} />;
    case "models":
      return second ? <RegisteredModelPage name={second} /> : <ModelsPage query={query} />;
    default:
      return <p role="alert">No page {parts.join("/")}.</p>;
  }
}

/** Asked as soon as the code runs, before the first render (every page waits for it). */
const firstSession = early(signedIn);

/** The session: "off" without auth, a user when signed in, null when the server wants a sign-in. */
function useSession() {
  const [user, setUser] = useState<User | "off" | null>();
  const [error, setError] = useState<Error>();
  useEffect(() => {
    firstSession.then(setUser, setError);
    const ask = () => setUser((u) => (u === "off" ? u : null));
    window.addEventListener(SIGN_IN_EVENT, ask);
    return () => window.removeEventListener(SIGN_IN_EVENT, ask);
  }, []);
  return { user, setUser, error };
}

function App() {
  const { parts } = useRoute();
  const { user, setUser, error } = useSession();
  const section = parts[0] === "models" ? "models" : parts[0] === "account" ? "account" : "experiments";
  if (error) return <ErrorBox error={error} />;
  if (user === undefined) return <Loading />;
  return (
    <>
      <header class="top">
        <Link to={[]} class="brand">
          Traza
        </Link>
        <nav aria-label="Sections">
          <Link to={[]} class={section === "experiments" ? "active" : ""}>
            Experiments
          </Link>
          <Link to={["models"]} class={section === "models" ? "active" : ""}>
            Models
          </Link>
        </nav>
        {user && user !== "off" && (
          <div class="user" aria-label="Signed in">
            <Link to={["account"]} class={section === "account" ? "active" : ""} title="Access tokens and password">
              {user.username}
            </Link>
            <button type="button" class="link" onClick={() => void signOut().finally(() => setUser(null))}>
              Sign out
            </button>
          </div>
        )}
      </header>
      <main>
        {user === null ? (
          <LoginPage onSignedIn={setUser} />
        ) : section === "account" && user !== "off" ? (
          <AccountPage user={user} />
        ) : (
          <SessionContext.Provider value={user}>
            <Page key={user === "off" ? "" : user.username} />
          </SessionContext.Provider>
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
