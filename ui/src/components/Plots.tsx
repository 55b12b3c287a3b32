// Small SVG plots for comparing runs: parallel coordinates, a scatter, and bars (one value per run).
import { useEffect, useRef, useState } from "preact/hooks";
import { num } from "../format";
import type { Run } from "../types";

export interface Point {
  id: string;
  name: string;
  color: string;
}

/** Value lookup per (run, axis); strings become categories, numbers stay numeric. */
export type Value = number | string | undefined;

interface Axis {
  name: string;
  pos: (v: Value) => number | undefined; // 0..1 from bottom
  ticks: [number, string][];
}

function makeAxis(name: string, values: Value[]): Axis {
  const present = values.filter((v): v is number | string => v !== undefined && v !== "");
  const numeric = present.every((v) => typeof v === "number" || (v !== "" && Number.isFinite(Number(v))));
  if (numeric && present.length) {
    const xs = present.map(Number);
    const lo = Math.min(...xs);
    const hi = Math.max(...xs);
    const span = hi - lo || 1;
    const pos = (v: Value) => (v === undefined || v === "" ? undefined : hi === lo ? 0.5 : (Number(v) - lo) / span);
    return { name, pos, ticks: hi === lo ? [[0.5, num(lo)]] : [[0, num(lo)], [1, num(hi)]] };
  }
  const cats = [...new Set(present.map(String))].sort();
  const pos = (v: Value) => {
    if (v === undefined) return undefined;
    const i = cats.indexOf(String(v));
    return cats.length === 1 ? 0.5 : i / (cats.length - 1);
  };
  return { name, pos, ticks: cats.map((c, i): [number, string] => [cats.length === 1 ? 0.5 : i / (cats.length - 1), c]) };
}

export function ParallelCoordinates({ runs, axes, value }: {
  runs: Point[];
  axes: string[];
  value: (runId: string, axis: string) => Value;
}) {
  if (axes.length < 2) return <p class="muted">Choose at least two parameters or metrics.</p>;
  const W = Math.max(640, axes.length * 170);
  const H = 320;
  const pad = { l: 90, r: 90, t: 36, b: 24 };
  const built = axes.map((a) => makeAxis(a, runs.map((r) => value(r.id, a))));
  const x = (i: number) => pad.l + (i * (W - pad.l - pad.r)) / (axes.length - 1);
  const y = (p: number) => H - pad.b - p * (H - pad.t - pad.b);
  return (
    <svg class="plot" width={W} height={H} viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Parallel coordinates of ${axes.join(", ")}`}>
      {runs.map((r) => {
        const pts = built
          .map((a, i) => {
            const p = a.pos(value(r.id, a.name));
            return p === undefined ? null : `${x(i)},${y(p)}`;
          })
          .filter(Boolean);
        return (
          <polyline points={pts.join(" ")} fill="none" stroke={r.color} stroke-width="2" opacity="0.85">
            <title>{r.name}</title>
          </polyline>
        );
      })}
      {built.map((a, i) => (
        <g>
          <line x1={x(i)} x2={x(i)} y1={y(0)} y2={y(1)} class="axis" />
          <text x={x(i)} y={pad.t - 12} text-anchor="middle" class="axis-title">
            {a.name}
          </text>
          {a.ticks.slice(0, 12).map(([p, label]) => (
            <text x={x(i) + 4} y={y(p) + 4} class="tick">
              {label.length > 14 ? `${label.slice(0, 13)}…` : label}
            </text>
          ))}
        </g>
      ))}
    </svg>
  );
}

export function Scatter({ runs, xName, yName, value }: {
  runs: Point[];
  xName: string;
  yName: string;
  value: (runId: string, axis: string) => Value;
}) {
  const W = 560;
  const H = 360;
  const xa = makeAxis(xName, runs.map((r) => value(r.id, xName)));
  const ya = makeAxis(yName, runs.map((r) => value(r.id, yName)));
  // Room for the longest y label (11px text is about 6.5px a character), so none is clipped.
  const longest = Math.max(0, ...ya.ticks.slice(0, 12).map(([, l]) => l.length));
  const pad = { l: Math.max(56, Math.round(longest * 6.5) + 34), r: 24, t: 20, b: 50 };
  const sx = (p: number) => pad.l + p * (W - pad.l - pad.r);
  const sy = (p: number) => H - pad.b - p * (H - pad.t - pad.b);
  return (
    <svg class="plot" width={W} height={H} viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Scatter of ${yName} against ${xName}`}>
      <line x1={sx(0)} x2={sx(1)} y1={sy(0)} y2={sy(0)} class="axis" />
      <line x1={sx(0)} x2={sx(0)} y1={sy(0)} y2={sy(1)} class="axis" />
      {xa.ticks.slice(0, 12).map(([p, l]) => (
        <text x={sx(p)} y={sy(0) + 16} text-anchor="middle" class="tick">
          {l}
        </text>
      ))}
      {ya.ticks.slice(0, 12).map(([p, l]) => (
        <text x={sx(0) - 6} y={sy(p) + 4} text-anchor="end" class="tick">
          {l}
        </text>
      ))}
      <text x={(sx(0) + sx(1)) / 2} y={H - 8} text-anchor="middle" class="axis-title">
        {xName}
      </text>
      <text x={14} y={(sy(0) + sy(1)) / 2} text-anchor="middle" class="axis-title" transform={`rotate(-90 14 ${(sy(0) + sy(1)) / 2})`}>
        {yName}
      </text>
      {runs.map((r) => {
        const px = xa.pos(value(r.id, xName));
        const py = ya.pos(value(r.id, yName));
        if (px === undefined || py === undefined) return null;
        return (
          <circle cx={sx(px)} cy={sy(py)} r="6" fill={r.color}>
            <title>
              {r.name}: {xName} = {String(value(r.id, xName))}, {yName} = {String(value(r.id, yName))}
            </title>
          </circle>
        );
      })}
    </svg>
  );
}

