// A thin client over the server's JSON endpoints. Paths are relative to the page, so the UI
// works under a static prefix; errors carry MLflow's error code and message.
import type {
  Experiment,
  ExperimentKeys,
  FileInfo,
  LoggedModel,
  MetricSummary,
  ModelVersion,
  RegisteredModel,
  Run,
  Series,
  ViewType,
} from "./types";

const ROOT = new URL(".", window.location.href).pathname;
export const MLFLOW = `${ROOT}ajax-api/2.0/mlflow/`;
export const MLFLOW_V3 = `${ROOT}ajax-api/3.0/mlflow/`;
export const TRAZA = `${ROOT}ajax-api/traza/v1/`;
/** Fired when the server answers 401: the app shows the sign-in page, then the same view. */
export const SIGN_IN_EVENT = "traza:sign-in";

export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly status: number,
  ) {
    super(message);
  }
}

type Query = Record<string, string | number | boolean | string[] | undefined>;

function queryString(query: Query): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const item of v) q.append(k, item);
    else q.append(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

export async function call<T>(method: string, url: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, headers: {} };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { "Content-Type": "application/json" };
  }
  let response: Response;
  try {
    response = await fetch(url, init);
  } catch (e) {
    throw new ApiError(`The server did not answer (${String(e)}).`, "NETWORK", 0);
  }
  const text = await response.text();
  let data: unknown = {};
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    data = { message: text };
  }
  if (!response.ok) {
    const d = data as { message?: string; error_code?: string };
    if (response.status === 401 && !url.startsWith(`${TRAZA}auth/`)) {
      window.dispatchEvent(new Event(SIGN_IN_EVENT));
    }
    throw new ApiError(d.message ?? response.statusText, d.error_code ?? "ERROR", response.status);
  }
  return data as T;
}

const get = <T>(path: string, query: Query = {}) => call<T>("GET", MLFLOW + path + queryString(query));
const post = <T>(path: string, body: unknown) => call<T>("POST", MLFLOW + path, body);
const traza = <T>(path: string, query: Query) => call<T>("GET", TRAZA + path + queryString(query));

/** True when the server lacks the endpoint (an older server): callers fall back. */
export const missing = (e: unknown) => e instanceof ApiError && e.status === 404 && e.code === "ENDPOINT_NOT_FOUND";

// -- experiments -------------------------------------------------------------------------------
export interface Page<T> {
  items: T[];
  next?: string;
}

export async function searchExperiments(opts: {
  filter?: string;
  view?: ViewType;
  pageToken?: string;
  maxResults?: number;
}): Promise<Page<Experiment>> {
  const r = await post<{ experiments?: Experiment[]; next_page_token?: string }>("experiments/search", {
    filter: opts.filter || undefined,
    view_type: opts.view ?? "ACTIVE_ONLY",
    max_results: opts.maxResults ?? 1000,
    order_by: ["last_update_time DESC"],
    page_token: opts.pageToken,
  });
  return { items: r.experiments ?? [], next: r.next_page_token };
}

export const getExperiment = (id: string) =>
  get<{ experiment: Experiment }>("experiments/get", { experiment_id: id }).then((r) => r.experiment);
export const createExperiment = (name: string) =>
  post<{ experiment_id: string }>("experiments/create", { name }).then((r) => r.experiment_id);
export const renameExperiment = (id: string, name: string) =>
  post("experiments/update", { experiment_id: id, new_name: name });
export const deleteExperiment = (id: string) => post("experiments/delete", { experiment_id: id });
export const restoreExperiment = (id: string) => post("experiments/restore", { experiment_id: id });

// -- runs --------------------------------------------------------------------------------------
export async function searchRuns(opts: {
  experimentIds: string[];
  filter?: string;
  view?: ViewType;
  orderBy?: string[];
  pageToken?: string;
  maxResults?: number;
}): Promise<Page<Run>> {
  const r = await post<{ runs?: Run[]; next_page_token?: string }>("runs/search", {
    experiment_ids: opts.experimentIds,
    filter: opts.filter || undefined,
    run_view_type: opts.view ?? "ACTIVE_ONLY",
    max_results: opts.maxResults ?? 100,
    order_by: opts.orderBy,
    page_token: opts.pageToken,
  });
  return { items: r.runs ?? [], next: r.next_page_token };
}

export const getRun = (id: string) => get<{ run: Run }>("runs/get", { run_id: id }).then((r) => r.run);
export const deleteRun = (id: string) => post("runs/delete", { run_id: id });
export const restoreRun = (id: string) => post("runs/restore", { run_id: id });
export const setRunTag = (id: string, key: string, value: string) =>
  post("runs/set-tag", { run_id: id, key, value });

export interface ExperimentSummary {
  experiment_id: string;
  run_count: number;
  last_run_start_time?: number;
}

