// A sweep's parent run (`traza sweep`): its definition, best trial, a parallel-coordinates
// view of the trials and the trials table. Renders nothing for any other run.
import { useMemo, useState } from "preact/hooks";
import * as api from "../api";
import { colorAt } from "../colors";
import { PARENT_TAG } from "../columns";
import { duration, num, tagValue } from "../format";
import { useAsync, useInterval } from "../hooks";
import type { Run } from "../types";
import { ErrorBox, KeyValues, Link, Loading, Status } from "./common";
import { ParallelCoordinates, tabulate } from "./Plots";

const DEFINITION = "traza.sweep.definition";
const TRIAL = "traza.sweep.trial";

interface Dimension {
  kind: string;
  values?: string[];
  count?: number; // the whole list's length when the tag holds only its first values
  low?: number;
  high?: number;
}

interface Definition {
  entry_point?: string;
  strategy?: string;
  trials?: number;
  metric?: string | null;
  goal?: string;
  seed?: number | null;
  parameters?: Record<string, Dimension>;
}

function parseDefinition(text: string | undefined): Definition | undefined {
  if (!text) return undefined;
  try {
    const d = JSON.parse(text) as unknown;
    return d && typeof d === "object" ? (d as Definition) : undefined;
  } catch {
    return undefined;
  }
}

function describe(d: Dimension): string {
  const more = d.count && d.values && d.count > d.values.length ? `, … (${d.count} values)` : "";
  const listed = `${d.values?.join(", ") ?? ""}${more}`;
  if (d.kind === "values") return listed;
  if (d.kind === "choice") return `choice(${listed})`;
  return d.low === undefined ? d.kind : `${d.kind}(${d.low}, ${d.high})`;
}

/** Every child of the parent (pages of 1,000), the latest attempt of each trial kept. */
async function trialsOf(run: Run): Promise<Run[]> {
  const found: Run[] = [];
  let next: string | undefined;
  do {
    const page = await api.searchRuns({
      experimentIds: [run.info.experiment_id],
      filter: `tags.\`${PARENT_TAG}\` = '${run.info.run_id}'`,
      maxResults: 1000,
      pageToken: next,
    });
    found.push(...page.items);
    next = page.next;
  } while (next);
  const latest = new Map<string, Run>();
  for (const r of found) {
    const key = tagValue(r.data.tags, TRIAL) ?? r.info.run_id;
    const seen = latest.get(key);
    if (!seen || (r.info.start_time ?? 0) > (seen.info.start_time ?? 0)) latest.set(key, r);
  }
  return [...latest.values()].sort((a, b) => Number(tagValue(a.data.tags, TRIAL) ?? 0) - Number(tagValue(b.data.tags, TRIAL) ?? 0));
}

type Order = "trial" | "metric";

export function SweepPanel({ run }: { run: Run }) {
  const definition = parseDefinition(tagValue(run.data.tags, DEFINITION));
  if (!definition) return null;
  return <SweepView run={run} definition={definition} />;
}

