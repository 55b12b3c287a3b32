// Small SVG plots for comparing a handful of runs: parallel coordinates and a scatter.
import { num } from "../format";

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
  const pad = { l: 70, r: 20, t: 20, b: 50 };
  const xa = makeAxis(xName, runs.map((r) => value(r.id, xName)));
  const ya = makeAxis(yName, runs.map((r) => value(r.id, yName)));
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
