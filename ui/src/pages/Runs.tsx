import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { ComponentChildren } from "preact";
import { AccessScope, ExperimentsAccessScope, useAccess } from "../access";
import * as api from "../api";
import { colorAt } from "../colors";
import { ColumnPicker } from "../components/ColumnPicker";
import { FirstRun } from "../components/FirstRun";
import { RunsTable } from "../components/RunsTable";
import { Sharing } from "../components/Sharing";
import { settingsFromQuery } from "../chartSettings";
import { lazily } from "../lazy";
import { ErrorBox, Link, Loading } from "../components/common";
import {
  FIXED,
  columnById,
  decodeCols,
  defaultColumns,
  encodeCols,
  grouped,
  storeColumns,
  storedColumns,
  type Column,
} from "../columns";
import { plural } from "../format";
import { early, useAsync } from "../hooks";
import { navigate, updateQuery } from "../router";
import { activeRunCount, csvUrl } from "../runsView";
import { GroupSummary } from "../components/GroupSummary";
import type { Run, ViewType } from "../types";

/** Runs in the first request (the page is usable once they are drawn), then per scroll fetch. */
const FIRST_PAGE = 100;
const NEXT_PAGE = 250;
/** Runs a chart overlays (the server's limit per history request). */
export const CHART_RUNS = 100;

const NO_COLUMNS: string[] = [];
// The chart workspace (and its charting library) loads when the Charts tab first opens.
const Workspace = lazily(() => import("../components/Workspace").then((m) => m.Workspace));
const EXPERIMENT: Column = { id: "experiment", title: "Experiment", value: (r) => r.info.experiment_id };

interface Pages {
  /** The query these runs answer (they stay shown while the next query loads). */
  signature?: string;
  runs: Run[];
  first: Run[];
  next?: string;
  loading: boolean;
  error?: Error;
}

/** The runs of one query, a page at a time: `more()` appends the next page. */
function useRunPages(signature: string, load: (token?: string) => Promise<api.Page<Run>>) {
  const [state, setState] = useState<Pages>({ runs: [], first: [], loading: true });
  const [tick, setTick] = useState(0);
  const seq = useRef(0);
  const fail = (mine: number) => (error: Error) =>
    mine === seq.current && setState((s) => ({ ...s, error, loading: false }));
  // Started while rendering (see `early`), answered once the effect has run.
  const started = useMemo(() => early(() => load()), [signature, tick]);
  useEffect(() => {
    const mine = ++seq.current;
    setState((s) => ({ ...s, loading: true, error: undefined }));
    started.then(
      (p) => mine === seq.current && setState({ signature, runs: p.items, first: p.items, next: p.next, loading: false }),
      fail(mine),
    );
  }, [started]);
  const more = () => {
    if (state.loading || !state.next) return;
    const mine = seq.current;
    setState((s) => ({ ...s, loading: true }));
    load(state.next).then(
      (p) => mine === seq.current && setState((s) => ({ ...s, runs: [...s.runs, ...p.items], next: p.next, loading: false })),
      fail(mine),
    );
  };
  return { ...state, more, reload: () => setTick((t) => t + 1) };
}

