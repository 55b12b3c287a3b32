import { AccessScope } from "../access";
import * as api from "../api";
import { useState } from "preact/hooks";
import { ArtifactBrowser } from "../components/Artifacts";
import { ExperimentLink } from "../components/Crumbs";
import { ErrorBox, KeyValues, Link, Loading, Status, Tabs } from "../components/common";
import { EditableText, useEdit } from "../components/Editors";
import { ChartControls, MetricChart, settingsFromQuery, settingsToQuery } from "../components/MetricChart";
import { SweepPanel } from "../components/Sweep";
import { PARENT_TAG, SOURCE_TAG } from "../columns";
import { bytes, dateTime, duration, num, tagValue } from "../format";
import { useAsync, useInterval } from "../hooks";
import { updateQuery } from "../router";
import type { LoggedModel, Run } from "../types";

const NOTE = "mlflow.note.content";
type Tab = "overview" | "metrics" | "artifacts";

export function RunPage({ runId, query, tab: pathTab, artifact: pathArtifact }: {
  runId: string;
  query: URLSearchParams;
  /** The tab and file an MLflow link names in its path (the query's win). */
  tab?: Tab;
  artifact?: string;
}) {
  const run = useAsync(() => api.getRun(runId), [runId]);
  const loaded = run.data;
  const models = useAsync(
    () => (loaded ? api.runLoggedModels(loaded) : Promise.resolve([] as LoggedModel[])),
    [runId, loaded?.outputs?.model_outputs?.length ?? -1, loaded ? 1 : 0],
  );
  const tab = (query.get("tab") as Tab | null) ?? pathTab ?? "overview";
  useInterval(run.reload, 5000, run.data?.info.status === "RUNNING");
  if (run.error) return <ErrorBox error={run.error} />;
  if (!run.data) return <Loading what="Loading run" />;
  const r = run.data;
  const experiment = r.info.experiment_id;
  return (
    <AccessScope resource={{ kind: "experiment", id: experiment }}>
      <section aria-labelledby="run-title">
        <nav class="crumbs" aria-label="Breadcrumb">
          <ExperimentLink id={experiment} /> ›
        </nav>
        <div class="page-head">
          <h1 id="run-title">{r.info.run_name ?? r.info.run_id}</h1>
          <Status status={r.info.status} />
          {r.info.lifecycle_stage === "deleted" ? <span class="status status-killed">deleted</span> : null}
        </div>
        <Tabs<Tab>
          label="Run sections"
          tabs={[
            ["overview", "Overview"],
            ["metrics", "Metric charts"],
            ["artifacts", "Artifacts"],
          ]}
          current={tab}
          onChange={(t) => updateQuery({ tab: t, artifact: "" })}
        />
        {tab === "overview" ? <SweepPanel run={r} /> : null}
        {tab === "overview" ? <Overview run={r} models={models.data ?? []} onChange={run.reload} /> : null}
        {tab === "metrics" ? <RunCharts run={r} query={query} /> : null}
        {tab === "artifacts" ? (
          <ArtifactBrowser
            runId={runId}
            models={models.data ?? []}
            selected={query.get("artifact") ?? pathArtifact}
            onSelect={(path) => updateQuery({ artifact: path }, true)}
          />
        ) : null}
      </section>
    </AccessScope>
  );
}

/** Whether a key or value holds the search text (case-insensitive); everything without one. */
const matches = (search: string, ...texts: (string | undefined)[]) =>
  !search || texts.some((t) => t?.toLowerCase().includes(search));

/** A name that may be long (autolog's metric names): one line, ellipsized, whole on hover. */
const Name = ({ text }: { text: string }) => (
  <span class="ellipsis" title={text}>
    {text}
  </span>
);

