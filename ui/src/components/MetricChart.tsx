import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import * as api from "../api";
import { colorAt, cssVar } from "../colors";
import { num } from "../format";
import { BarChart } from "./Plots";
import { useInterval } from "../hooks";
import type { Series } from "../types";
import type { ChartSettings } from "../chartSettings";

export { settingsFromQuery, settingsToQuery, type ChartSettings } from "../chartSettings";


export interface ChartRun {
  id: string;
  name: string;
  active: boolean;
  /** The run's colour on its page (the runs table's); by position when absent. */
  color?: string;
}

/** A y axis as wide as its longest label, so large values are not clipped. */
function axisSize(u: uPlot, values: string[] | null, index: number): number {
  const axis = u.axes[index]!;
  const longest = (values ?? []).reduce((a, v) => (v.length > a.length ? v : a), "");
  const font = Array.isArray(axis.font) ? axis.font[0] : undefined;
  if (font) u.ctx.font = font;
  const text = longest ? u.ctx.measureText(longest).width / (window.devicePixelRatio || 1) : 0;
  return Math.ceil(Math.max(40, text + 18));
}

/** True when no run has more than one point: one value per run charts as bars, not dots. */
export const singleValued = (series: Series[]) => series.length > 0 && series.every((s) => s.total <= 1);

/** Exponential moving average with TensorBoard's debiasing, so early points are not pulled to 0. */
export function smooth(values: (number | null)[], weight: number): (number | null)[] {
  if (weight <= 0) return values;
  let last = 0;
  let debias = 0;
  return values.map((v) => {
    if (v === null || !Number.isFinite(v)) return v;
    last = last * weight + (1 - weight) * v;
    debias = debias * weight + (1 - weight);
    return last / debias;
  });
}

/** The server's x in the chart's unit: relative time is drawn in seconds. */
const SECONDS_PER_X = { step: 1, timestamp: 1, relative: 1000 } as const;

function toAligned(series: Series[], settings: ChartSettings): uPlot.AlignedData {
  const per = SECONDS_PER_X[settings.xAxis];
  const tables = series.map((s): uPlot.AlignedData => {
    const xs = s.points.map((p) => p[0] / per);
    let ys: (number | null)[] = s.points.map((p) => {
      const v = Number(p[1]);
      return Number.isFinite(v) ? v : null;
    });
    if (settings.log) ys = ys.map((y) => (y !== null && y > 0 ? y : null));
    ys = smooth(ys, settings.smoothing);
    return [xs, ys as number[]];
  });
  if (tables.length === 0) return [[]];
  if (tables.length === 1) return tables[0]!;
  return uPlot.join(tables);
}

function xLabel(x: api.XAxis): string {
  return x === "step" ? "Step" : x === "timestamp" ? "Wall time" : "Relative time (s)";
}