export function RunsPage({ experimentIds, query }: { experimentIds: string[]; query: URLSearchParams }) {
  const filter = query.get("filter") ?? "";
  const sort = query.get("sort") ?? "start";
  const ascending = query.get("dir") === "asc";
  const view = (query.get("view") as ViewType | null) ?? "ACTIVE_ONLY";
  const tab = query.get("tab") === "charts" ? "charts" : "table";
  const urlCols = query.get("cols");
  const groupBy = query.get("group") ?? "";
  const idsKey = experimentIds.join(",");
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [hidden, setHidden] = useState<Set<string>>(new Set());
  const [text, setText] = useState(filter);
  const [actionError, setActionError] = useState<Error>();

  useEffect(() => setText(filter), [filter]);

  const experiments = useAsync(() => Promise.all(experimentIds.map(api.getExperiment)), [idsKey]);
  const keys = useAsync(() => api.experimentKeys(experimentIds), [idsKey]);
  const sortColumn = columnById(sort);
  const orderBy = sortColumn?.sortKey ? [`${sortColumn.sortKey} ${ascending ? "ASC" : "DESC"}`] : undefined;
  const signature = [idsKey, filter, view, orderBy?.[0]].join("\u0000");
  const runs = useRunPages(signature, (pageToken) =>
    api.searchRuns({ experimentIds, filter, view, orderBy, pageToken, maxResults: pageToken ? NEXT_PAGE : FIRST_PAGE }),
  );
  const counted = !filter && view === "ACTIVE_ONLY";
  const total = useAsync(
    () => (counted ? activeRunCount(experimentIds) : Promise.resolve(undefined)),
    [idsKey, counted, runs.first],
  );

  // Columns: the URL's (a shared link), else the ones last chosen here, else the defaults.
  const stored = useMemo(() => storedColumns(experimentIds), [idsKey, urlCols]);
  // The defaults come from the first page these experiments showed, so a sort or a filter
  // does not move the columns.
  const firstSeen = useRef<{ key: string; cols: string[] }>();
  if (runs.signature?.startsWith(`${idsKey}\u0000`) && runs.first.length && firstSeen.current?.key !== idsKey) {
    firstSeen.current = { key: idsKey, cols: defaultColumns(runs.first) };
  }
  const defaults = firstSeen.current?.key === idsKey ? firstSeen.current.cols : NO_COLUMNS;
  const cols = useMemo(
    () => (urlCols !== null ? decodeCols(urlCols) : (stored ?? defaults)),
    [urlCols, stored, defaults],
  );
  const setCols = (ids: string[]) => {
    storeColumns(experimentIds, ids);
    updateQuery({ cols: encodeCols(ids) }, true);
  };
  const columns = useMemo(() => {
    const fixed = experimentIds.length > 1 ? [FIXED[0]!, EXPERIMENT, ...FIXED.slice(1)] : FIXED;
    return [...fixed, ...grouped(cols).map(columnById).filter((c): c is Column => c !== undefined)];
  }, [cols, experimentIds.length]);
  const names = useMemo(
    () => new Map((experiments.data ?? []).map((e) => [e.experiment_id, e.name])),
    [experiments.data],
  );
  // One colour per run, by its place in the view: the same in the table and in every chart.
  const colors = useMemo(() => new Map(runs.runs.map((r, i) => [r.info.run_id, colorAt(i)])), [runs.runs]);
  const colorOf = (id: string) => colors.get(id) ?? colorAt(0);

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
  const loaded = runs.runs.length;
  const done = !runs.next && !runs.loading;
  const count =
    total.data !== undefined && !done
      ? `${plural(total.data, "run")} · ${loaded.toLocaleString()} loaded`
      : done
        ? plural(loaded, "run")
        : `${loaded.toLocaleString()} runs loaded, more as you scroll`;
  // Beside the charts: the table's first runs, enough that hiding some still leaves a full chart.
  const listed = useMemo(() => runs.runs.slice(0, CHART_RUNS * 3), [runs.runs]);
  const csvColumns = [
    ...(experimentIds.length > 1 ? ["experiment_id"] : []),
    ...columns.filter((c) => c.id !== "name" && c.id !== "experiment").map((c) => c.id),
  ];

  return (
    <Scope experimentIds={experimentIds}>
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
          <div role="tablist" aria-label="Runs view" class="tabs inline-tabs">
            <button type="button" role="tab" class={`tab${tab === "table" ? " active" : ""}`} aria-selected={tab === "table"} onClick={() => updateQuery({ tab: "" })}>
              Table
            </button>
            <button type="button" role="tab" class={`tab${tab === "charts" ? " active" : ""}`} aria-selected={tab === "charts"} onClick={() => updateQuery({ tab: "charts" })}>
              Charts
            </button>
          </div>
          <ColumnPicker keys={keys.data} chosen={cols} onChange={setCols} />
          {tab === "table" ? (
          <label>
            Group by{" "}
            <select value={groupBy} onChange={(e) => updateQuery({ group: e.currentTarget.value }, true)}>
              <option value="">Nothing</option>
              {(keys.data?.params ?? []).map((k) => (
                <option value={`params.${k}`}>Param: {k}</option>
              ))}
              {(keys.data?.tags ?? [])
                .filter((k) => !k.startsWith("mlflow.") || k === "mlflow.runName" || k === "mlflow.user")
                .map((k) => (
                  <option value={`tags.${k}`}>Tag: {k}</option>
                ))}
            </select>
          </label>
          ) : null}
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
            onClick={() => {
              // In the table's order, each with its colour here (`c`: places in the palette).
              const place = new Map(runs.runs.map((r, i) => [r.info.run_id, i]));
              const ids = [...selected].sort((a, b) => (place.get(a) ?? 1e9) - (place.get(b) ?? 1e9));
              const c = ids.map((id) => String(place.get(id) ?? 0)).join(",");
              navigate(["compare"], { runs: ids.join(","), exp: experimentIds.join(","), c });
            }}
          >
            Compare {selected.size || ""} selected
          </button>
          <DeleteOrRestore view={view} disabled={!selected.size} onDelete={() => act(api.deleteRun)} onRestore={() => act(api.restoreRun)} />
          <a class="button" href={csvUrl({ experimentIds, filter, view, orderBy }, csvColumns)} download="runs.csv">
            Download CSV
          </a>
          <Link to={["models"]} query={{ exp: experimentIds.join(",") }}>
            Logged models
          </Link>
          <span class="muted run-count" aria-live="polite">
            {runs.loading && !loaded ? "" : count}
          </span>
        </div>
        <ErrorBox error={actionError ?? (filterError ? undefined : runs.error)} />
        {runs.loading && !loaded ? <Loading what="Loading runs" /> : null}
        {!runs.loading && !loaded && !filter && view === "ACTIVE_ONLY" && experimentIds.length === 1 ? (
          <FirstRun experimentId={experimentIds[0]!} />
        ) : !runs.loading && !loaded ? (
          <p class="muted">No runs match.</p>
        ) : loaded && tab === "charts" ? (
          <Workspace
            experimentIds={experimentIds}
            listed={listed}
            hidden={hidden}
            onHide={setHidden}
            limit={CHART_RUNS}
            colorOf={colorOf}
            metrics={keys.data?.metrics ?? []}
            settings={settingsFromQuery(query)}
          />
        ) : loaded ? (
          <>
          {groupBy ? (
            <GroupSummary
              query={{ experimentIds, filter, view, orderBy }}
              runs={runs.runs}
              by={groupBy}
              metrics={columns.flatMap((c) => (c.id.startsWith("metrics.") ? [c.id.slice("metrics.".length)] : []))}
              complete={done}
            />
          ) : null}
          <RunsTable
            runs={runs.runs}
            columns={columns}
            sort={sort}
            ascending={ascending}
            onSort={setSort}
            selected={selected}
            onSelect={setSelected}
            hidden={hidden}
            onHide={setHidden}
            colorOf={colorOf}
            experimentName={(id) => names.get(id) ?? id}
            busy={runs.loading}
            onNearEnd={runs.more}
          />
          </>
        ) : null}
        {tab === "table" && runs.next && loaded ? (
          <div class="pager">
            <button type="button" disabled={runs.loading} onClick={runs.more}>
              Load more runs
            </button>
          </div>
        ) : null}
      </section>
    </Scope>
  );
}

/** One experiment: the caller's access there; several: what they may do in all of them. */
function Scope({ experimentIds, children }: { experimentIds: string[]; children: ComponentChildren }) {
  return experimentIds.length === 1 ? (
    <AccessScope resource={{ kind: "experiment", id: experimentIds[0]! }}>{children}</AccessScope>
  ) : (
    <ExperimentsAccessScope ids={experimentIds}>{children}</ExperimentsAccessScope>
  );
}

/** Delete (or, among deleted runs, restore) the selected runs: for those who may delete here. */
function DeleteOrRestore({ view, disabled, onDelete, onRestore }: {
  view: ViewType;
  disabled: boolean;
  onDelete: () => void;
  onRestore: () => void;
}) {
  if (!useAccess().canDelete) return null;
  return view === "ACTIVE_ONLY" ? (
    <button type="button" class="danger" disabled={disabled} onClick={onDelete}>
      Delete selected
    </button>
  ) : (
    <button type="button" disabled={disabled} onClick={onRestore}>
      Restore selected
    </button>
  );
}