/** Run count and last run of each experiment (nothing on servers without the endpoint). */
export async function experimentSummaries(ids: string[]): Promise<Map<string, ExperimentSummary>> {
  const found = new Map<string, ExperimentSummary>();
  for (let i = 0; i < ids.length; i += 1000) {
    try {
      const r = await traza<{ experiments?: ExperimentSummary[] }>("experiments/summaries", {
        experiment_ids: ids.slice(i, i + 1000),
      });
      for (const s of r.experiments ?? []) found.set(s.experiment_id, s);
    } catch (e) {
      if (!missing(e)) throw e;
      break;
    }
  }
  return found;
}

/** Distinct param, metric and tag keys of the experiments (from a sample of runs on old servers). */
export async function experimentKeys(ids: string[]): Promise<ExperimentKeys> {
  try {
    return await traza<ExperimentKeys>("experiments/keys", { experiment_ids: ids });
  } catch (e) {
    if (!missing(e)) throw e;
  }
  const page = await searchRuns({ experimentIds: ids, maxResults: 1000 });
  const params = new Set<string>();
  const metrics = new Set<string>();
  const tags = new Set<string>();
  for (const run of page.items) {
    for (const p of run.data.params ?? []) params.add(p.key);
    for (const m of run.data.metrics ?? []) metrics.add(m.key);
    for (const t of run.data.tags ?? []) tags.add(t.key);
  }
  const sorted = (s: Set<string>) => [...s].sort();
  return { params: sorted(params), metrics: sorted(metrics), tags: sorted(tags) };
}

export type XAxis = "step" | "timestamp" | "relative";

/**
 * Downsampled histories of one metric for several runs; with `range` (x bounds in the axis'
 * unit: steps, or milliseconds), only the points within it, for a zoomed chart.
 */
export async function metricHistories(
  runIds: string[],
  key: string,
  xAxis: XAxis,
  maxPoints = 1000,
  range?: [number, number],
): Promise<Series[]> {
  try {
    const r = await traza<{ series: Series[] }>("metrics/history", {
      run_ids: runIds,
      key,
      x_axis: xAxis,
      max_points: maxPoints,
      ...(range ? { x_min: range[0], x_max: range[1] } : {}),
    });
    return r.series;
  } catch (e) {
    if (!missing(e)) throw e;
  }
  return Promise.all(runIds.map((id) => fullHistory(id, key, xAxis)));
}

/** Keys one `metrics/histories` request may name, and series (runs × keys) it may return. */
const BATCH_KEYS = 50;
const BATCH_SERIES = 2000;

type Pending = { key: string; resolve: (s: Series[]) => void; reject: (e: unknown) => void };
const queued = new Map<string, { runIds: string[]; xAxis: XAxis; maxPoints: number; waiting: Pending[] }>();
let batching = true;

/**
 * The whole history of `key` for `runIds`, downsampled, like `metricHistories`; the calls made
 * in the same task for the same runs (a workspace's panels mounting) go out as one
 * `metrics/histories` request, so they do not queue behind the browser's six connections.
 */
export function batchedHistories(runIds: string[], key: string, xAxis: XAxis, maxPoints = 1000): Promise<Series[]> {
  if (!batching || runIds.length === 0) return metricHistories(runIds, key, xAxis, maxPoints);
  const group = `${xAxis}|${maxPoints}|${runIds.join(",")}`;
  return new Promise((resolve, reject) => {
    let batch = queued.get(group);
    if (!batch) {
      batch = { runIds, xAxis, maxPoints, waiting: [] };
      queued.set(group, batch);
      window.setTimeout(() => {
        queued.delete(group);
        void flush(batch!);
      }, 0);
    }
    batch.waiting.push({ key, resolve, reject });
  });
}

async function flush(batch: { runIds: string[]; xAxis: XAxis; maxPoints: number; waiting: Pending[] }): Promise<void> {
  const keys = [...new Set(batch.waiting.map((w) => w.key))];
  const per = Math.max(1, Math.min(BATCH_KEYS, Math.floor(BATCH_SERIES / batch.runIds.length)));
  const found = new Map<string, Series[]>();
  try {
    const chunks: string[][] = [];
    for (let i = 0; i < keys.length; i += per) chunks.push(keys.slice(i, i + per));
    await Promise.all(
      chunks.map(async (chunk) => {
        const r = await call<{ histories: { key: string; series: Series[] }[] }>("POST", `${TRAZA}metrics/histories`, {
          run_ids: batch.runIds,
          keys: chunk,
          x_axis: batch.xAxis,
          max_points: batch.maxPoints,
        });
        for (const h of r.histories) found.set(h.key, h.series);
      }),
    );
  } catch (e) {
    if (missing(e)) {
      batching = false; // an older server: one request per key
      for (const w of batch.waiting) metricHistories(batch.runIds, w.key, batch.xAxis, batch.maxPoints).then(w.resolve, w.reject);
      return;
    }
    for (const w of batch.waiting) w.reject(e);
    return;
  }
  for (const w of batch.waiting) w.resolve(found.get(w.key) ?? []);
}

