import { useMemo } from "preact/hooks";
import * as api from "../api";
import { colorAt } from "../colors";
import { ErrorBox, Link, Loading } from "../components/common";
import { ChartControls, MetricChart, settingsFromQuery, settingsToQuery } from "../components/MetricChart";
import {
  ParallelCoordinates,
  Scatter,
  defaultParallelAxes,
  defaultScatterAxes,
  differs as varies,
  tabulate,
} from "../components/Plots";
import { num } from "../format";
import { useAsync } from "../hooks";
import { list, updateQuery } from "../router";

export function ComparePage({ runIds, query }: { runIds: string[]; query: URLSearchParams }) {
  const runs = useAsync(() => Promise.all(runIds.map(api.getRun)), [runIds.join(",")]);
  const table = useMemo(() => (runs.data ? tabulate(runs.data) : undefined), [runs.data]);
  if (runIds.length === 0) return <p class="muted">Select runs in a runs table, then Compare.</p>;
  if (runs.error) return <ErrorBox error={runs.error} />;
  if (!runs.data || !table) return <Loading what="Loading runs" />;
  // Colours as the runs table gave them (`c`), else by place here.
  const places = list(query.get("c")).map(Number);
  const points = runs.data.map((r, i) => ({
    id: r.info.run_id,
    name: r.info.run_name ?? r.info.run_id,
    color: colorAt(Number.isInteger(places[i]) ? places[i]! : i),
  }));
  const onlyDiff = query.get("diff") === "1";
  const axesAll = [...table.params.map((p) => `params.${p}`), ...table.metrics.map((m) => `metrics.${m}`)];
  const ids = runs.data.map((r) => r.info.run_id);
  // A run without the key is no difference: only values that disagree among those present are.
  const differs = (axis: string) => varies(table, ids, axis);
  const chosenAxes = list(query.get("axes")).filter((a) => axesAll.includes(a));
  const pcAxes = chosenAxes.length ? chosenAxes : defaultParallelAxes(table, ids);
  const [sx, sy] = defaultScatterAxes(table, ids);
  const xName = query.get("sx") ?? sx;
  const yName = query.get("sy") ?? sy;
  const chartMetrics = query.has("charts") ? list(query.get("charts")) : table.metrics.slice(0, 6);
  const settings = settingsFromQuery(query);
  const exp = query.get("exp");

  const row = (axis: string, label: string, numeric: boolean) => {
    const d = differs(axis);
    if (onlyDiff && !d) return null;
    return (
      <tr class={d ? "diff" : ""} data-key={axis}>
        <th scope="row">{label}</th>
        {runs.data!.map((r) => {
          const v = table.value(r.info.run_id, axis);
          return <td class={numeric ? "num" : ""}>{v === undefined ? "" : numeric ? num(v as number) : String(v)}</td>;
        })}
      </tr>
    );
  };
  return (
    <section aria-labelledby="compare-title">
      <nav class="crumbs" aria-label="Breadcrumb">
        {exp ? <Link to={["experiments", exp]}>Runs</Link> : null}
      </nav>
      <h1 id="compare-title">Comparing {runs.data.length} runs</h1>
      <div class="toolbar">
        <label class="check">
          <input type="checkbox" checked={onlyDiff} onChange={(e) => updateQuery({ diff: e.currentTarget.checked ? "1" : "" }, true)} /> Only
          show differences
        </label>
      </div>
      <div class="table-wrap">
        <table class="grid compare" aria-label="Run comparison">
          <thead>
            <tr>
              <th scope="col">Run</th>
              {points.map((p) => (
                <th scope="col">
                  <span class="swatch" style={{ background: p.color }} aria-hidden="true" /> <Link to={["runs", p.id]}>{p.name}</Link>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            <tr class="section">
              <th colSpan={points.length + 1}>Parameters</th>
            </tr>
            {table.params.map((p) => row(`params.${p}`, p, false))}
            <tr class="section">
              <th colSpan={points.length + 1}>Metrics (last value)</th>
            </tr>
            {table.metrics.map((m) => row(`metrics.${m}`, m, true))}
          </tbody>
        </table>
      </div>

      <h2>Metric charts</h2>
      <ChartControls settings={settings} onChange={(s) => updateQuery(settingsToQuery(s), true)} />
      <fieldset class="metric-choice">
        <legend>Metrics to chart</legend>
        {table.metrics.map((m) => (
          <label class="check">
            <input
              type="checkbox"
              checked={chartMetrics.includes(m)}
              onChange={() =>
                updateQuery({ charts: (chartMetrics.includes(m) ? chartMetrics.filter((x) => x !== m) : [...chartMetrics, m]).join(",") }, true)
              }
            />{" "}
            {m}
          </label>
        ))}
      </fieldset>
      <div class="charts">
        {chartMetrics.map((m) => (
          <MetricChart
            metric={m}
            settings={settings}
            runs={points.map((p, i) => ({ ...p, active: runs.data![i]!.info.status === "RUNNING" }))}
          />
        ))}
      </div>

      <h2>Parallel coordinates</h2>
      <fieldset class="metric-choice">
        <legend>Axes</legend>
        {axesAll.map((a) => (
          <label class="check">
            <input
              type="checkbox"
              checked={pcAxes.includes(a)}
              onChange={() => updateQuery({ axes: (pcAxes.includes(a) ? pcAxes.filter((x) => x !== a) : [...pcAxes, a]).join(",") }, true)}
            />{" "}
            {a}
          </label>
        ))}
      </fieldset>
      <ParallelCoordinates runs={points} axes={pcAxes} value={table.value} />

      <h2>Scatter</h2>
      <div class="toolbar">
        <label>
          X axis{" "}
          <select value={xName} onChange={(e) => updateQuery({ sx: e.currentTarget.value }, true)}>
            {axesAll.map((a) => (
              <option value={a}>{a}</option>
            ))}
          </select>
        </label>
        <label>
          Y axis{" "}
          <select value={yName} onChange={(e) => updateQuery({ sy: e.currentTarget.value }, true)}>
            {axesAll.map((a) => (
              <option value={a}>{a}</option>
            ))}
          </select>
        </label>
      </div>
      {xName && yName ? <Scatter runs={points} xName={xName} yName={yName} value={table.value} /> : null}
    </section>
  );
}
