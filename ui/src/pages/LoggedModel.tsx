// A logged model (MLflow 3's `#/experiments/<id>/models/<model_id>`): what it is, where it came
// from, and how to load it. Its files are read through the server, whatever the artifact root.
import * as api from "../api";
import { ExperimentLink } from "../components/Crumbs";
import { ErrorBox, KeyValues, Link, Loading, Status } from "../components/common";
import { ModelView } from "../components/ModelView";
import { bytes, dateTime, num } from "../format";
import { useAsync } from "../hooks";
import type { LoggedModel } from "../types";

/** The registered versions a logged model became (the `mlflow.modelVersions` tag). */
export function registeredVersions(model: LoggedModel): { name: string; version: string }[] {
  const raw = (model.info.tags ?? []).find((t) => t.key === "mlflow.modelVersions")?.value;
  try {
    const list = raw ? (JSON.parse(raw) as { name?: string; version?: string | number }[]) : [];
    const versions = list.filter((v) => v.name).map((v) => ({ name: String(v.name), version: String(v.version ?? "") }));
    // Once each: a version can be listed twice (by the client and by the server).
    return versions.filter((v, i) => versions.findIndex((w) => w.name === v.name && w.version === v.version) === i);
  } catch {
    return [];
  }
}

export function LoggedModelPage({ modelId }: { modelId: string }) {
  const model = useAsync(() => api.getLoggedModel(modelId), [modelId]);
  if (model.error) return <ErrorBox error={model.error} />;
  if (!model.data) return <Loading what="Loading model" />;
  return <LoggedModelView model={model.data} />;
}

function LoggedModelView({ model }: { model: LoggedModel }) {
  const { info, data } = model;
  const run = useAsync(
    () => (info.source_run_id ? api.getRun(info.source_run_id) : Promise.resolve(undefined)),
    [info.source_run_id],
  );
  const files = useAsync(() => api.listLoggedModelArtifacts(info.model_id), [info.model_id]);
  const versions = registeredVersions(model);
  const userTags = (info.tags ?? []).filter((t) => !t.key.startsWith("mlflow."));
  return (
    <section aria-labelledby="model-title" class="model-page">
      <nav class="crumbs" aria-label="Breadcrumb">
        <ExperimentLink id={info.experiment_id} /> › Logged models ›
      </nav>
      <div class="page-head">
        <h1 id="model-title">{info.name}</h1>
        {info.status ? <Status status={info.status.replace("LOGGED_MODEL_", "")} /> : null}
      </div>
      <div class="model-grid">
        <section aria-labelledby="lm-details">
          <h2 id="lm-details">Details</h2>
          <KeyValues
            label="Logged model details"
            rows={[
              ["Model ID", <code>{info.model_id}</code>],
              [
                "Source run",
                info.source_run_id ? (
                  <Link to={["runs", info.source_run_id]}>{run.data?.info.run_name ?? info.source_run_id}</Link>
                ) : (
                  ""
                ),
              ],
              [
                "Registered as",
                versions.length
                  ? versions.map((v) => (
                      <Link to={["models", v.name]} class="chip">
                        {v.name} v{v.version}
                      </Link>
                    ))
                  : "",
              ],
              ["Type", info.model_type ?? ""],
              ["Created", dateTime(info.creation_timestamp_ms)],
              ["Artifact location", <code class="wrap">{info.artifact_uri ?? ""}</code>],
            ].filter(([, v]) => v !== "") as [string, preact.ComponentChildren][]}
          />
          <h2>Parameters ({data?.params?.length ?? 0})</h2>
          <div class="table-wrap scroll-list">
            <KeyValues
              label="Model parameters"
              rows={(data?.params ?? []).map((p) => [<span class="ellipsis" title={p.key}>{p.key}</span>, p.value])}
              empty="No parameters."
            />
          </div>
          <h2>Metrics</h2>
          <KeyValues label="Model metrics" rows={(data?.metrics ?? []).map((m) => [m.key, num(m.value)])} empty="No metrics." />
          <h2>Tags</h2>
          <KeyValues label="Model tags" rows={userTags.map((t) => [t.key, t.value])} empty="No tags." />
          <h2>Files</h2>
          <ErrorBox error={files.error} />
          {files.data ? (
            <ul class="files">
              {files.data.map((f) => (
                <li>
                  {f.is_dir ? (
                    <span>{f.path}/</span>
                  ) : (
                    <a href={api.loggedModelFileUrl(info.model_id, f.path)} download={f.path.split("/").pop()}>
                      {f.path}
                    </a>
                  )}{" "}
                  <span class="muted">{f.is_dir ? "" : bytes(f.file_size)}</span>
                </li>
              ))}
            </ul>
          ) : null}
        </section>
        <section aria-labelledby="lm-model">
          <h2 id="lm-model">Model</h2>
          <ModelView fileUrl={(p) => api.loggedModelFileUrl(info.model_id, p)} modelUri={`models:/${info.model_id}`} />
        </section>
      </div>
    </section>
  );
}