async function fullHistory(runId: string, key: string, xAxis: XAxis): Promise<Series> {
  const r = await get<{ metrics?: { value: number | string; step?: number; timestamp: number }[] }>(
    "metrics/get-history",
    { run_id: runId, metric_key: key, max_results: 100000 },
  );
  const ms = r.metrics ?? [];
  const t0 = ms.length ? Math.min(...ms.map((m) => m.timestamp)) : 0;
  const points = ms.map((m): [number, number] => {
    const x = xAxis === "step" ? (m.step ?? 0) : xAxis === "timestamp" ? m.timestamp : m.timestamp - t0;
    return [x, Number(m.value)];
  });
  points.sort((a, b) => a[0] - b[0]);
  return { run_id: runId, key, total: points.length, points };
}

/** Last, min, max and count per metric key of a run (last values only on old servers). */
export async function metricSummaries(run: Run): Promise<MetricSummary[]> {
  try {
    const r = await traza<{ summaries?: MetricSummary[] }>(
      `runs/${encodeURIComponent(run.info.run_id)}/metric-summaries`,
      {},
    );
    return r.summaries ?? [];
  } catch (e) {
    if (!missing(e)) throw e;
  }
  return (run.data.metrics ?? []).map((m) => ({
    key: m.key,
    latest: m.value,
    min: null,
    max: null,
    count: 0,
    last_step: m.step,
  }));
}

// -- artifacts ---------------------------------------------------------------------------------
export async function listArtifacts(runId: string, path?: string): Promise<FileInfo[]> {
  const r = await get<{ files?: FileInfo[] }>("artifacts/list", { run_id: runId, path: path || undefined });
  return r.files ?? [];
}

export const artifactUrl = (runId: string, path: string) =>
  `${TRAZA}artifacts/get${queryString({ run_id: runId, path })}`;

// -- models ------------------------------------------------------------------------------------
export async function searchLoggedModels(experimentIds: string[], filter?: string): Promise<LoggedModel[]> {
  const r = await post<{ models?: LoggedModel[] }>("logged-models/search", {
    experiment_ids: experimentIds,
    filter: filter || undefined,
    max_results: 1000,
  });
  return r.models ?? [];
}

/** The models a run logged: those it is the source of, and its outputs (MLflow 3's run page). */
export async function runLoggedModels(run: Run): Promise<LoggedModel[]> {
  const id = run.info.run_id;
  const found = await searchLoggedModels([run.info.experiment_id], `source_run_id = '${id}'`);
  const known = new Set(found.map((m) => m.info.model_id));
  const others = (run.outputs?.model_outputs ?? []).map((o) => o.model_id).filter((m) => !known.has(m));
  const extra = await Promise.all([...new Set(others)].map((m) => getLoggedModel(m).catch(() => undefined)));
  return [...found, ...extra.filter((m): m is LoggedModel => m !== undefined)];
}

/** One file of a logged model, wherever the server keeps it (MLflow 3's endpoint). */
export const loggedModelFileUrl = (modelId: string, path: string) =>
  `${MLFLOW}logged-models/${encodeURIComponent(modelId)}/artifacts/files${queryString({ artifact_file_path: path })}`;

export async function listLoggedModelArtifacts(modelId: string, path?: string): Promise<FileInfo[]> {
  const r = await get<{ files?: FileInfo[] }>(`logged-models/${encodeURIComponent(modelId)}/artifacts/directories`, {
    artifact_directory_path: path || undefined,
  });
  return r.files ?? [];
}

export const getLoggedModel = (id: string) =>
  get<{ model: LoggedModel }>(`logged-models/${encodeURIComponent(id)}`).then((r) => r.model);

export async function searchRegisteredModels(filter?: string): Promise<RegisteredModel[]> {
  const r = await get<{ registered_models?: RegisteredModel[] }>("registered-models/search", {
    filter: filter || undefined,
    max_results: 1000,
  });
  return r.registered_models ?? [];
}

export const getRegisteredModel = (name: string) =>
  get<{ registered_model: RegisteredModel }>("registered-models/get", { name }).then((r) => r.registered_model);

export async function searchModelVersions(filter: string): Promise<ModelVersion[]> {
  const r = await get<{ model_versions?: ModelVersion[] }>("model-versions/search", {
    filter,
    max_results: 1000,
  });
  return r.model_versions ?? [];
}

// -- registry edits ------------------------------------------------------------------------------
const send = <T>(method: string, path: string, body: unknown) => call<T>(method, MLFLOW + path, body);

export const updateRegisteredModel = (name: string, description: string) =>
  send("PATCH", "registered-models/update", { name, description });
export const setModelAlias = (name: string, alias: string, version: string) =>
  post("registered-models/alias", { name, alias, version });
export const deleteModelAlias = (name: string, alias: string) =>
  send("DELETE", "registered-models/alias", { name, alias });
export const setRegisteredModelTag = (name: string, key: string, value: string) =>
  post("registered-models/set-tag", { name, key, value });
export const deleteRegisteredModelTag = (name: string, key: string) =>
  send("DELETE", "registered-models/delete-tag", { name, key });
export const setModelVersionTag = (name: string, version: string, key: string, value: string) =>
  post("model-versions/set-tag", { name, version, key, value });
export const deleteModelVersionTag = (name: string, version: string, key: string) =>
  send("DELETE", "model-versions/delete-tag", { name, version, key });
