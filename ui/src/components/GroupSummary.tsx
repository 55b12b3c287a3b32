// Group by a param or tag: one row per value with the runs' count and the mean, min and max of
// each metric the table shows, over every run the view's filter matches (the server groups them
// with SQL). On an older server without that endpoint: over the rows loaded so far (the table
// fetches page by page), which the caption then says.
import { ErrorBox, Loading } from "./common";
import { num, plural } from "../format";
import { useAsync } from "../hooks";
import { runGroups, type ViewQuery } from "../runsView";
import type { Run } from "../types";

const NONE = "(none)";

interface Group {
  value: string;
  count: number;
  stats: Map<string, { n: number; sum: number; min: number; max: number }>;
}

/** Groups in order of first appearance, each with per-metric count, sum, min and max. */
export function groupRuns(runs: Run[], by: string, metrics: string[]): Group[] {
  const [kind, ...rest] = by.split(".");
  const key = rest.join(".");
  const groups = new Map<string, Group>();
  for (const run of runs) {
    const list = kind === "params" ? run.data.params : run.data.tags;
    const value = list?.find((p) => p.key === key)?.value ?? NONE;
    let g = groups.get(value);
    if (!g) groups.set(value, (g = { value, count: 0, stats: new Map() }));
    g.count++;
    for (const m of run.data.metrics ?? []) {
      const v = Number(m.value);
      if (!metrics.includes(m.key) || !Number.isFinite(v)) continue;
      const s = g.stats.get(m.key);
      if (s) {
        s.n++;
        s.sum += v;
        s.min = Math.min(s.min, v);
        s.max = Math.max(s.max, v);
      } else g.stats.set(m.key, { n: 1, sum: v, min: v, max: v });
    }
  }
  return [...groups.values()];
}

/** The server's groups in the shape drawn here. */
function fromServer(groups: { value: string | null; count: number; metrics: Record<string, { count: number; mean: number; min: number; max: number }> }[]): Group[] {
  return groups.map((g) => ({
    value: g.value ?? NONE,
    count: g.count,
    stats: new Map(Object.entries(g.metrics).map(([k, m]) => [k, { n: m.count, sum: m.mean * m.count, min: m.min, max: m.max }])),
  }));
}

export function GroupSummary({ query, runs, by, metrics, complete }: {
  query: ViewQuery;
  /** The loaded runs: what an older server's groups are computed over. */
  runs: Run[];
  by: string;
  metrics: string[];
  complete: boolean;
}) {
  const served = useAsync(
    () => runGroups(query, by, metrics),
    [query.experimentIds.join(","), query.filter, query.view, by, metrics.join("\u0000")],
  );
  const name = by.replace(/^(params|tags)\./, "");
  if (served.error) return <ErrorBox error={served.error} />;
  if (served.loading && !served.data) return <Loading what={`Grouping runs by ${name}`} />;
  const answer = served.data;
  const groups = answer ? fromServer(answer.groups) : groupRuns(runs, by, metrics);
  const kind = by.startsWith("params.") ? "param" : "tag";
  const over = answer
    ? ` over all ${plural(answer.total_runs, "run")}${answer.truncated ? ": the largest shown, more exist" : ""}`
    : complete
      ? ` over all ${plural(runs.length, "run")}`
      : ` over the ${plural(runs.length, "run")} loaded so far: scroll or load more runs to include the rest`;
  return (
    <div class="table-wrap group-summary" aria-busy={served.loading ? "true" : "false"}>
      <table class="grid" aria-label={`Runs grouped by ${name}`}>
        <caption class="muted">
          {plural(groups.length, "group")} by {kind} <code>{name}</code>
          {over}
        </caption>
        <thead>
          <tr>
            <th scope="col">{name}</th>
            <th scope="col" class="num">
              Runs
            </th>
            {metrics.map((m) => (
              <th scope="col" class="num" title={m}>
                {m} mean (min – max)
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {groups.map((g) => (
            <tr data-group={g.value}>
              <th scope="row" class={g.value === NONE ? "muted" : undefined}>
                {g.value}
              </th>
              <td class="num">{g.count}</td>
              {metrics.map((m) => {
                const s = g.stats.get(m);
                return (
                  <td class="num" data-metric={m}>
                    {s ? (
                      <>
                        {num(s.sum / s.n)} <span class="muted">({num(s.min)} – {num(s.max)})</span>
                      </>
                    ) : (
                      <span class="muted">–</span>
                    )}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
