// The chart workspace over the runs a table shows (MLflow's chart view, W&B's workspace): a
// panel per metric (lines for histories, bars for one value per run), a scatter and parallel
// coordinates, each of which can be added, removed, moved and expanded to full screen. The
// layout is kept per experiment in the browser's storage.
import type { ComponentChildren } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { updateQuery } from "../router";
import type { Run } from "../types";
import { ChartControls, MetricChart, settingsToQuery, type ChartSettings } from "./MetricChart";
import {
  ParallelCoordinates,
  Scatter,
  defaultParallelAxes,
  defaultScatterAxes,
  tabulate,
  type Point,
} from "./Plots";

type Panel =
  | { id: string; kind: "metric"; metric: string }
  | { id: string; kind: "scatter"; x?: string; y?: string }
  | { id: string; kind: "parallel"; axes?: string[] };

/** Metric panels a fresh workspace opens with (one per metric, `system/` ones last). */
const DEFAULT_METRIC_PANELS = 16;

const storageKey = (ids: string[]) => `traza.workspace.${[...ids].sort().join(",")}`;

function load(ids: string[]): Panel[] | undefined {
  try {
    const v = window.localStorage.getItem(storageKey(ids));
    const parsed: unknown = v ? JSON.parse(v) : undefined;
    return Array.isArray(parsed) ? (parsed as Panel[]) : undefined;
  } catch {
    return undefined;
  }
}

function save(ids: string[], panels: Panel[] | undefined): void {
  try {
    if (panels) window.localStorage.setItem(storageKey(ids), JSON.stringify(panels));
    else window.localStorage.removeItem(storageKey(ids));
  } catch {
    // storage disabled: the layout lasts as long as the page
  }
}

function defaults(metrics: string[]): Panel[] {
  const ordered = [...metrics.filter((m) => !m.startsWith("system/")), ...metrics.filter((m) => m.startsWith("system/"))];
  return [
    ...ordered.slice(0, DEFAULT_METRIC_PANELS).map((m): Panel => ({ id: `metric:${m}`, kind: "metric", metric: m })),
    { id: "scatter", kind: "scatter" },
    { id: "parallel", kind: "parallel" },
  ];
}

const isSystem = (p: Panel) => p.kind === "metric" && p.metric.startsWith("system/");
const SYSTEM_HEADING = "system";

/**
 * The panels as drawn: the model's first, then the `system/` metrics' (what
 * `log_system_metrics=True` samples) under a "System" heading of their own; each panel keeps
 * its index in the stored list, which moves and removals act on.
 */
function grouped(panels: Panel[]): [Panel | typeof SYSTEM_HEADING, number][] {
  const indexed = panels.map((p, i): [Panel, number] => [p, i]);
  const system = indexed.filter(([p]) => isSystem(p));
  if (!system.length) return indexed;
  return [...indexed.filter(([p]) => !isSystem(p)), [SYSTEM_HEADING, -1], ...system];
}

const panelTitle = (p: Panel) =>
  p.kind === "metric" ? p.metric : p.kind === "scatter" ? "Scatter" : "Parallel coordinates";