/** Each run's params and latest metric values, by axis name (`params.x`, `metrics.y`). */
export interface Table {
  params: string[];
  metrics: string[];
  value: (runId: string, axis: string) => Value;
}

export function tabulate(runs: Run[]): Table {
  const params = new Set<string>();
  const metrics = new Set<string>();
  const values = new Map<string, Value>();
  for (const r of runs) {
    for (const p of r.data.params ?? []) {
      params.add(p.key);
      values.set(`${r.info.run_id}\u0000params.${p.key}`, p.value);
    }
    for (const m of r.data.metrics ?? []) {
      metrics.add(m.key);
      values.set(`${r.info.run_id}\u0000metrics.${m.key}`, Number(m.value));
    }
  }
  return {
    params: [...params].sort(),
    metrics: [...metrics].sort(),
    value: (runId, axis) => values.get(`${runId}\u0000${axis}`),
  };
}

/** True when the runs that have `axis` do not all hold the same value (a run without it is no difference). */
export function differs(table: Table, runIds: string[], axis: string): boolean {
  const present = runIds.map((id) => table.value(id, axis)).filter((v) => v !== undefined && v !== "");
  return new Set(present.map(String)).size > 1;
}

const numericAxis = (table: Table, runIds: string[], axis: string) =>
  runIds.some((id) => table.value(id, axis) !== undefined) &&
  runIds.every((id) => {
    const v = table.value(id, axis);
    return v === undefined || v === "" || Number.isFinite(Number(v));
  });

/** Metrics in the order charts default to them: varying ones first, `system/` ones last. */
function metricOrder(table: Table, runIds: string[]): string[] {
  const ms = table.metrics.map((m) => `metrics.${m}`);
  const rank = (a: string) => (a.startsWith("metrics.system/") ? 2 : differs(table, runIds, a) ? 0 : 1);
  return [...ms].sort((a, b) => rank(a) - rank(b));
}

