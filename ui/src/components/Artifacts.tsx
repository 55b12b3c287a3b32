import { useEffect, useState } from "preact/hooks";
import * as api from "../api";
import { bytes } from "../format";
import { useAsync } from "../hooks";
import type { FileInfo, LoggedModel } from "../types";
import { ErrorBox, Loading } from "./common";
import { ModelView } from "./ModelView";
import { Preview } from "./Preview";

/**
 * Where the tree's files come from: the run's artifacts, or one of its logged models (MLflow 3
 * keeps those outside the run's folder). `key` is what the URL's `artifact=` holds for a path:
 * the path itself for the run, `models:/<id>/<path>` for a logged model's file.
 */
interface Source {
  list: (path?: string) => Promise<FileInfo[]>;
  key: (path: string) => string;
  url: (path: string) => string;
  /** How a folder holding an MLmodel is loaded: `runs:/<run>/<folder>` or `models:/<id>`. */
  modelUri: (folder: string) => string;
}

const runSource = (runId: string): Source => ({
  list: (path) => api.listArtifacts(runId, path),
  key: (path) => path,
  url: (path) => api.artifactUrl(runId, path),
  modelUri: (folder) => `runs:/${runId}/${folder}`,
});

const modelSource = (model: LoggedModel): Source => {
  const id = model.info.model_id;
  return {
    list: (path) => api.listLoggedModelArtifacts(id, path),
    key: (path) => `models:/${id}${path ? `/${path}` : ""}`,
    url: (path) => api.loggedModelFileUrl(id, path),
    modelUri: () => `models:/${id}`,
  };
};

/** What `artifact=` names: a file or a model folder (`.../` or `models:/<id>`), of which source. */
function resolve(selected: string, runId: string, models: LoggedModel[]) {
  const m = /^models:\/([^/]+)\/?(.*)$/.exec(selected);
  if (m) {
    const model = models.find((x) => x.info.model_id === m[1]);
    if (!model) return undefined;
    return { source: modelSource(model), path: m[2] ?? "", label: `${model.info.name}/${m[2] ?? ""}` };
  }
  return { source: runSource(runId), path: selected, label: selected };
}

/** A lazily expanded tree of a run's artifacts and logged models beside a preview of the chosen one. */
export function ArtifactBrowser({ runId, models, selected, onSelect }: {
  runId: string;
  models: LoggedModel[];
  selected: string | undefined;
  onSelect: (key: string) => void;
}) {
  const source = runSource(runId);
  const root = useAsync(() => source.list(), [runId]);
  const chosen = selected ? resolve(selected, runId, models) : undefined;
  const folder = chosen && (chosen.path === "" || chosen.path.endsWith("/"));
  return (
    <div class="artifacts">
      <nav class="artifact-tree" aria-label="Artifacts">
        <ErrorBox error={root.error} />
        {root.loading && !root.data ? <Loading what="Listing artifacts" /> : null}
        <ul role="group">
          {models.map((m) => (
            <ModelFolder model={m} selected={selected} onSelect={onSelect} />
          ))}
        </ul>
        {root.data && root.data.length === 0 && !models.length ? <p class="muted">No artifacts.</p> : null}
        {root.data ? <Tree source={source} files={root.data} selected={selected} onSelect={onSelect} /> : null}
      </nav>
      <div class="artifact-preview">
        {!chosen ? (
          <p class="muted">{selected ? "That model is not among this run's." : "Choose a file to preview it."}</p>
        ) : folder ? (
          <div aria-label={`Model ${chosen.label}`}>
            <h2 class="preview-title">{chosen.label.replace(/\/$/, "")}</h2>
            <ModelView
              fileUrl={(p) => chosen.source.url(`${chosen.path}${p}`)}
              modelUri={chosen.source.modelUri(chosen.path.replace(/\/$/, ""))}
            />
          </div>
        ) : (
          <Preview path={chosen.label} url={chosen.source.url(chosen.path)} />
        )}
      </div>
    </div>
  );
}

/** A logged model as a top-level folder (MLflow 3 stores its files apart from the run's). */
function ModelFolder({ model, selected, onSelect }: {
  model: LoggedModel;
  selected: string | undefined;
  onSelect: (key: string) => void;
}) {
  const source = modelSource(model);
  const key = source.key("");
  const [open, setOpen] = useState(selected?.startsWith(key) ?? false);
  const files = useAsync(() => (open ? source.list() : Promise.resolve(undefined)), [open, model.info.model_id]);
  return (
    <li>
      <button type="button" class="dir" aria-expanded={open} onClick={() => setOpen(!open)} title={model.info.model_id}>
        {open ? "▾" : "▸"} {model.info.name}/
      </button>
      <button type="button" class={selected === key ? "badge active" : "badge"} onClick={() => onSelect(key)}>
        logged model
      </button>
      {open ? (
        <div class="indent">
          <ErrorBox error={files.error} />
          {files.data ? <Tree source={source} files={files.data} selected={selected} onSelect={onSelect} /> : <Loading />}
        </div>
      ) : null}
    </li>
  );
}

function Tree({ source, files, selected, onSelect }: {
  source: Source;
  files: FileInfo[];
  selected: string | undefined;
  onSelect: (key: string) => void;
}) {
  const sorted = [...files].sort((a, b) => Number(!!b.is_dir) - Number(!!a.is_dir) || a.path.localeCompare(b.path));
  return (
    <ul role="group">
      {sorted.map((f) =>
        f.is_dir ? (
          <Directory source={source} file={f} selected={selected} onSelect={onSelect} />
        ) : (
          <li>
            <button
              type="button"
              class={source.key(f.path) === selected ? "file active" : "file"}
              aria-current={source.key(f.path) === selected ? "true" : undefined}
              title={f.path}
              onClick={() => onSelect(source.key(f.path))}
            >
              {f.path.split("/").pop()} <span class="muted">{bytes(f.file_size)}</span>
            </button>
          </li>
        ),
      )}
    </ul>
  );
}

function Directory({ source, file, selected, onSelect }: {
  source: Source;
  file: FileInfo;
  selected: string | undefined;
  onSelect: (key: string) => void;
}) {
  const [open, setOpen] = useState(selected?.startsWith(source.key(`${file.path}/`)) ?? false);
  const [children, setChildren] = useState<FileInfo[]>();
  const [error, setError] = useState<Error>();
  const name = file.path.split("/").pop();
  useEffect(() => {
    if (open && !children) source.list(file.path).then(setChildren, setError);
  }, [open]);
  // A folder holding an MLmodel (MLflow 2's `model/` among the run's artifacts) is a model.
  const [isModel, setIsModel] = useState(false);
  useEffect(() => {
    if (name === "model" || children) {
      const check = children ? Promise.resolve(children) : source.list(file.path);
      check.then((c) => setIsModel(c.some((x) => x.path.endsWith("/MLmodel"))), () => setIsModel(false));
    }
  }, [children]);
  const key = source.key(`${file.path}/`);
  return (
    <li>
      <button type="button" class="dir" aria-expanded={open} onClick={() => setOpen(!open)} title={file.path}>
        {open ? "▾" : "▸"} {name}/
      </button>
      {isModel ? (
        <button type="button" class={selected === key ? "badge active" : "badge"} onClick={() => onSelect(key)}>
          model
        </button>
      ) : null}
      {open ? (
        <div class="indent">
          <ErrorBox error={error} />
          {children ? <Tree source={source} files={children} selected={selected} onSelect={onSelect} /> : <Loading />}
        </div>
      ) : null}
    </li>
  );
}
