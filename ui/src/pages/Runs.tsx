import { useEffect, useMemo, useState } from "preact/hooks";
import * as api from "../api";
import { ColumnPicker } from "../components/ColumnPicker";
import { Sharing } from "../components/Sharing";
import { ErrorBox, Link, Loading, Status } from "../components/common";
import { FIXED, PARENT_TAG, columnById, decodeCols, encodeCols, type Column } from "../columns";
import { dateTime, tagValue } from "../format";
import { useAsync } from "../hooks";
import { navigate, updateQuery } from "../router";
import type { Run, ViewType } from "../types";

const PAGE_SIZES = [50, 100, 250, 1000];

export function RunsPage({ experimentIds, query }: { experimentIds: string[]; query: URLSearchParams }) {
  const filter = query.get("filter") ?? "";
  const sort = query.get("sort") ?? "start";
  const ascending = query.get("dir") === "asc";
  const view = (query.get("view") as ViewType | null) ?? "ACTIVE_ONLY";
  const pageSize = Number(query.get("n")) || 100;
  const cols = useMemo(() => decodeCols(query.get("cols")), [query.get("cols")]);
  // Page tokens belong to one query: a new filter, sort or view starts again at page one.
  const signature = [experimentIds.join(","), filter, sort, ascending, view, pageSize].join("\u0000");
  const [paging, setPaging] = useState<{ signature: string; tokens: (string | undefined)[] }>({
    signature,
    tokens: [undefined],
  });
  const tokens = paging.signature === signature ? paging.tokens : [undefined];
  const setTokens = (next: (string | undefined)[]) => setPaging({ signature, tokens: next });
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [text, setText] = useState(filter);
  const [actionError, setActionError] = useState<Error>();
  const idsKey = experimentIds.join(",");

  useEffect(() => setText(filter), [filter]);

  const experiments = useAsync(() => Promise.all(experimentIds.map(api.getExperiment)), [idsKey]);
  const keys = useAsync(() => api.experimentKeys(experimentIds), [idsKey]);
  const sortColumn = columnById(sort);
  const orderBy = sortColumn?.sortKey ? [`${sortColumn.sortKey} ${ascending ? "ASC" : "DESC"}`] : undefined;
  const pageToken = tokens[tokens.length - 1];
  const runs = useAsync(
    () => api.searchRuns({ experimentIds, filter, view, orderBy, pageToken, maxResults: pageSize }),
    [idsKey, filter, view, orderBy?.[0], pageToken, pageSize],
  );

  const columns = useMemo(
    () => [...FIXED, ...cols.map(columnById).filter((c): c is Column => c !== undefined)],
    [cols],
  );
  const setSort = (c: Column) => {
    if (!c.sortKey) return;
    const dir = c.id === sort ? (ascending ? "desc" : "asc") : c.id.startsWith("metrics.") || c.id === "start" ? "desc" : "asc";
    updateQuery({ sort: c.id, dir });
  };
  const act = async (fn: (id: string) => Promise<unknown>) => {
    setActionError(undefined);
    try {
      await Promise.all([...selected].map(fn));
      setSelected(new Set());
      runs.reload();
    } catch (e) {
      setActionError(e as Error);
    }
  };
  const title = experiments.data?.map((e) => e.name).join(", ") ?? "Runs";
  const filterError = runs.error instanceof api.ApiError && runs.error.status === 400 ? runs.error : undefined;

  return (
    <section aria-labelledby="runs-title">
      <div class="page-head">
        <h1 id="runs-title">{title}</h1>
        <span class="muted mono">{experimentIds.length === 1 ? `Experiment ${experimentIds[0]}` : `${experimentIds.length} experiments`}</span>
      </div>
      <ErrorBox error={experiments.error} />
      {experimentIds.length === 1 && <Sharing resource={{ kind: "experiment", id: experimentIds[0] }} />}
      <form
        class="filter"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          updateQuery({ filter: text.trim() });
        }}
      >
        <label for="run-filter">Filter runs</label>
        <input
          id="run-filter"
          class="mono"
          type="search"
          value={text}
          placeholder="metrics.rmse < 0.5 and params.model = 'rf'"
          aria-invalid={filterError ? "true" : "false"}
          aria-describedby="filter-error"
          onInput={(e) => setText(e.currentTarget.value)}
        />
        <button type="submit">Apply</button>
        {filter ? (
          <button type="button" onClick={() => updateQuery({ filter: "" })}>
            Clear
          </button>
        ) : null}
      </form>
      <div id="filter-error">{filterError ? <ErrorBox error={filterError} label="Filter error" /> : null}</div>
      <div class="toolbar">
        <ColumnPicker keys={keys.data} chosen={cols} onChange={(ids) => updateQuery({ cols: encodeCols(ids) }, true)} />
        <label>
          Show{" "}
          <select value={view} onChange={(e) => updateQuery({ view: e.currentTarget.value })}>
            <option value="ACTIVE_ONLY">Active runs</option>
            <option value="DELETED_ONLY">Deleted runs</option>
            <option value="ALL">All runs</option>
          </select>
        </label>
        <button
          type="button"
          disabled={selected.size < 1}
          onClick={() => navigate(["compare"], { runs: [...selected].join(","), exp: experimentIds.join(",") })}
        >
          Compare {selected.size || ""} selected
        </button>
        {view === "ACTIVE_ONLY" ? (
          <button type="button" class="danger" disabled={!selected.size} onClick={() => act(api.deleteRun)}>
            Delete selected
          </button>
        ) : (
          <button type="button" disabled={!selected.size} onClick={() => act(api.restoreRun)}>
            Restore selected
          </button>
        )}
        <Link to={["models"]} query={{ exp: experimentIds.join(",") }}>
          Logged models
        </Link>
      </div>
      <ErrorBox error={actionError ?? (filterError ? undefined : runs.error)} />
      {runs.loading && !runs.data ? <Loading what="Loading runs" /> : null}
      {runs.data ? (
        <RunsTable
          runs={runs.data.items}
          columns={columns}
          sort={sort}
          ascending={ascending}
          onSort={setSort}
          selected={selected}
          onSelect={setSelected}
          busy={runs.loading}
        />
      ) : null}
      <div class="pager">
        <button type="button" disabled={tokens.length < 2} onClick={() => setTokens(tokens.slice(0, -1))}>
          Previous page
        </button>
        <span aria-live="polite">
          Page {tokens.length}
          {runs.data ? ` · ${runs.data.items.length} runs` : ""}
        </span>
        <button
          type="button"
          disabled={!runs.data?.next}
          onClick={() => runs.data?.next && setTokens([...tokens, runs.data.next])}
        >
          Next page
        </button>
        <label>
          Runs per page{" "}
          <select value={String(pageSize)} onChange={(e) => updateQuery({ n: e.currentTarget.value })}>
            {PAGE_SIZES.map((n) => (
              <option value={String(n)}>{n}</option>
            ))}
          </select>
        </label>
      </div>
    </section>
  );
}

