// An empty experiment's page: the lines that log its first run, to copy.

/** Shown instead of an empty runs table (no filter, active runs, first page). */
export function FirstRun({ experimentId }: { experimentId: string }) {
  const server = new URL(".", window.location.href).href.replace(/\/$/, "");
  const code = [
    "import mlflow  # or: import traza as mlflow",
    `mlflow.set_experiment(experiment_id="${experimentId}")`,
    'with mlflow.start_run(): mlflow.log_metric("rmse", 0.5)',
  ].join("\n");
  return (
    <div class="empty-state" aria-label="No runs yet">
      <p>
        No runs yet. Log the first one from Python, with <code>MLFLOW_TRACKING_URI={server}</code> set:
      </p>
      <pre class="code" aria-label="Code to log a first run">
        {code}
      </pre>
    </div>
  );
}
