// The runs table: columns grouped under Metrics / Parameters / Tags, the run name pinned, rows
// virtualized (TanStack virtual-core) inside the table's own scrolling box, and the next page of
// runs fetched as the user nears the last loaded row.
import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { PARENT_TAG, kindOf, type Column } from "../columns";
import { dateTime, tagValue } from "../format";
import type { Run } from "../types";
import { useVirtualizer } from "../virtual";
import { Link, Status } from "./common";

/** Row height in px (fixed, so the virtualizer needs no measuring). */
const ROW = 34;
const rowSize = () => ROW;

interface Row {
  run: Run;
  depth: number;
  children: number;
}

/** Order runs so that children follow their parent (when the parent is loaded). */
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

const GROUP_TITLES = { metrics: "Metrics", params: "Parameters", tags: "Tags" } as const;

/** Width of a column in rem (fixed layout: rows drawn while scrolling keep their widths). */
function defaultWidth(c: Column): number {
  if (c.id === "name") return 15;
  if (c.id === "status") return 7;
  if (c.id === "experiment") return 11;
  if (c.id === "source") return 10;
  return kindOf(c.id) === "tags" ? 9 : 8;
}

const WIDTHS_KEY = "traza.columnWidths";

/** Widths the user dragged columns to (rem, by column id), kept in the browser. */
function storedWidths(): Record<string, number> {
  try {
    const parsed: unknown = JSON.parse(window.localStorage.getItem(WIDTHS_KEY) ?? "{}");
    return parsed && typeof parsed === "object" ? (parsed as Record<string, number>) : {};
  } catch {
    return {};
  }
}

function storeWidths(widths: Record<string, number>): void {
  try {
    window.localStorage.setItem(WIDTHS_KEY, JSON.stringify(widths));
  } catch {
    // storage disabled: the widths last as long as the page
  }
}

const REM = () => parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;

const toggled = (set: Set<string>, id: string) => {
  const next = new Set(set);
  if (next.has(id)) next.delete(id);
  else next.add(id);
  return next;
};

