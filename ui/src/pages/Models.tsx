import { useState } from "preact/hooks";
import { AccessScope } from "../access";
import * as api from "../api";
import { ErrorBox, KeyValues, Link, Loading, Status } from "../components/common";
import { EditableText, InlineForm, RemovableChip, useEdit } from "../components/Editors";
import { ModelView } from "../components/ModelView";
import { Sharing } from "../components/Sharing";
import { ExperimentLink, RunLink } from "../components/Crumbs";
import { dateTime, num } from "../format";
import { useAsync } from "../hooks";
import { list, updateQuery } from "../router";
import type { LoggedModel, ModelVersion, Run } from "../types";

export function ModelsPage({ query }: { query: URLSearchParams }) {
  const exp = list(query.get("exp"));
  const chosen = query.get("model");
  return (
    <section aria-labelledby="models-title">
      <h1 id="models-title">Models</h1>
      <RegisteredModels />
      <LoggedModels experimentIds={exp} chosen={chosen} />
    </section>
  );
}

function RegisteredModels() {
  const [text, setText] = useState("");
  const [filter, setFilter] = useState("");
  const models = useAsync(() => api.searchRegisteredModels(filter ? `name ILIKE '%${filter.replace(/'/g, "\\'")}%'` : undefined), [filter]);
  return (
    <section aria-labelledby="registered-title">
      <h2 id="registered-title">Registered models</h2>
      <form
        role="search"
        class="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          setFilter(text);
        }}
      >
        <label>
          Search registered models <input type="search" value={text} onInput={(e) => setText(e.currentTarget.value)} />
        </label>
        <button type="submit">Search</button>
      </form>
      <ErrorBox error={models.error} />
      {models.data ? (
        models.data.length ? (
          <table class="grid" aria-label="Registered models">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Latest version</th>
                <th scope="col">Aliases</th>
                <th scope="col">Tags</th>
                <th scope="col">Last modified</th>
              </tr>
            </thead>
            <tbody>
              {models.data.map((m) => {
                const latest = (m.latest_versions ?? []).reduce<ModelVersion | undefined>(
                  (a, v) => (!a || Number(v.version) > Number(a.version) ? v : a),
                  undefined,
                );
                return (
                  <tr>
                    <td>
                      <Link to={["models", m.name]}>{m.name}</Link>
                    </td>
                    <td>{latest ? `Version ${latest.version}` : ""}</td>
                    <td>
                      {(m.aliases ?? []).map((a) => (
                        <span class="chip">
                          @{a.alias} → v{a.version}
                        </span>
                      ))}
                    </td>
                    <td>
                      {(m.tags ?? []).map((t) => (
                        <span class="chip">
                          {t.key}: {t.value}
                        </span>
                      ))}
                    </td>
                    <td>{dateTime(m.last_updated_timestamp)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        ) : (
          <p class="muted">No registered models.</p>
        )
      ) : models.loading ? (
        <Loading />
      ) : null}
    </section>
  );
}

function LoggedModels({ experimentIds, chosen }: { experimentIds: string[]; chosen: string | null }) {
  const models = useAsync(async () => {
    const ids = experimentIds.length
      ? experimentIds
      : (await api.searchExperiments({ view: "ACTIVE_ONLY" })).items.map((e) => e.experiment_id);
    return ids.length ? api.searchLoggedModels(ids) : [];
  }, [experimentIds.join(",")]);
  const selected = models.data?.find((m) => m.info.model_id === chosen);
  return (
    <section aria-labelledby="logged-title">
      <h2 id="logged-title">
        Logged models
        {experimentIds.length ? (
          <>
            {" of "}
            {experimentIds.map((id, i) => (
              <>
                {i ? ", " : ""}
                <ExperimentLink id={id} />
              </>
            ))}
          </>
        ) : null}
      </h2>
      <ErrorBox error={models.error} />
      {models.loading && !models.data ? <Loading /> : null}
      {models.data && !models.data.length ? <p class="muted">No logged models.</p> : null}
      {models.data && models.data.length ? (
        <table class="grid" aria-label="Logged models">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Model ID</th>
              <th scope="col">Status</th>
              <th scope="col">Source run</th>
              <th scope="col">Type</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {models.data.map((m) => (
              <tr class={m.info.model_id === chosen ? "selected" : ""}>
                <td>
                  <button type="button" class="link" onClick={() => updateQuery({ model: m.info.model_id }, true)}>
                    {m.info.name}
                  </button>
                </td>
                <td class="mono">{m.info.model_id}</td>
                <td>{m.info.status ? <Status status={m.info.status.replace("LOGGED_MODEL_", "")} /> : null}</td>
                <td>{m.info.source_run_id ? <RunLink id={m.info.source_run_id} /> : ""}</td>
                <td>{m.info.model_type ?? ""}</td>
                <td>{dateTime(m.info.creation_timestamp_ms)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {selected ? <LoggedModelDetails model={selected} /> : null}
    </section>
  );
}

function LoggedModelDetails({ model }: { model: LoggedModel }) {
  const { info, data } = model;
  return (
    <div class="card" aria-label={`Logged model ${info.name}`}>
      <h3>
        {info.name} <span class="muted mono">{info.model_id}</span>
      </h3>
      <KeyValues
        label="Logged model details"
        rows={[
          ["Artifact location", <code>{info.artifact_uri ?? ""}</code>],
          ["Experiment", <ExperimentLink id={info.experiment_id} />],
          ["Last updated", dateTime(info.last_updated_timestamp_ms)],
        ]}
      />
      <h4>Parameters</h4>
      <KeyValues label="Model parameters" rows={(data?.params ?? []).map((p) => [p.key, p.value])} empty="No parameters." />
      <h4>Metrics</h4>
      <KeyValues label="Model metrics" rows={(data?.metrics ?? []).map((m) => [m.key, num(m.value)])} empty="No metrics." />
      <h4>Tags</h4>
      <KeyValues label="Model tags" rows={(info.tags ?? []).map((t) => [t.key, t.value])} empty="No tags." />
      <p>
        <Link to={["experiments", info.experiment_id, "models", info.model_id]}>Open the model's page</Link>
      </p>
      <ModelView fileUrl={(p) => api.loggedModelFileUrl(info.model_id, p)} modelUri={`models:/${info.model_id}`} />
    </div>
  );
}

/** Where a version's MLmodel lives among its run's artifacts, when it is there. */
function artifactPathOf(version: ModelVersion, run: Run | undefined): string | undefined {
  const source = version.source ?? "";
  const runsPrefix = `runs:/${version.run_id}/`;
  if (source.startsWith(runsPrefix)) return source.slice(runsPrefix.length).replace(/\/$/, "");
  const root = run?.info.artifact_uri;
  if (root && source.startsWith(`${root}/`)) return source.slice(root.length + 1).replace(/\/$/, "");
  return undefined;
}

export function RegisteredModelPage({ name }: { name: string }) {
  const model = useAsync(() => api.getRegisteredModel(name), [name]);
  const versions = useAsync(() => api.searchModelVersions(`name = '${name.replace(/'/g, "\\'")}'`), [name]);
  const [chosen, setChosen] = useState<string>();
  const [edit, editError] = useEdit(() => {
    model.reload();
    versions.reload();
  });
  if (model.error) return <ErrorBox error={model.error} />;
  if (!model.data) return <Loading />;
  const m = model.data;
  const aliasesOf = (v: string) => (m.aliases ?? []).filter((a) => a.version === v).map((a) => a.alias);
  const sorted = [...(versions.data ?? [])].sort((a, b) => Number(b.version) - Number(a.version));
  const version = sorted.find((v) => v.version === chosen) ?? sorted[0];

  return (
    <AccessScope resource={{ kind: "registered_model", id: m.name }}>
      <section aria-labelledby="rm-title">
        <nav class="crumbs" aria-label="Breadcrumb">
          <Link to={["models"]}>Models</Link> ›
        </nav>
        <h1 id="rm-title">{m.name}</h1>
        <Sharing resource={{ kind: "registered_model", id: m.name }} />
        <ErrorBox error={editError} label="Could not save" />
        <KeyValues
          label="Registered model details"
          rows={[
            [
              "Description",
              <EditableText
                label="Description"
                value={m.description ?? ""}
                onSave={(text) => edit(() => api.updateRegisteredModel(m.name, text))}
              />,
            ],
            ["Created", dateTime(m.creation_timestamp)],
            ["Last modified", dateTime(m.last_updated_timestamp)],
            [
              "Aliases",
              (m.aliases ?? []).map((a) => (
                <RemovableChip removeLabel={`Remove alias @${a.alias}`} onRemove={() => edit(() => api.deleteModelAlias(m.name, a.alias))}>
                  @{a.alias} → v{a.version}
                </RemovableChip>
              )),
            ],
            [
              "Tags",
              <div>
                {(m.tags ?? []).map((t) => (
                  <RemovableChip removeLabel={`Remove tag ${t.key}`} onRemove={() => edit(() => api.deleteRegisteredModelTag(m.name, t.key))}>
                    {t.key}: {t.value}
                  </RemovableChip>
                ))}
                <InlineForm
                  label="Add a tag to the model"
                  fields={["Tag key", "Tag value"]}
                  submit="Add tag"
                  onSubmit={([k, v]) => edit(() => api.setRegisteredModelTag(m.name, k!, v ?? ""))}
                />
              </div>,
            ],
          ]}
        />
        <h2>Versions</h2>
        <ErrorBox error={versions.error} />
        <table class="grid" aria-label="Model versions">
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Aliases</th>
              <th scope="col">Stage</th>
              <th scope="col">Status</th>
              <th scope="col">Source run</th>
              <th scope="col">Tags</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {sorted.map((v) => (
              <tr class={v === version ? "selected" : ""}>
                <td>
                  <button type="button" class="link" onClick={() => setChosen(v.version)} aria-pressed={v === version}>
                    Version {v.version}
                  </button>
                </td>
                <td>{[...new Set([...(v.aliases ?? []), ...aliasesOf(v.version)])].map((a) => <span class="chip">@{a}</span>)}</td>
                <td>{v.current_stage ?? ""}</td>
                <td>{v.status ?? ""}</td>
                <td>{v.run_id ? <RunLink id={v.run_id} /> : ""}</td>
                <td>{(v.tags ?? []).map((t) => <span class="chip">{t.key}: {t.value}</span>)}</td>
                <td>{dateTime(v.creation_timestamp)}</td>
              </tr>
            ))}
          </tbody>
        </table>
        {version ? (
          <VersionDetails
            version={version}
            aliases={[...new Set([...(version.aliases ?? []), ...aliasesOf(version.version)])]}
            edit={edit}
          />
        ) : null}
      </section>
    </AccessScope>
  );
}

function VersionDetails({ version, aliases, edit }: {
  version: ModelVersion;
  aliases: string[];
  edit: (change: () => Promise<unknown>) => Promise<boolean>;
}) {
  const { name, version: number } = version;
  const run = useAsync(() => (version.run_id ? api.getRun(version.run_id) : Promise.resolve(undefined)), [version.run_id]);
  const path = run.data || !version.run_id ? artifactPathOf(version, run.data) : undefined;
  const modelId = version.model_id ?? /^models:\/(m-[^/]+)/.exec(version.source ?? "")?.[1];
  const logged = useAsync(
    () => (modelId && !path ? api.getLoggedModel(modelId) : Promise.resolve(undefined)),
    [modelId, path],
  );
  return (
    <div class="card" aria-label={`Version ${version.version}`}>
      <h3>Version {version.version}</h3>
      <KeyValues
        label="Version details"
        rows={[
          ["Source", <code>{version.source ?? ""}</code>],
          ["Description", version.description ?? ""],
          ["Model ID", version.model_id ?? ""],
          [
            "Aliases",
            <div>
              {aliases.map((a) => (
                <RemovableChip removeLabel={`Remove alias @${a}`} onRemove={() => edit(() => api.deleteModelAlias(name, a))}>
                  @{a}
                </RemovableChip>
              ))}
              <InlineForm
                label={`Set an alias on version ${number}`}
                fields={["Alias"]}
                submit="Set alias"
                onSubmit={([alias]) => edit(() => api.setModelAlias(name, alias!, number))}
              />
            </div>,
          ],
          [
            "Tags",
            <div>
              {(version.tags ?? []).map((t) => (
                <RemovableChip removeLabel={`Remove tag ${t.key}`} onRemove={() => edit(() => api.deleteModelVersionTag(name, number, t.key))}>
                  {t.key}: {t.value}
                </RemovableChip>
              ))}
              <InlineForm
                label={`Add a tag to version ${number}`}
                fields={["Tag key", "Tag value"]}
                submit="Add tag"
                onSubmit={([k, v]) => edit(() => api.setModelVersionTag(name, number, k!, v ?? ""))}
              />
            </div>,
          ],
        ]}
      />
      {version.run_id && path ? (
        <ModelView fileUrl={(p) => api.artifactUrl(version.run_id!, `${path}/${p}`)} modelUri={`models:/${name}/${number}`} />
      ) : logged.data ? (
        <ModelView fileUrl={(p) => api.loggedModelFileUrl(logged.data!.info.model_id, p)} modelUri={`models:/${name}/${number}`} />
      ) : logged.error ? (
        <ErrorBox error={logged.error} />
      ) : null}
    </div>
  );
}
