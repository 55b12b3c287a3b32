// What the runs page asks of the server beyond searching: the CSV of its view and the number of
// runs it covers.
import { TRAZA, call, missing } from "./api";
import type { ViewType } from "./types";

export interface ViewQuery {
  experimentIds: string[];
  filter: string;
  view: ViewType;
  orderBy?: string[];
}

/** The server's CSV of exactly this view (filter, order, columns), streamed as it is read. */
export function csvUrl(q: ViewQuery, columns: string[]): string {
  const s = new URLSearchParams();
  for (const id of q.experimentIds) s.append("experiment_ids", id);
  if (q.filter) s.set("filter", q.filter);
  s.set("run_view_type", q.view);
  for (const o of q.orderBy ?? []) s.append("order_by", o);
  for (const c of ["name", ...columns]) s.append("columns", c);
  return `${TRAZA}runs/csv?${s.toString()}`;
}

/** Active runs of the experiments (one grouped query), or undefined on older servers. */
export async function activeRunCount(ids: string[]): Promise<number | undefined> {
  const q = new URLSearchParams();
  for (const id of ids) q.append("experiment_ids", id);
  try {
    const r = await call<{ experiments?: { run_count: number }[] }>("GET", `${TRAZA}experiments/summaries?${q.toString()}`);
    return (r.experiments ?? []).reduce((n, e) => n + e.run_count, 0);
  } catch (e) {
    if (missing(e)) return undefined;
    throw e;
  }
}

/** A group of runs sharing a param's or tag's value (`null`: runs without it). */
export interface RunGroup {
  value: string | null;
  count: number;
  metrics: Record<string, { count: number; mean: number; min: number; max: number }>;
}

export interface RunGroups {
  by: string;
  total_runs: number;
  truncated: boolean;
  groups: RunGroup[];
}

/** The view's runs grouped by `by` over every matching run (the server's GROUP BY), or
 * undefined on older servers. */
export async function runGroups(q: ViewQuery, by: string, metrics: string[]): Promise<RunGroups | undefined> {
  const s = new URLSearchParams();
  for (const id of q.experimentIds) s.append("experiment_ids", id);
  if (q.filter) s.set("filter", q.filter);
  s.set("run_view_type", q.view);
  s.set("by", by);
  for (const m of metrics) s.append("metrics", m);
  try {
    return await call<RunGroups>("GET", `${TRAZA}runs/groups?${s.toString()}`);
  } catch (e) {
    if (missing(e)) return undefined;
    throw e;
  }
}
