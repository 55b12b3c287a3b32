import { render } from "preact";
import { Link } from "./components/common";
import { ExperimentsPage } from "./pages/Experiments";
import { RunsPage } from "./pages/Runs";
import { RunPage } from "./pages/Run";
import { ComparePage } from "./pages/Compare";
import { ModelsPage, RegisteredModelPage } from "./pages/Models";
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

function App() {
  const { parts } = useRoute();
  const section = parts[0] === "models" ? "models" : "experiments";
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
      </header>
      <main>
        <Page />
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