/** Parallel coordinates open on the params that vary (numeric first) and end on the first metric. */
export function defaultParallelAxes(table: Table, runIds: string[]): string[] {
  const params = table.params.map((p) => `params.${p}`).filter((a) => differs(table, runIds, a));
  params.sort((a, b) => Number(numericAxis(table, runIds, b)) - Number(numericAxis(table, runIds, a)));
  const metrics = metricOrder(table, runIds);
  const axes = [...params.slice(0, 5), ...metrics.slice(0, params.length ? 1 : 3)];
  return axes.length >= 2 ? axes : [...params, ...metrics].slice(0, 4);
}

/** The scatter opens with the first metric up the y axis against a param that varies (or a second metric). */
export function defaultScatterAxes(table: Table, runIds: string[]): [string, string] {
  const metrics = metricOrder(table, runIds);
  const params = table.params.map((p) => `params.${p}`).filter((a) => differs(table, runIds, a));
  const numeric = params.filter((a) => numericAxis(table, runIds, a));
  const y = metrics[0] ?? params[0] ?? "";
  const x = numeric[0] ?? metrics[1] ?? params[0] ?? metrics[0] ?? "";
  return [x, y];
}

export interface Bar {
  id: string;
  name: string;
  color: string;
  value: number;
}

/** One value per run as horizontal bars: every run keeps its own bar, equal values included. */
export function BarChart({ title, bars, titled = true }: { title: string; bars: Bar[]; titled?: boolean }) {
  const box = useRef<HTMLDivElement>(null);
  const [W, setW] = useState(560);
  useEffect(() => {
    const el = box.current;
    if (!el) return undefined;
    const observer = new ResizeObserver(() => setW(Math.max(260, el.clientWidth)));
    observer.observe(el);
    setW(Math.max(260, el.clientWidth));
    return () => observer.disconnect();
  }, []);
  const finite = bars.filter((b) => Number.isFinite(b.value));
  const lo = Math.min(0, ...finite.map((b) => b.value));
  const hi = Math.max(0, ...finite.map((b) => b.value));
  const span = hi - lo || 1;
  const row = 22;
  const labelW = Math.min(180, Math.max(70, Math.round(W * 0.28)));
  const valueW = 76;
  const pad = { t: titled ? 24 : 8, b: 8 };
  const H = pad.t + pad.b + bars.length * row;
  const x = (v: number) => labelW + ((v - lo) / span) * (W - labelW - valueW);
  return (
    <div ref={box} class="bar-box">
      <svg class="plot bars" width={W} height={H} viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Bar chart of ${title}`}>
        {titled ? (
          <text x={labelW} y={14} class="axis-title">
            {title}
          </text>
        ) : null}
        <line x1={x(0)} x2={x(0)} y1={pad.t - 4} y2={H - pad.b} class="axis" />
        {bars.map((b, i) => {
          const y = pad.t + i * row;
          const ok = Number.isFinite(b.value);
          const x0 = ok ? Math.min(x(0), x(b.value)) : x(0);
          const w = ok ? Math.max(1, Math.abs(x(b.value) - x(0))) : 0;
          const label = b.name.length > 24 ? `${b.name.slice(0, 23)}…` : b.name;
          return (
            <g class="bar" data-run-id={b.id}>
              <title>
                {b.name}: {num(b.value)}
              </title>
              <text x={labelW - 6} y={y + row / 2 + 4} text-anchor="end" class="tick">
                {label}
              </text>
              <rect x={x0} y={y + 3} width={w} height={row - 6} fill={b.color} rx="2" />
              <text x={ok ? Math.max(x(b.value), x(0)) + 4 : x(0) + 4} y={y + row / 2 + 4} class="tick value">
                {num(b.value)}
              </text>
            </g>
          );
        })}
      </svg>
    </div>
  );
}