export function Workspace({ experimentIds, listed, hidden, onHide, limit, colorOf, metrics, settings }: {
  experimentIds: string[];
  settings: ChartSettings;
  /** The table's runs offered beside the charts, each with its show/hide dot. */
  listed: Run[];
  hidden: Set<string>;
  onHide: (s: Set<string>) => void;
  /** Runs a chart overlays at most (a history request's limit): the first shown ones. */
  limit: number;
  colorOf: (runId: string) => string;
  metrics: string[];
}) {
  const idsKey = experimentIds.join(",");
  const [stored, setStored] = useState<Panel[] | undefined>(() => load(experimentIds));
  useEffect(() => setStored(load(experimentIds)), [idsKey]);
  const panels = stored ?? defaults(metrics);
  const change = (next: Panel[] | undefined) => {
    setStored(next);
    save(experimentIds, next);
  };
  const [full, setFull] = useState<string>();
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && setFull(undefined);
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
  const runs = useMemo(() => listed.filter((r) => !hidden.has(r.info.run_id)).slice(0, limit), [listed, hidden, limit]);
  const table = useMemo(() => tabulate(runs), [runs]);
  const ids = runs.map((r) => r.info.run_id);
  const points: Point[] = runs.map((r) => ({ id: r.info.run_id, name: r.info.run_name ?? r.info.run_id, color: colorOf(r.info.run_id) }));
  const chartRuns = runs.map((r) => ({
    id: r.info.run_id,
    name: r.info.run_name ?? r.info.run_id,
    active: r.info.status === "RUNNING",
    color: colorOf(r.info.run_id),
  }));
  const axesAll = [...table.metrics.map((m) => `metrics.${m}`), ...table.params.map((p) => `params.${p}`)];
  const shownMetrics = new Set(panels.flatMap((p) => (p.kind === "metric" ? [p.metric] : [])));
  const move = (i: number, by: number) => {
    const next = [...panels];
    const [p] = next.splice(i, 1);
    next.splice(Math.max(0, Math.min(next.length, i + by)), 0, p!);
    change(next);
  };
  const update = (i: number, p: Panel) => change(panels.map((q, j) => (j === i ? p : q)));
  const add = (value: string) => {
    if (!value) return;
    const id = `${value}:${Date.now()}`;
    const p: Panel = value.startsWith("metric:")
      ? { id, kind: "metric", metric: value.slice("metric:".length) }
      : value === "scatter"
        ? { id, kind: "scatter" }
        : { id, kind: "parallel" };
    change([...panels, p]);
  };

  const body = (p: Panel, i: number, expanded: boolean): ComponentChildren => {
    if (p.kind === "metric")
      return <MetricChart metric={p.metric} runs={chartRuns} settings={settings} expandable={false} titled={false} height={expanded ? Math.max(300, window.innerHeight - 220) : 240} />;
    if (p.kind === "scatter") {
      const [dx, dy] = defaultScatterAxes(table, ids);
      const x = p.x && axesAll.includes(p.x) ? p.x : dx;
      const y = p.y && axesAll.includes(p.y) ? p.y : dy;
      return (
        <>
          <div class="toolbar">
            <AxisSelect label="X axis" value={x} axes={axesAll} onChange={(v) => update(i, { ...p, x: v, y })} />
            <AxisSelect label="Y axis" value={y} axes={axesAll} onChange={(v) => update(i, { ...p, x, y: v })} />
          </div>
          {x && y ? <Scatter runs={points} xName={x} yName={y} value={table.value} /> : <p class="muted">No params or metrics to plot.</p>}
        </>
      );
    }
    const axes = p.axes?.filter((a) => axesAll.includes(a)) ?? defaultParallelAxes(table, ids);
    return (
      <>
        <details class="axes-choice">
          <summary>Axes ({axes.length})</summary>
          {axesAll.map((a) => (
            <label class="check">
              <input
                type="checkbox"
                checked={axes.includes(a)}
                onChange={() => update(i, { ...p, axes: axes.includes(a) ? axes.filter((x) => x !== a) : [...axes, a] })}
              />{" "}
              {a}
            </label>
          ))}
        </details>
        <ParallelCoordinates runs={points} axes={axes} value={table.value} />
      </>
    );
  };

  return (
    <section class="workspace" aria-label="Charts">
      <div class="toolbar">
        <ChartControls settings={settings} onChange={(s) => updateQuery(settingsToQuery(s), true)} />
        <label>
          Add panel{" "}
          <select value="" onChange={(e) => add(e.currentTarget.value)}>
            <option value="">Choose…</option>
            {metrics
              .filter((m) => !shownMetrics.has(m))
              .map((m) => (
                <option value={`metric:${m}`}>Metric: {m}</option>
              ))}
            <option value="scatter">Scatter</option>
            <option value="parallel">Parallel coordinates</option>
          </select>
        </label>
        {stored ? (
          <button type="button" onClick={() => change(undefined)}>
            Reset layout
          </button>
        ) : null}
      </div>
      <div class="workspace-body">
      <aside class="run-list" aria-label="Runs in the charts">
        <p class="muted">
          {runs.length} charted{listed.length - hidden.size > runs.length ? ` (the first ${limit} shown)` : ""}
        </p>
        <ul>
          {listed.map((r) => {
            const id = r.info.run_id;
            const name = r.info.run_name ?? id;
            const shown = !hidden.has(id);
            return (
              <li>
                <button
                  type="button"
                  class={`run-dot${shown ? "" : " off"}`}
                  style={{ "--run-color": colorOf(id) }}
                  aria-pressed={shown ? "true" : "false"}
                  aria-label={`Show ${name} in charts`}
                  onClick={() => {
                    const next = new Set(hidden);
                    if (shown) next.add(id);
                    else next.delete(id);
                    onHide(next);
                  }}
                />
                <span title={name}>{name}</span>
              </li>
            );
          })}
        </ul>
      </aside>
      <div class="panels">
        {grouped(panels).map(([p, i]) => {
          if (p === SYSTEM_HEADING)
            return (
              <h3 class="panel-group" id="system-group" key="system-group">
                System
              </h3>
            );
          const expanded = full === p.id;
          const title = panelTitle(p);
          return (
            <article class={`panel panel-${p.kind}${expanded ? " full" : ""}`} data-panel={p.id} aria-label={`Panel ${title}`} key={p.id}>
              <header class="panel-head">
                <h3 title={title}>{title}</h3>
                <span class="panel-tools">
                  <button type="button" aria-label={`Move ${title} earlier`} disabled={i === 0} onClick={() => move(i, -1)}>
                    ←
                  </button>
                  <button type="button" aria-label={`Move ${title} later`} disabled={i === panels.length - 1} onClick={() => move(i, 1)}>
                    →
                  </button>
                  <button type="button" aria-label={`${expanded ? "Close full screen" : "Full screen"}: ${title}`} onClick={() => setFull(expanded ? undefined : p.id)}>
                    {expanded ? "Close" : "⤢"}
                  </button>
                  <button type="button" aria-label={`Remove ${title}`} onClick={() => change(panels.filter((q) => q.id !== p.id))}>
                    ×
                  </button>
                </span>
              </header>
              {body(p, i, expanded)}
            </article>
          );
        })}
      </div>
      </div>
    </section>
  );
}

function AxisSelect({ label, value, axes, onChange }: { label: string; value: string; axes: string[]; onChange: (v: string) => void }) {
  return (
    <label>
      {label}{" "}
      <select value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        {axes.map((a) => (
          <option value={a}>{a}</option>
        ))}
      </select>
    </label>
  );
}