interface Row {
  run: Run;
  depth: number;
  children: number;
}

/** Order runs so that children follow their parent (when the parent is on this page). */
function nest(runs: Run[], expanded: Set<string>): Row[] {
  const ids = new Set(runs.map((r) => r.info.run_id));
  const kids = new Map<string, Run[]>();
  const top: Run[] = [];
  for (const run of runs) {
    const parent = tagValue(run.data.tags, PARENT_TAG);
    if (parent && ids.has(parent) && parent !== run.info.run_id) {
      const list = kids.get(parent) ?? [];
      list.push(run);
      kids.set(parent, list);
    } else top.push(run);
  }
  const rows: Row[] = [];
  const seen = new Set<string>();
  const visit = (run: Run, depth: number) => {
    if (seen.has(run.info.run_id)) return;
    seen.add(run.info.run_id);
    const children = kids.get(run.info.run_id) ?? [];
    rows.push({ run, depth, children: children.length });
    if (expanded.has(run.info.run_id)) for (const c of children) visit(c, depth + 1);
  };
  for (const run of top) visit(run, 0);
  return rows;
}

function RunsTable({ runs, columns, sort, ascending, onSort, selected, onSelect, busy }: {
  runs: Run[];
  columns: Column[];
  sort: string;
  ascending: boolean;
  onSort: (c: Column) => void;
  selected: Set<string>;
  onSelect: (s: Set<string>) => void;
  busy: boolean;
}) {
  const [expanded, setExpanded] = useState<Set<string>>(new Set());
  const rows = useMemo(() => nest(runs, expanded), [runs, expanded]);
  const toggle = (set: Set<string>, id: string) => {
    const next = new Set(set);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    return next;
  };
  const allSelected = runs.length > 0 && runs.every((r) => selected.has(r.info.run_id));
  if (!runs.length) return <p class="muted">No runs match.</p>;
  return (
    <div class="table-wrap" aria-busy={busy ? "true" : "false"}>
      <table class="grid runs" aria-label="Runs">
        <thead>
          <tr>
            <th scope="col">
              <input
                type="checkbox"
                aria-label="Select all runs on this page"
                checked={allSelected}
                onChange={() => onSelect(allSelected ? new Set() : new Set(runs.map((r) => r.info.run_id)))}
              />
            </th>
            {columns.map((c) => {
              const active = c.id === sort;
              return (
                <th
                  scope="col"
                  data-col={c.id}
                  aria-sort={active ? (ascending ? "ascending" : "descending") : "none"}
                  class={c.numeric ? "num" : ""}
                >
                  {c.sortKey ? (
                    <button type="button" class="sort" onClick={() => onSort(c)} title={`Sort by ${c.title}`}>
                      {c.title}
                      <span aria-hidden="true">{active ? (ascending ? " ▲" : " ▼") : ""}</span>
                    </button>
                  ) : (
                    c.title
                  )}
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody>
          {rows.map(({ run, depth, children }) => {
            const id = run.info.run_id;
            return (
              <tr key={id} data-run-id={id} class={run.info.lifecycle_stage === "deleted" ? "deleted" : ""}>
                <td>
                  <input
                    type="checkbox"
                    checked={selected.has(id)}
                    aria-label={`Select run ${run.info.run_name ?? id}`}
                    onChange={() => onSelect(toggle(selected, id))}
                  />
                </td>
                {columns.map((c) =>
                  c.id === "name" ? (
                    <td class="name" style={depth ? { paddingLeft: `${depth * 1.5 + 0.5}rem` } : undefined}>
                      {children ? (
                        <button
                          type="button"
                          class="expander"
                          aria-expanded={expanded.has(id)}
                          aria-label={`${expanded.has(id) ? "Collapse" : "Expand"} ${children} child runs`}
                          onClick={() => setExpanded(toggle(expanded, id))}
                        >
                          {expanded.has(id) ? "▾" : "▸"} {children}
                        </button>
                      ) : null}
                      <Link to={["runs", id]}>{c.value(run)}</Link>
                    </td>
                  ) : c.id === "status" ? (
                    <td>
                      <Status status={run.info.status} />
                    </td>
                  ) : c.id === "start" ? (
                    <td title={dateTime(run.info.start_time)}>{c.value(run)}</td>
                  ) : (
                    <td class={c.numeric ? "num" : ""}>{c.value(run)}</td>
                  ),
                )}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
