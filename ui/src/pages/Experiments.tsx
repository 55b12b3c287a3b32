import { useState } from "preact/hooks";
import { useExperimentsAccess, type Access } from "../access";
import * as api from "../api";
import { ErrorBox, Link, Loading } from "../components/common";
import { dateTime, relative, tagValue } from "../format";
import { useAsync } from "../hooks";
import { navigate, updateQuery } from "../router";
import type { Experiment, ViewType } from "../types";

const quote = (s: string) => s.replace(/'/g, "\\'");

export function ExperimentsPage({ query }: { query: URLSearchParams }) {
  const search = query.get("q") ?? "";
  const view = (query.get("view") as ViewType | null) ?? "ACTIVE_ONLY";
  const [text, setText] = useState(search);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [actionError, setActionError] = useState<Error>();
  const experiments = useAsync(
    () => api.searchExperiments({ filter: search ? `name ILIKE '%${quote(search)}%'` : undefined, view }),
    [search, view],
  );
  const ids = experiments.data?.items.map((e) => e.experiment_id) ?? [];
  // Run counts and last activity in one request for the whole list (a grouped query).
  const summaries = useAsync(
    () => (ids.length ? api.experimentSummaries(ids) : Promise.resolve(new Map<string, api.ExperimentSummary>())),
    [ids.join(",")],
  );
  // What the user may do on each (auth on): Rename needs EDIT, Delete and Restore MANAGE.
  const accessOf = useExperimentsAccess(ids);

  const act = async (fn: () => Promise<unknown>) => {
    setActionError(undefined);
    try {
      await fn();
      experiments.reload();
    } catch (e) {
      setActionError(e as Error);
    }
  };
  const toggle = (id: string) => {
    const next = new Set(selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setSelected(next);
  };

  return (
    <section aria-labelledby="experiments-title">
      <div class="page-head">
        <h1 id="experiments-title">Experiments</h1>
        <CreateExperiment onCreated={(id) => navigate(["experiments", id])} />
      </div>
      <div class="toolbar">
        <form
          role="search"
          onSubmit={(e) => {
            e.preventDefault();
            updateQuery({ q: text });
          }}
        >
          <label>
            Search experiments{" "}
            <input type="search" value={text} onInput={(e) => setText(e.currentTarget.value)} placeholder="name contains…" />
          </label>
          <button type="submit">Search</button>
        </form>
        <label>
          Show{" "}
          <select value={view} onChange={(e) => updateQuery({ view: e.currentTarget.value })}>
            <option value="ACTIVE_ONLY">Active</option>
            <option value="DELETED_ONLY">Deleted</option>
            <option value="ALL">All</option>
          </select>
        </label>
        <button
          type="button"
          disabled={selected.size === 0}
          onClick={() => navigate(["experiments", [...selected].join(",")])}
        >
          Open runs of {selected.size || ""} selected
        </button>
      </div>
      <ErrorBox error={experiments.error ?? actionError} />
      {experiments.loading && !experiments.data ? <Loading /> : null}
      {experiments.data ? (
        <div class="table-wrap">
        <table class="grid" aria-label="Experiments">
          <thead>
            <tr>
              <th scope="col">
                <span class="sr-only">Select</span>
              </th>
              <th scope="col">Name</th>
              <th scope="col" class="num">Runs</th>
              <th scope="col">Last run</th>
              <th scope="col">Description</th>
              <th scope="col">Tags</th>
              <th scope="col">ID</th>
              <th scope="col">Created</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {experiments.data.items.map((e) => (
              <ExperimentRow
                key={e.experiment_id}
                experiment={e}
                summary={summaries.data?.get(e.experiment_id)}
                access={accessOf(e.experiment_id)}
                selected={selected.has(e.experiment_id)}
                onToggle={() => toggle(e.experiment_id)}
                act={act}
              />
            ))}
          </tbody>
        </table>
        </div>
      ) : null}
      {experiments.data && experiments.data.items.length === 0 ? <p class="muted">No experiments.</p> : null}
    </section>
  );
}

function ExperimentRow({ experiment: e, summary, access, selected, onToggle, act }: {
  experiment: Experiment;
  summary: api.ExperimentSummary | undefined;
  access: Access;
  selected: boolean;
  onToggle: () => void;
  act: (fn: () => Promise<unknown>) => Promise<void>;
}) {
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(e.name);
  const deleted = e.lifecycle_stage === "deleted";
  const description = tagValue(e.tags, "mlflow.note.content") ?? "";
  const userTags = (e.tags ?? []).filter((t) => !t.key.startsWith("mlflow."));
  return (
    <tr class={deleted ? "deleted" : ""}>
      <td>
        <input type="checkbox" checked={selected} onChange={onToggle} aria-label={`Select ${e.name}`} />
      </td>
      <td>
        {editing ? (
          <form
            class="inline"
            onSubmit={(ev) => {
              ev.preventDefault();
              setEditing(false);
              if (name && name !== e.name) void act(() => api.renameExperiment(e.experiment_id, name));
            }}
          >
            <input
              aria-label={`New name for ${e.name}`}
              value={name}
              onInput={(ev) => setName(ev.currentTarget.value)}
              autoFocus
            />
            <button type="submit">Save</button>
            <button type="button" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </form>
        ) : (
          <Link to={["experiments", e.experiment_id]}>{e.name}</Link>
        )}
      </td>
      <td class="num">{summary ? summary.run_count.toLocaleString() : ""}</td>
      <td title={dateTime(summary?.last_run_start_time)}>{summary?.last_run_start_time ? relative(summary.last_run_start_time) : ""}</td>
      <td class="description-cell" title={description}>
        {description}
      </td>
      <td class="tags-cell">
        {userTags.map((t) => (
          <span class="chip" title={`${t.key}: ${t.value}`}>
            {t.key}: {t.value}
          </span>
        ))}
      </td>
      <td class="mono">{e.experiment_id}</td>
      <td title={`Last updated ${dateTime(e.last_update_time)}`}>{dateTime(e.creation_time)}</td>
      <td class="actions">
        {!editing && !deleted && access.canUpdate ? (
          <button type="button" onClick={() => setEditing(true)} aria-label={`Rename ${e.name}`}>
            Rename
          </button>
        ) : null}
        {!access.canDelete ? null : deleted ? (
          <button type="button" onClick={() => act(() => api.restoreExperiment(e.experiment_id))} aria-label={`Restore ${e.name}`}>
            Restore
          </button>
        ) : (
          <button
            type="button"
            class="danger"
            onClick={() => {
              if (window.confirm(`Delete experiment "${e.name}"? It can be restored.`))
                void act(() => api.deleteExperiment(e.experiment_id));
            }}
            aria-label={`Delete ${e.name}`}
          >
            Delete
          </button>
        )}
      </td>
    </tr>
  );
}

function CreateExperiment({ onCreated }: { onCreated: (id: string) => void }) {
  const [name, setName] = useState("");
  const [error, setError] = useState<Error>();
  return (
    <form
      class="inline"
      onSubmit={async (e) => {
        e.preventDefault();
        setError(undefined);
        try {
          onCreated(await api.createExperiment(name.trim()));
        } catch (err) {
          setError(err as Error);
        }
      }}
    >
      <label>
        New experiment <input value={name} onInput={(e) => setName(e.currentTarget.value)} required />
      </label>
      <button type="submit">Create</button>
      <ErrorBox error={error} />
    </form>
  );
}