/** One metric of several runs, overlaid, from the server's downsampled histories. */
export function MetricChart({ metric, runs, settings, height: small = 260, expandable = true, titled = true }: {
  metric: string;
  runs: ChartRun[];
  settings: ChartSettings;
  height?: number;
  /** Offer a full-screen button (a workspace panel has its own). */
  expandable?: boolean;
  /** Draw the metric's name above the chart (a workspace panel names it in its header). */
  titled?: boolean;
}) {
  const [big, setBig] = useState(false);
  useEffect(() => {
    if (!big) return undefined;
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && setBig(false);
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [big]);
  const height = big ? Math.max(300, window.innerHeight - 200) : small;
  const expander = expandable ? (
    <button type="button" class="chart-expand" aria-label={`${big ? "Close full screen" : "Full screen"}: ${metric}`} onClick={() => setBig(!big)}>
      {big ? "Close" : "⤢"}
    </button>
  ) : null;
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const [series, setSeries] = useState<Series[]>();
  const [error, setError] = useState<Error>();
  const [width, setWidth] = useState(600);
  const [zoomed, setZoomed] = useState<{ drawn: number; sampled: boolean }>();
  const [holding, setHolding] = useState(false); // zoomed in: no refresh until reset
  const runKey = runs.map((r) => r.id).join(",");
  const active = runs.some((r) => r.active);

  const maxPoints = Math.max(500, Math.min(4000, width * 2));
  const load = () => {
    api.batchedHistories(runs.map((r) => r.id), metric, settings.xAxis, maxPoints).then(
      (s) => {
        setSeries(s);
        setError(undefined);
      },
      (e: Error) => setError(e),
    );
  };
  useEffect(load, [runKey, metric, settings.xAxis]);
  // A zoomed chart holds still: a refresh would redraw the whole series and drop the zoom.
  useInterval(load, 5000, active && !holding);

  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    const observer = new ResizeObserver(() => setWidth(Math.max(200, el.clientWidth)));
    observer.observe(el);
    setWidth(Math.max(200, el.clientWidth));
    return () => observer.disconnect();
  }, []);

  useEffect(() => {
    const el = box.current;
    if (!el || !series || singleValued(series)) return undefined;
    const names = new Map(runs.map((r, i) => [r.id, { name: r.name, color: r.color ?? colorAt(i) }]));
    const ordered = series.filter((s) => names.has(s.run_id));
    const fg = cssVar("--fg", "#222");
    const grid = cssVar("--grid", "#e5e5e5");
    const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const opts: uPlot.Options = {
      width,
      height,
      title: titled ? metric : undefined,
      ms: 1,
      scales: {
        x: { time: settings.xAxis === "timestamp" },
        y: settings.log ? { distr: 3 } : {},
      },
      axes: [
        { ...axis, label: xLabel(settings.xAxis) },
        { ...axis, values: (_u, splits) => splits.map((v) => num(v)), size: axisSize },
      ],
      series: [
        { label: xLabel(settings.xAxis), value: (_u, v) => (v === null ? "" : settings.xAxis === "timestamp" ? new Date(v).toISOString().replace("T", " ").slice(0, 19) : num(v)) },
        ...ordered.map((s) => {
          const meta = names.get(s.run_id)!;
          return {
            label: meta.name,
            stroke: meta.color,
            width: 1.5,
            spanGaps: true,
            points: { show: s.points.length < 60 },
            value: (_u: uPlot, v: number | null) => (v === null ? "" : num(v)),
          };
        }),
      ],
      cursor: { drag: { x: true, y: false }, focus: { prox: 16 } },
      legend: { live: true },
      hooks: { setScale: [(u, key) => key === "x" && refine(u)] },
    };
    const data = toAligned(ordered, settings);
    // A zoom into sampled series asks the server for the points of the visible range, so the
    // detail comes back; a double-click puts the whole series back.
    const first = data[0][0];
    const last = data[0][data[0].length - 1];
    let timer: number | undefined;
    let ticket = 0;
    const refine = (u: uPlot) => {
      const { min, max } = u.scales.x;
      window.clearTimeout(timer);
      ticket++;
      if (min == null || max == null || first === undefined) return;
      const whole = min <= first && max >= last!;
      setHolding(!whole);
      if (whole || !ordered.some((s) => s.sampled)) return;
      const mine = ticket;
      const per = SECONDS_PER_X[settings.xAxis];
      const range: [number, number] = [Math.floor(min * per), Math.ceil(max * per)];
      timer = window.setTimeout(() => {
        api.metricHistories(ordered.map((s) => s.run_id), metric, settings.xAxis, maxPoints, range).then(
          (detail) => {
            if (mine !== ticket || plot.current !== u) return;
            u.setData(toAligned(detail, settings), false);
            el.dataset.zoomed = "true";
            const drawn = detail.reduce((n, s) => n + s.points.length, 0);
            setZoomed({ drawn, sampled: detail.some((s) => s.sampled) });
          },
          (e: Error) => setError(e),
        );
      }, 150);
    };
    plot.current?.destroy();
    const u = new uPlot(opts, data, el);
    plot.current = u;
    el.dataset.zoomed = "false";
    setZoomed(undefined);
    const reset = () => {
      if (el.dataset.zoomed !== "true") return;
      el.dataset.zoomed = "false";
      setZoomed(undefined);
      u.setData(data, true);
    };
    u.over.addEventListener("dblclick", reset);
    return () => {
      window.clearTimeout(timer);
      ticket++;
      u.over.removeEventListener("dblclick", reset);
      u.destroy();
      if (plot.current === u) plot.current = null;
    };
  }, [series, settings.log, settings.smoothing, width, height]);

  if (series && singleValued(series)) {
    const byId = new Map(series.map((s) => [s.run_id, s]));
    const bars = runs.flatMap((r, i) => {
      const point = byId.get(r.id)?.points[0];
      return point ? [{ id: r.id, name: r.name, color: r.color ?? colorAt(i), value: Number(point[1]) }] : [];
    });
    return (
      <figure class={`chart single${big ? " full" : ""}`} data-metric={metric} aria-label={`Chart of ${metric}`}>
        {expander}
        <div ref={box} class="chart-canvas" hidden />
        <BarChart title={metric} titled={titled} bars={bars} />
        <figcaption class="muted">One value per run: a bar each.</figcaption>
      </figure>
    );
  }
  const total = series?.reduce((n, s) => n + s.total, 0) ?? 0;
  const drawn = series?.reduce((n, s) => n + s.points.length, 0) ?? 0;
  return (
    <figure class={`chart${big ? " full" : ""}`} data-metric={metric} aria-label={`Chart of ${metric}`}>
      {expander}
      {error ? <div class="error" role="alert">{error.message}</div> : null}
      <div ref={box} class="chart-canvas" />
      {series ? (
        <figcaption class="muted">
          {zoomed
            ? `Zoomed: ${zoomed.drawn.toLocaleString()} points in view${zoomed.sampled ? " (downsampled, peaks kept)" : ", every one"}. `
            : total > drawn
              ? `${drawn.toLocaleString()} of ${total.toLocaleString()} points drawn (downsampled on the server, peaks kept). `
              : ""}
          Drag to zoom, double-click to reset.
        </figcaption>
      ) : (
        <figcaption class="muted">Loading {metric}…</figcaption>
      )}
    </figure>
  );
}

/** The controls shared by a page's charts. */
export function ChartControls({ settings, onChange }: { settings: ChartSettings; onChange: (s: ChartSettings) => void }) {
  return (
    <div class="toolbar chart-controls">
      <label>
        X axis{" "}
        <select value={settings.xAxis} onChange={(e) => onChange({ ...settings, xAxis: e.currentTarget.value as api.XAxis })}>
          <option value="step">Step</option>
          <option value="timestamp">Wall time</option>
          <option value="relative">Relative time</option>
        </select>
      </label>
      <label class="check">
        <input type="checkbox" checked={settings.log} onChange={(e) => onChange({ ...settings, log: e.currentTarget.checked })} /> Log scale
      </label>
      <label>
        Smoothing{" "}
        <input
          type="range"
          min="0"
          max="0.99"
          step="0.01"
          value={settings.smoothing}
          onInput={(e) => onChange({ ...settings, smoothing: Number(e.currentTarget.value) })}
        />{" "}
        <output>{settings.smoothing.toFixed(2)}</output>
      </label>
    </div>
  );
}