export function RunsTable({
  runs,
  columns,
  sort,
  ascending,
  onSort,
  selected,
  onSelect,
  hidden,
  onHide,
  colorOf,
  experimentName,
  busy,
  onNearEnd,
}: {
  runs: Run[];
  columns: Column[];
  sort: string;
  ascending: boolean;
  onSort: (c: Column) => void;
  selected: Set<string>;
  onSelect: (s: Set<string>) => void;
  hidden: Set<string>;
  onHide: (s: Set<string>) => void;
  colorOf: (runId: string) => string;
  experimentName: (id: string) => string;
  busy: boolean;
  onNearEnd: () => void;
}) {
  const [expanded, setExpanded] = useState<Set<string>>(new Set());
  const [widths, setWidths] = useState<Record<string, number>>(storedWidths);
  const width = (c: Column) => widths[c.id] ?? defaultWidth(c);
  const resize = (c: Column, rem: number, keep: boolean) => {
    const next = { ...widths, [c.id]: Math.max(3, Math.min(40, Math.round(rem * 10) / 10)) };
    setWidths(next);
    if (keep) storeWidths(next);
  };
  const startResize = (c: Column, e: PointerEvent) => {
    e.preventDefault();
    const x0 = e.clientX;
    const w0 = width(c);
    const rem = REM();
    let last = w0;
    const move = (m: PointerEvent) => {
      last = w0 + (m.clientX - x0) / rem;
      resize(c, last, false);
    };
    const up = () => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
      const next = { ...storedWidths(), [c.id]: Math.max(3, Math.min(40, Math.round(last * 10) / 10)) };
      storeWidths(next);
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  };
  const rows = useMemo(() => nest(runs, expanded), [runs, expanded]);
  const box = useRef<HTMLDivElement>(null);
  // Stable callbacks: the virtualizer recomputes every row's offset when one changes.
  const getScrollElement = useCallback(() => box.current, []);
  const getItemKey = useCallback((i: number) => rows[i]?.run.info.run_id ?? i, [rows]);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement,
    estimateSize: rowSize,
    overscan: 6,
    getItemKey,
  });
  const items = virtualizer.getVirtualItems();
  // Keyboard: Up/Down (Home/End) move between the rows' run links, scrolling as they go.
  const focusRow = useRef<number>();
  const [, rerenderSoon] = useState(0);
  useEffect(() => {
    if (focusRow.current === undefined) return;
    const link = box.current?.querySelector<HTMLElement>(`tr[aria-rowindex="${focusRow.current + 3}"] td.name a`);
    if (link) {
      link.focus({ preventScroll: true });
      focusRow.current = undefined;
    }
  });
  const onKeyDown = (e: KeyboardEvent) => {
    const row = (e.target as HTMLElement).closest("tr[aria-rowindex]");
    if (!row || e.altKey || e.ctrlKey || e.metaKey) return;
    const at = Number(row.getAttribute("aria-rowindex")) - 3;
    const to =
      e.key === "ArrowDown" ? at + 1 : e.key === "ArrowUp" ? at - 1 : e.key === "Home" ? 0 : e.key === "End" ? rows.length - 1 : undefined;
    if (to === undefined || to < 0 || to >= rows.length) return;
    e.preventDefault();
    focusRow.current = to;
    virtualizer.scrollToIndex(to, { align: "auto" });
    rerenderSoon((n) => n + 1);
  };

  const last = items[items.length - 1]?.index ?? 0;
  useEffect(() => {
    if (rows.length && last >= rows.length - 30) onNearEnd();
  }, [last, rows.length]);

  const allSelected = runs.length > 0 && runs.every((r) => selected.has(r.info.run_id));
  const top = items[0]?.start ?? 0;
  const bottom = virtualizer.getTotalSize() - (items[items.length - 1]?.end ?? 0);
  // Header groups: consecutive columns of one kind share a cell above them.
  const groups: { title: string; span: number }[] = [];
  for (const c of columns) {
    const kind = kindOf(c.id);
    const title = kind ? GROUP_TITLES[kind] : "";
    const prev = groups[groups.length - 1];
    if (prev && prev.title === title) prev.span += 1;
    else groups.push({ title, span: 1 });
  }
  const totalWidth = 4.5 + columns.reduce((n, c) => n + width(c), 0);
  return (
    <div class="table-wrap runs-wrap" ref={box} aria-busy={busy ? "true" : "false"}>
      <table class="grid runs" aria-label="Runs" aria-rowcount={rows.length + 2} style={{ width: `${totalWidth}rem` }}>
        <colgroup>
          <col style={{ width: "4.5rem" }} />
          {columns.map((c) => (
            <col style={{ width: `${width(c)}rem` }} />
          ))}
        </colgroup>
        <thead>
          <tr class="groups">
            <th scope="colgroup" class="pin pin-0" />
            {groups.map((g) => (
              <th scope="colgroup" colSpan={g.span} class="group">
                {g.title}
              </th>
            ))}
          </tr>
          <tr class="heads">
            <th scope="col" class="pin pin-0">
              <input
                type="checkbox"
                aria-label="Select all loaded runs"
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
                  data-kind={kindOf(c.id) ?? "run"}
                  aria-sort={active ? (ascending ? "ascending" : "descending") : "none"}
                  class={`${c.numeric ? "num" : ""}${c.id === "name" ? " pin pin-1" : ""}`}
                  title={c.id}
                >
                  {c.sortKey ? (
                    <button type="button" class="sort" onClick={() => onSort(c)} title={`Sort by ${c.id}`}>
                      {c.title}
                      <span aria-hidden="true">{active ? (ascending ? " ▲" : " ▼") : ""}</span>
                    </button>
                  ) : (
                    c.title
                  )}
                  <span
                    class="resizer"
                    role="separator"
                    aria-orientation="vertical"
                    aria-label={`Resize ${c.title}`}
                    aria-valuenow={width(c)}
                    tabIndex={0}
                    onPointerDown={(e) => startResize(c, e)}
                    onKeyDown={(e) => {
                      if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
                      e.preventDefault();
                      resize(c, width(c) + (e.key === "ArrowRight" ? 0.5 : -0.5), true);
                    }}
                  />
                </th>
              );
            })}
          </tr>
        </thead>
        <tbody onKeyDown={onKeyDown}>
          {top > 0 ? <tr class="spacer" aria-hidden="true" style={{ height: `${top}px` }} /> : null}
          {items.map((item, slot) => {
            const { run, depth, children } = rows[item.index]!;
            const id = run.info.run_id;
            const name = run.info.run_name ?? id;
            const shown = !hidden.has(id);
            // Keyed by place in the window, not by run: a scroll reuses the rows' elements and
            // changes their text instead of removing and creating every cell.
            return (
              <tr
                key={slot}
                data-run-id={id}
                aria-rowindex={item.index + 3}
                class={`${run.info.lifecycle_stage === "deleted" ? "deleted" : ""}${selected.has(id) ? " selected" : ""}`}
              >
                <td class="pin pin-0">
                  <div class="row-tools">
                  <input
                    type="checkbox"
                    checked={selected.has(id)}
                    aria-label={`Select run ${name}`}
                    onChange={() => onSelect(toggled(selected, id))}
                  />
                  <button
                    type="button"
                    class={`run-dot${shown ? "" : " off"}`}
                    style={{ "--run-color": colorOf(id) }}
                    aria-pressed={shown ? "true" : "false"}
                    aria-label={`Show ${name} in charts`}
                    title={shown ? "Shown in charts: click to hide" : "Hidden from charts: click to show"}
                    onClick={() => onHide(toggled(hidden, id))}
                  />
                  </div>
                </td>
                {columns.map((c) =>
                  c.id === "name" ? (
                    <td class="name pin pin-1" title={name} style={depth ? { paddingLeft: `${depth * 1.2 + 0.5}rem` } : undefined}>
                      {children ? (
                        <button
                          type="button"
                          class="expander"
                          aria-expanded={expanded.has(id)}
                          aria-label={`${expanded.has(id) ? "Collapse" : "Expand"} ${children} child runs`}
                          onClick={() => setExpanded(toggled(expanded, id))}
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
                  ) : c.id === "experiment" ? (
                    <td title={experimentName(run.info.experiment_id)}>
                      <Link to={["experiments", run.info.experiment_id]}>{experimentName(run.info.experiment_id)}</Link>
                    </td>
                  ) : (
                    <Cell numeric={c.numeric} text={c.value(run)} />
                  ),
                )}
              </tr>
            );
          })}
          {bottom > 0 ? <tr class="spacer" aria-hidden="true" style={{ height: `${bottom}px` }} /> : null}
        </tbody>
      </table>
    </div>
  );
}

function Cell({ numeric, text }: { numeric?: boolean; text: string }) {
  return (
    <td class={numeric ? "num" : ""} title={text}>
      {text}
    </td>
  );
}
