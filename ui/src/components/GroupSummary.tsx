// Group by a param or tag: one row per value with the runs' count and the mean, min and max of
// each metric the table shows. Computed over the rows loaded so far (the table fetches page by
// page), which the caption says when more runs remain to load.
import { num, plural } from "../format";
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

export function GroupSummary({ runs, by, metrics, complete }: { runs: Run[]; by: string; metrics: string[]; complete: boolean }) {
  const groups = groupRuns(runs, by, metrics);
  const name = by.replace(/^(params|tags)\./, "");
  return (
    <div class="table-wrap group-summary">
      <table class="grid" aria-label={`Runs grouped by ${name}`}>
        <caption class="muted">
          {plural(groups.length, "group")} by {by.startsWith("params.") ? "param" : "tag"} <code>{name}</code>
          {complete ? ` over all ${plural(runs.length, "run")}` : ` over the ${plural(runs.length, "run")} loaded so far: scroll or load more runs to include the rest`}
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