function Overview({ run, models, onChange }: { run: Run; models: LoggedModel[]; onChange: () => void }) {
  const [searchText, setSearch] = useState("");
  const search = searchText.trim().toLowerCase();
  const { info, data } = run;
  const tags = data.tags ?? [];
  const parent = tagValue(tags, PARENT_TAG);
  const commit = tagValue(tags, "mlflow.source.git.commit");
  const children = useAsync(
    () =>
      api.searchRuns({
        experimentIds: [info.experiment_id],
        filter: `tags.\`${PARENT_TAG}\` = '${info.run_id}'`,
        maxResults: 100,
      }),
    [info.run_id],
  );
  const summaries = useAsync(() => api.metricSummaries(run), [info.run_id, data.metrics?.length]);
  const system = (key: string) => key.startsWith("mlflow.") || key.startsWith("traza.");
  const userTags = tags.filter((t) => !system(t.key));
  const systemTags = tags.filter((t) => system(t.key) && t.key !== NOTE);
  const datasets = run.inputs?.dataset_inputs ?? [];
  const steps = new Map((run.outputs?.model_outputs ?? []).map((o) => [o.model_id, o.step]));
  const params = (data.params ?? []).filter((p) => matches(search, p.key, p.value));
  const metrics = (summaries.data ?? []).filter((m) => matches(search, m.key));
  const shownTags = userTags.filter((t) => matches(search, t.key, t.value));
  const shownSystemTags = systemTags.filter((t) => matches(search, t.key, t.value));
  const count = (shown: number, all: number) => (shown === all ? `${all}` : `${shown} of ${all}`);
  return (
    <>
    <div class="overview-search" role="search">
      <label>
        <span class="sr-only">Search parameters, metrics and tags</span>
        <input
          type="search"
          placeholder="Search parameters, metrics and tags"
          aria-label="Search parameters, metrics and tags"
          value={searchText}
          onInput={(e) => setSearch(e.currentTarget.value)}
        />
      </label>
    </div>
    <div class="overview">
      <section aria-labelledby="ov-details">
        <h2 id="ov-details">Details</h2>
        <KeyValues
          label="Run details"
          rows={[
            ["Run ID", <code>{info.run_id}</code>],
            ["Status", <Status status={info.status} />],
            ["Started", dateTime(info.start_time)],
            ["Ended", dateTime(info.end_time)],
            ["Duration", duration(info.start_time, info.end_time, info.status)],
            ["User", info.user_id ?? ""],
            ["Source", tagValue(tags, SOURCE_TAG) ?? ""],
            ["Source type", tagValue(tags, "mlflow.source.type") ?? ""],
            ["Git commit", commit ? <code>{commit}</code> : ""],
            ["Entry point", tagValue(tags, "mlflow.project.entryPoint") ?? ""],
            ["Parent run", parent ? <Link to={["runs", parent]}>{parent}</Link> : ""],
            [
              "Child runs",
              children.data?.items.length ? (
                <span>
                  {children.data.items.map((c) => (
                    <Link to={["runs", c.info.run_id]} class="chip">
                      {c.info.run_name ?? c.info.run_id}
                    </Link>
                  ))}
                </span>
              ) : (
                ""
              ),
            ],
            ["Artifact URI", <code class="wrap">{info.artifact_uri ?? ""}</code>],
          ].filter(([, v]) => v !== "") as [string, preact.ComponentChildren][]}
        />
      </section>
      <Description run={run} onSaved={onChange} />
      <section aria-labelledby="ov-params" class="span2">
        <h2 id="ov-params">Parameters ({count(params.length, data.params?.length ?? 0)})</h2>
        <div class="table-wrap scroll-list">
          <KeyValues
            label="Parameters"
            rows={params.map((p) => [<Name text={p.key} />, p.value])}
            empty={search ? "No parameter matches." : "No parameters."}
          />
        </div>
      </section>
      <section aria-labelledby="ov-metrics" class="span2 two-columns">
        <h2 id="ov-metrics">Metrics ({count(search ? metrics.length : data.metrics?.length ?? 0, data.metrics?.length ?? 0)})</h2>
        <ErrorBox error={summaries.error} />
        {metrics.length ? (
          <div class="table-wrap scroll-list">
          <table class="grid fit" aria-label="Metrics">
            <colgroup>
              <col class="key" />
              <col span={3} />
              <col class="count" />
            </colgroup>
            <thead>
              <tr>
                <th scope="col">Metric</th>
                <th scope="col" class="num">Last</th>
                <th scope="col" class="num">Min</th>
                <th scope="col" class="num">Max</th>
                <th scope="col" class="num" title="Points logged">Points</th>
              </tr>
            </thead>
            <tbody>
              {metrics.map((m) => (
                <tr>
                  <th scope="row">
                    <Link to={["runs", info.run_id]} query={{ tab: "metrics", metric: m.key }} class="ellipsis" title={m.key}>
                      {m.key}
                    </Link>
                  </th>
                  <td class="num" title={num(m.latest)}>{num(m.latest)}</td>
                  <td class="num" title={num(m.min)}>{num(m.min)}</td>
                  <td class="num" title={num(m.max)}>{num(m.max)}</td>
                  <td class="num">{m.count || ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
          </div>
        ) : summaries.data ? (
          <p class="muted">{search && summaries.data.length ? "No metric matches." : "No metrics."}</p>
        ) : null}
      </section>
      <section aria-labelledby="ov-tags">
        <h2 id="ov-tags">Tags ({count(shownTags.length, userTags.length)})</h2>
        <div class="table-wrap scroll-list">
          <KeyValues
            label="Tags"
            rows={shownTags.map((t) => [<Name text={t.key} />, t.value])}
            empty={search && userTags.length ? "No tag matches." : "No tags."}
          />
        </div>
        {shownSystemTags.length ? (
          <details open={Boolean(search)}>
            <summary>System tags ({count(shownSystemTags.length, systemTags.length)})</summary>
            <KeyValues label="System tags" rows={shownSystemTags.map((t) => [<Name text={t.key} />, t.value])} />
          </details>
        ) : null}
      </section>
      <section aria-labelledby="ov-datasets" class={datasets.length ? "wide" : ""}>
        <h2 id="ov-datasets">Datasets ({datasets.length})</h2>
        {datasets.length ? (
          <div class="table-wrap">
          <table class="grid" aria-label="Datasets">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Digest</th>
                <th scope="col">Context</th>
                <th scope="col">Source</th>
              </tr>
            </thead>
            <tbody>
              {datasets.map((d) => (
                <tr>
                  <td>{d.dataset.name}</td>
                  <td class="mono">{d.dataset.digest}</td>
                  <td>{tagValue(d.tags, "mlflow.data.context") ?? ""}</td>
                  <td class="mono small wrap">{datasetSource(d.dataset)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          </div>
        ) : (
          <p class="muted">No dataset inputs.</p>
        )}
      </section>
      <Lineage run={run} />
      <section aria-labelledby="ov-models">
        <h2 id="ov-models">Logged models ({models.length})</h2>
        {models.length ? (
          <ul class="models">
            {models.map((m) => (
              <li>
                <Link to={["experiments", m.info.experiment_id, "models", m.info.model_id]} title={m.info.model_id}>
                  {m.info.name}
                </Link>
                {steps.get(m.info.model_id) ? <span class="muted"> (step {steps.get(m.info.model_id)})</span> : null}
                {m.info.status && m.info.status !== "LOGGED_MODEL_READY" ? (
                  <> <Status status={m.info.status.replace("LOGGED_MODEL_", "")} /></>
                ) : null}{" "}
                <Link to={["runs", info.run_id]} query={{ tab: "artifacts", artifact: `models:/${m.info.model_id}` }} class="muted small">
                  files
                </Link>
              </li>
            ))}
          </ul>
        ) : (
          <p class="muted">No logged models.</p>
        )}
      </section>
    </div>
    </>
  );
}

/** A DVC-tracked input's source (JSON: its path, size, file count) as words; others as given. */
function datasetSource(d: { source_type?: string; source?: string }): string {
  if (d.source_type === "dvc" && d.source) {
    try {
      const s = JSON.parse(d.source) as { repo_path?: string; path?: string; size?: number; nfiles?: number };
      const files = s.nfiles !== undefined ? `, ${s.nfiles.toLocaleString()} files` : "";
      return `dvc ${s.repo_path ?? s.path ?? ""} (${bytes(s.size)}${files})`;
    } catch {
      // not the JSON traza.lineage writes: shown as it is
    }
  }
  return `${d.source_type ?? ""} ${d.source ?? ""}`;
}

/** What made the run, as Traza records it when a run starts in a DVC stage (traza.lineage). */
function Lineage({ run }: { run: Run }) {
  const tags = run.data.tags;
  const tag = (key: string) => tagValue(tags, key);
  const stage = tag("traza.dvc.stage");
  const from = tag("traza.reproduced_from");
  const commit = tag("mlflow.source.git.commit");
  const id = run.info.run_id;
  const reproductions = useAsync(
    () =>
      stage
        ? api.searchRuns({ experimentIds: [run.info.experiment_id], filter: `tags.\`traza.reproduced_from\` = '${id}'`, maxResults: 100 })
        : Promise.resolve(undefined),
    [id, stage],
  );
  if (!stage && !from) return null;
  const dirty = tag("traza.source.git.dirty") === "true";
  const changes = tag("traza.source.git.changes");
  const environment = (path: string, label: string) => (
    <Link to={["runs", id]} query={{ tab: "artifacts", artifact: `environment/${path}` }} class="chip">
      {label}
    </Link>
  );
  const rows: [string, preact.ComponentChildren][] = [];
  if (stage) rows.push(["DVC stage", <code>{stage}</code>]);
  const cmd = tag("traza.dvc.cmd");
  if (cmd) rows.push(["Command", <code>{cmd}</code>]);
  const wdir = tag("traza.dvc.wdir");
  if (wdir) rows.push(["Stage folder", <code>{wdir}</code>]);
  if (commit) {
    rows.push([
      "Code",
      <span>
        <code>{commit.slice(0, 12)}</code>{" "}
        {dirty ? <span class="status status-killed" title={changes ?? ""}>uncommitted changes</span> : <span class="muted">clean tree</span>}
      </span>,
    ]);
  }
  if (dirty && changes) rows.push(["Changed files", <code class="small">{changes}</code>]);
  const python = tag("traza.python.version");
  if (python) rows.push(["Python", python]);
  if (stage) {
    rows.push([
      "Environment",
      <span>
        {environment("requirements.txt", "requirements.txt")} {environment("python_env.yaml", "python_env.yaml")}
      </span>,
    ]);
  }
  if (from) rows.push(["Reproduced from", <Link to={["runs", from]}>{from}</Link>]);
  const copies = reproductions.data?.items ?? [];
  if (copies.length) {
    rows.push([
      "Reproductions",
      <span>
        {copies.map((c) => (
          <Link to={["runs", c.info.run_id]} class="chip">
            {c.info.run_name ?? c.info.run_id}
          </Link>
        ))}
      </span>,
    ]);
  }
  if (stage && commit) rows.push(["Reproduce", <code>traza reproduce {id}</code>]);
  return (
    <section aria-labelledby="ov-lineage">
      <h2 id="ov-lineage">Lineage</h2>
      <p class="muted">
        The data versions are the run's dataset inputs (DVC md5s); its code and environment are below.
      </p>
      <KeyValues label="Lineage" rows={rows} />
    </section>
  );
}

function Description({ run, onSaved }: { run: Run; onSaved: () => void }) {
  const [edit, error] = useEdit(onSaved);
  return (
    <section aria-labelledby="ov-description">
      <h2 id="ov-description">Description</h2>
      <EditableText
        label="Description"
        value={tagValue(run.data.tags, NOTE) ?? ""}
        onSave={(text) => edit(() => api.setRunTag(run.info.run_id, NOTE, text))}
        error={error}
      />
    </section>
  );
}

function RunCharts({ run, query }: { run: Run; query: URLSearchParams }) {
  const settings = settingsFromQuery(query);
  const keys = [...new Set((run.data.metrics ?? []).map((m) => m.key))].sort();
  const only = query.get("metric");
  const shown = only && keys.includes(only) ? [only] : keys;
  // `system/` metrics (log_system_metrics=True) in a group of their own, after the model's.
  const system = shown.filter((k) => k.startsWith("system/"));
  const runs = [{ id: run.info.run_id, name: run.info.run_name ?? run.info.run_id, active: run.info.status === "RUNNING" }];
  return (
    <div>
      <ChartControls settings={settings} onChange={(s) => updateQuery(settingsToQuery(s), true)} />
      {only ? (
        <button type="button" onClick={() => updateQuery({ metric: "" })}>
          Show all metrics
        </button>
      ) : null}
      {keys.length === 0 ? <p class="muted">This run has no metrics.</p> : null}
      <div class="charts">
        {shown
          .filter((k) => !k.startsWith("system/"))
          .map((k) => (
            <MetricChart metric={k} runs={runs} settings={settings} />
          ))}
      </div>
      {system.length ? (
        <section aria-labelledby="system-group">
          <h3 class="panel-group" id="system-group">
            System
          </h3>
          <div class="charts">
            {system.map((k) => (
              <MetricChart metric={k} runs={runs} settings={settings} />
            ))}
          </div>
        </section>
      ) : null}
    </div>
  );
}
