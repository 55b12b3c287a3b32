import { useEffect, useState } from "preact/hooks";
import * as api from "../api";
import { bytes } from "../format";
import { useAsync } from "../hooks";
import type { FileInfo } from "../types";
import { ErrorBox, Loading } from "./common";
import { Preview } from "./Preview";

/** A lazily expanded tree of a run's artifacts beside a preview of the chosen file. */
export function ArtifactBrowser({ runId, selected, onSelect }: {
  runId: string;
  selected: string | undefined;
  onSelect: (path: string) => void;
}) {
  const root = useAsync(() => api.listArtifacts(runId), [runId]);
  return (
    <div class="artifacts">
      <nav class="artifact-tree" aria-label="Artifacts">
        <ErrorBox error={root.error} />
        {root.loading && !root.data ? <Loading what="Listing artifacts" /> : null}
        {root.data && root.data.length === 0 ? <p class="muted">No artifacts.</p> : null}
        {root.data ? <Tree runId={runId} files={root.data} selected={selected} onSelect={onSelect} /> : null}
      </nav>
      <div class="artifact-preview">
        {selected ? <Preview runId={runId} path={selected} /> : <p class="muted">Choose a file to preview it.</p>}
      </div>
    </div>
  );
}

function Tree({ runId, files, selected, onSelect }: {
  runId: string;
  files: FileInfo[];
  selected: string | undefined;
  onSelect: (path: string) => void;
}) {
  const sorted = [...files].sort((a, b) => Number(!!b.is_dir) - Number(!!a.is_dir) || a.path.localeCompare(b.path));
  return (
    <ul role="group">
      {sorted.map((f) =>
        f.is_dir ? (
          <Directory runId={runId} file={f} selected={selected} onSelect={onSelect} />
        ) : (
          <li>
            <button
              type="button"
              class={f.path === selected ? "file active" : "file"}
              aria-current={f.path === selected ? "true" : undefined}
              onClick={() => onSelect(f.path)}
            >
              {f.path.split("/").pop()} <span class="muted">{bytes(f.file_size)}</span>
            </button>
          </li>
        ),
      )}
    </ul>
  );
}

function Directory({ runId, file, selected, onSelect }: {
  runId: string;
  file: FileInfo;
  selected: string | undefined;
  onSelect: (path: string) => void;
}) {
  const [open, setOpen] = useState(selected?.startsWith(`${file.path}/`) ?? false);
  const [children, setChildren] = useState<FileInfo[]>();
  const [error, setError] = useState<Error>();
  const name = file.path.split("/").pop();
  useEffect(() => {
    if (open && !children) api.listArtifacts(runId, file.path).then(setChildren, setError);
  }, [open]);
  const isModel = children?.some((c) => c.path.endsWith("/MLmodel"));
  return (
    <li>
      <button type="button" class="dir" aria-expanded={open} onClick={() => setOpen(!open)}>
        {open ? "▾" : "▸"} {name}/
      </button>
      {isModel ? (
        <button type="button" class="link" onClick={() => onSelect(`${file.path}/MLmodel`)}>
          model
        </button>
      ) : null}
      {open ? (
        <div class="indent">
          <ErrorBox error={error} />
          {children ? <Tree runId={runId} files={children} selected={selected} onSelect={onSelect} /> : <Loading />}
        </div>
      ) : null}
    </li>
  );
}