function SweepView({ run, definition }: { run: Run; definition: Definition }) {
  const trials = useAsync(() => trialsOf(run), [run.info.run_id, run.info.status]);
  useInterval(trials.reload, 5000, run.info.status === "RUNNING");
  const [order, setOrder] = useState<Order>("metric");
  const names = Object.keys(definition.parameters ?? {});
  const metric = definition.metric ?? undefined;
  const minimize = definition.goal !== "maximize";
  const table = useMemo(() => (trials.data ? tabulate(trials.data) : undefined), [trials.data]);
  const bestId = tagValue(run.data.tags, "traza.sweep.best_run_id");
  const bestValue = tagValue(run.data.tags, "traza.sweep.best_value");
  const value = (r: Run) => (metric && table ? table.value(r.info.run_id, `metrics.${metric}`) : undefined);
  const pruned = (r: Run) => tagValue(r.data.tags, "traza.sweep.pruned") === "true";
  const rows = useMemo(() => {
    const all = [...(trials.data ?? [])];
    if (order === "metric" && metric) {
      const key = (r: Run) => {
        const v = value(r);
        return typeof v === "number" && r.info.status === "FINISHED" ? (minimize ? v : -v) : Infinity;
      };
      all.sort((a, b) => key(a) - key(b));
    }
    return all;
  }, [trials.data, order, table]);
  const counts = new Map<string, number>();
  for (const r of trials.data ?? []) {
    const s = pruned(r) ? "PRUNED" : r.info.status;
    counts.set(s, (counts.get(s) ?? 0) + 1);
  }
  // Lines coloured by the metric: blue for the best value, orange for the worst (grey: none).
  const shown = (trials.data ?? []).filter((r) => r.info.status === "FINISHED" || pruned(r));
  const scores = shown.map(value).filter((v): v is number => typeof v === "number" && Number.isFinite(v));
  const lo = Math.min(...scores);
  const hi = Math.max(...scores);
  const colorOf = (r: Run) => {
    const v = value(r);
    if (!metric || typeof v !== "number" || !Number.isFinite(v)) return metric ? "#bab0ac" : colorAt(Number(tagValue(r.data.tags, TRIAL) ?? 0));
    const t = hi > lo ? (minimize ? v - lo : hi - v) / (hi - lo) : 0;
    return `hsl(${Math.round(212 - t * 184)}, 62%, ${Math.round(42 + t * 8)}%)`;
  };
  const points = shown.map((r) => ({ id: r.info.run_id, name: r.info.run_name ?? r.info.run_id, color: colorOf(r) }));
  const axes = [...names.map((n) => `params.${n}`), ...(metric ? [`metrics.${metric}`] : [])];
  const best = trials.data?.find((r) => r.info.run_id === bestId);
  return (
    <section class="sweep" aria-labelledby="sweep-title" style={{ marginBottom: "1.5rem" }}>
      <h2 id="sweep-title">Sweep</h2>
      <div class="overview">
        <section aria-label="Sweep definition">
        <KeyValues
          label="Sweep definition"
          rows={[
            ["Strategy", `${definition.strategy ?? ""}${definition.seed !== null && definition.seed !== undefined ? ` (seed ${definition.seed})` : ""}`],
            ["Trials", `${(trials.data ?? []).length} of ${definition.trials ?? "?"} started`],
            ["Status", [...counts].map(([s, n]) => `${n} ${s.toLowerCase()}`).join(", ") || "none yet"],
            ["Objective", metric ? `${definition.goal ?? "minimize"} ${metric}` : "none (no --metric)"],
            ...names.map((n): [string, string] => [n, describe(definition.parameters![n]!)]),
          ]}
        />
        </section>
        <section aria-label="Best trial">
        <KeyValues
          label="Best trial"
          empty="No finished trial has logged the metric yet."
          rows={
            bestId
              ? [
                  ["Best run", <Link to={["runs", bestId]}>{best?.info.run_name ?? bestId}</Link>],
                  [metric ?? "value", num(bestValue)],
                  ...names.map((n): [string, string] => [n, String(best && table ? table.value(bestId, `params.${n}`) ?? "" : "")]),
                ]
              : []
          }
        />
        </section>
      </div>
      {trials.error ? <ErrorBox error={trials.error} /> : null}
      {!trials.data ? (
        <Loading what="Loading trials" />
      ) : (
        <>
          <h3>Parallel coordinates</h3>
          {metric && points.length ? <p class="muted">Each line is a trial, coloured by {metric}: blue is the best, orange the worst.</p> : null}
          {points.length && table ? (
            <ParallelCoordinates runs={points} axes={axes} value={table.value} />
          ) : (
            <p class="muted">No finished trial yet.</p>
          )}
          <h3>Trials ({rows.length})</h3>
          <div class="toolbar">
            {metric ? (
              <label>
                Order by{" "}
                <select value={order} onChange={(e) => setOrder(e.currentTarget.value as Order)}>
                  <option value="metric">{metric} (best first)</option>
                  <option value="trial">trial</option>
                </select>
              </label>
            ) : null}
          </div>
          <div class="table-wrap">
            <table class="grid sweep-trials" aria-label="Sweep trials">
              <thead>
                <tr>
                  <th scope="col">Trial</th>
                  <th scope="col">Run</th>
                  <th scope="col">Status</th>
                  {metric ? <th scope="col" class="num">{metric}</th> : null}
                  {names.map((n) => (
                    <th scope="col">{n}</th>
                  ))}
                  <th scope="col" class="num">Duration</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => (
                  <tr data-run={r.info.run_id}>
                    <td class="num">{tagValue(r.data.tags, TRIAL) ?? ""}</td>
                    <td>
                      <Link to={["runs", r.info.run_id]}>{r.info.run_name ?? r.info.run_id}</Link>
                      {r.info.run_id === bestId ? <> <span class="status status-finished">best</span></> : null}
                    </td>
                    <td>{pruned(r) ? <span class="status status-killed">PRUNED</span> : <Status status={r.info.status} />}</td>
                    {metric ? <td class="num">{num(value(r) as number | undefined)}</td> : null}
                    {names.map((n) => (
                      <td>{String(table?.value(r.info.run_id, `params.${n}`) ?? "")}</td>
                    ))}
                    <td class="num">{duration(r.info.start_time, r.info.end_time, r.info.status)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}
