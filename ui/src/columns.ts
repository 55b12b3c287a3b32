// Runs-table columns: the fixed ones and user-chosen `params.x`, `metrics.x`, `tags.x`, each
// with the order_by key the server sorts it by.
import { duration, num, relative, tagValue } from "./format";
import type { Run } from "./types";

export type Kind = "params" | "metrics" | "tags";

export interface Column {
  id: string;
  title: string;
  /** The server's order_by key, or undefined when the column cannot be sorted server-side. */
  sortKey?: string;
  value: (run: Run) => string;
  numeric?: boolean;
}

const backtick = (key: string) => "`" + key.replace(/`/g, "\\`") + "`";

export const SOURCE_TAG = "mlflow.source.name";
export const PARENT_TAG = "mlflow.parentRunId";

export const FIXED: Column[] = [
  { id: "name", title: "Run name", sortKey: "attributes.run_name", value: (r) => r.info.run_name ?? r.info.run_id },
  { id: "status", title: "Status", sortKey: "attributes.status", value: (r) => r.info.status },
  { id: "start", title: "Created", sortKey: "attributes.start_time", value: (r) => relative(r.info.start_time) },
  {
    id: "duration",
    title: "Duration",
    value: (r) => duration(r.info.start_time, r.info.end_time, r.info.status),
  },
  { id: "user", title: "User", sortKey: "attributes.user_id", value: (r) => r.info.user_id ?? "" },
  {
    id: "source",
    title: "Source",
    sortKey: `tags.${backtick(SOURCE_TAG)}`,
    value: (r) => {
      const s = tagValue(r.data.tags, SOURCE_TAG) ?? "";
      return s.split(/[\\/]/).pop() ?? s;
    },
  },
];

export function parseColumnId(id: string): [Kind, string] | undefined {
  const m = /^(params|metrics|tags)\.(.+)$/.exec(id);
  return m ? [m[1] as Kind, m[2]!] : undefined;
}

export function dataColumn(id: string): Column | undefined {
  const parsed = parseColumnId(id);
  if (!parsed) return undefined;
  const [kind, key] = parsed;
  const value = (run: Run): string => {
    if (kind === "metrics") {
      const m = run.data.metrics?.find((x) => x.key === key);
      return m ? num(m.value) : "";
    }
    const items = kind === "params" ? run.data.params : run.data.tags;
    return items?.find((x) => x.key === key)?.value ?? "";
  };
  return { id, title: key, sortKey: `${kind}.${backtick(key)}`, value, numeric: kind === "metrics" };
}

export const columnById = (id: string): Column | undefined => FIXED.find((c) => c.id === id) ?? dataColumn(id);

// Column ids may hold commas, so the URL keeps them escaped in a comma-separated list.
export const encodeCols = (ids: string[]) => ids.map((c) => encodeURIComponent(c)).join(",");
export const decodeCols = (v: string | null) =>
  v ? v.split(",").filter(Boolean).map((c) => decodeURIComponent(c)) : [];

/** The kind a column is grouped under in the table's header (undefined: the run's own). */
export const kindOf = (id: string): Kind | undefined => parseColumnId(id)?.[0];

/** Data columns in the header's group order: metrics, then parameters, then tags. */
export function grouped(ids: string[]): string[] {
  const rank = (id: string) => ["metrics", "params", "tags"].indexOf(kindOf(id) ?? "");
  return [...ids].sort((a, b) => rank(a) - rank(b));
}

/**
 * The columns a table opens with before any are chosen: up to 10 of the runs' metrics (latest
 * values; `system/` ones left out) and up to 5 of their most common params, the most common first.
 */
export function defaultColumns(runs: Run[]): string[] {
  const metrics = new Map<string, number>();
  const params = new Map<string, number>();
  for (const r of runs) {
    for (const m of r.data.metrics ?? []) if (!m.key.startsWith("system/")) metrics.set(m.key, (metrics.get(m.key) ?? 0) + 1);
    for (const p of r.data.params ?? []) params.set(p.key, (params.get(p.key) ?? 0) + 1);
  }
  const top = (counts: Map<string, number>, n: number) =>
    [...counts.entries()]
      .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
      .slice(0, n)
      .map(([k]) => k);
  return [...top(metrics, 10).map((k) => `metrics.${k}`), ...top(params, 5).map((k) => `params.${k}`)];
}

const storageKey = (experimentIds: string[]) => `traza.columns.${[...experimentIds].sort().join(",")}`;

/** The columns last chosen for these experiments in this browser, if any. */
export function storedColumns(experimentIds: string[]): string[] | undefined {
  try {
    const v = window.localStorage.getItem(storageKey(experimentIds));
    return v === null ? undefined : decodeCols(v);
  } catch {
    return undefined; // storage disabled: the defaults
  }
}

export function storeColumns(experimentIds: string[], ids: string[]): void {
  try {
    window.localStorage.setItem(storageKey(experimentIds), encodeCols(ids));
  } catch {
    // storage disabled or full: the URL still holds the view
  }
}
