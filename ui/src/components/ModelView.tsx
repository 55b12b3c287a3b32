// A model as its users need it: flavor, signature, input example, requirements and the lines
// that load it. The files are read through whichever URL the caller gives (a logged model's
// files endpoint, or a run's artifacts), so it works whatever the server's artifact root.
import { useEffect, useState } from "preact/hooks";
import { ErrorBox, KeyValues, Loading } from "./common";
import { SignatureTables } from "./Signature";

type MLmodel = Record<string, unknown> & {
  flavors?: Record<string, Record<string, unknown>>;
  signature?: Record<string, unknown>;
  saved_input_example_info?: { artifact_path?: string };
};

/** The text of a file, `null` when the model has none, an Error when it could not be read. */
function useFile(url: string | undefined): string | null | undefined | Error {
  const [text, setText] = useState<string | null | Error>();
  useEffect(() => {
    setText(undefined);
    if (!url) return void setText(null);
    // A missing file (404) is a model without it; anything else is shown as an error.
    fetch(url)
      .then(async (r) => {
        if (r.status === 404) return null;
        if (!r.ok) {
          const body = (await r.json().catch(() => ({}))) as { message?: string };
          throw new Error(`Could not read the model's files: ${body.message ?? r.statusText}`);
        }
        return r.text();
      })
      .then(setText, setText);
  }, [url]);
  return text;
}

/** The flavor a user loads natively (sklearn, xgboost, ...), beside the generic pyfunc one. */
export function mainFlavor(doc: MLmodel | undefined): string | undefined {
  const names = Object.keys(doc?.flavors ?? {});
  return names.find((f) => f !== "python_function") ?? names[0];
}

export function ModelView({ fileUrl, modelUri }: {
  /** The URL of a file of the model, by its path inside the model's folder. */
  fileUrl: (path: string) => string;
  /** What `mlflow.pyfunc.load_model` takes for it: `models:/m-...`, `models:/name/1`, `runs:/...`. */
  modelUri: string;
}) {
  const mlmodelUrl = fileUrl("MLmodel");
  const mlmodel = useFile(mlmodelUrl);
  const [doc, setDoc] = useState<MLmodel | null>();
  useEffect(() => {
    setDoc(undefined);
    if (typeof mlmodel !== "string") return;
    import("yaml").then(
      (yaml) => setDoc((yaml.parse(mlmodel) as MLmodel | null) ?? null),
      () => setDoc(null),
    );
  }, [mlmodel]);
  const examplePath = doc?.saved_input_example_info?.artifact_path;
  const example = useFile(examplePath ? fileUrl(examplePath) : undefined);
  const requirements = useFile(doc ? fileUrl("requirements.txt") : undefined);

  if (mlmodel instanceof Error) return <ErrorBox error={mlmodel} />;
  if (mlmodel === null) return <p class="muted">No MLmodel file: these files are not a model in MLflow's format.</p>;
  if (mlmodel === undefined || doc === undefined) return <Loading what="Reading the model" />;
  const flavor = mainFlavor(doc ?? undefined);
  const flavorInfo = flavor ? doc?.flavors?.[flavor] : undefined;
  const version = flavorInfo ? Object.entries(flavorInfo).find(([k]) => k.endsWith("_version") && k !== "pickled_model_version") : undefined;
  const pyfunc = Boolean(doc?.flavors?.python_function);
  const load = [
    "import mlflow",
    "",
    pyfunc ? `model = mlflow.pyfunc.load_model("${modelUri}")` : `model = mlflow.${flavor ?? "pyfunc"}.load_model("${modelUri}")`,
    pyfunc ? "predictions = model.predict(data)" : "",
  ]
    .filter((line, i, all) => line || i < all.length - 1)
    .join("\n");
  return (
    <div class="model-view" aria-label="Model">
      <KeyValues
        label="Model summary"
        rows={[
          ["Flavor", flavor ? <span><code>{flavor}</code>{version ? <span class="muted"> {String(version[1])}</span> : null}</span> : "unknown"],
          ["Other flavors", Object.keys(doc?.flavors ?? {}).filter((f) => f !== flavor).map((f) => <code class="chip">{f}</code>)],
          ["MLflow version", String(doc?.mlflow_version ?? "")],
          ["Created", String(doc?.utc_time_created ?? "")],
        ].filter(([, v]) => v !== "" && !(Array.isArray(v) && v.length === 0)) as [string, preact.ComponentChildren][]}
      />
      {doc?.signature ? <SignatureTables signature={doc.signature} /> : <p class="muted">No signature logged with this model.</p>}
      <h3>Input example</h3>
      {example instanceof Error ? (
        <ErrorBox error={example} />
      ) : typeof example === "string" ? (
        <InputExample text={example} />
      ) : examplePath && example === undefined ? (
        <Loading />
      ) : (
        <p class="muted">No input example logged.</p>
      )}
      <h3>Requirements</h3>
      {requirements instanceof Error ? (
        <ErrorBox error={requirements} />
      ) : typeof requirements === "string" ? (
        <pre class="code" aria-label="Requirements">{requirements.trim()}</pre>
      ) : requirements === null ? (
        <p class="muted">No requirements.txt.</p>
      ) : (
        <Loading />
      )}
      <h3>Use it</h3>
      <pre class="code" aria-label="Code to load the model">{load}</pre>
      <details>
        <summary>MLmodel file</summary>
        <pre class="code yaml">{mlmodel}</pre>
      </details>
    </div>
  );
}

/** MLflow's saved example: `{columns, data}` (a DataFrame) as a table, anything else as JSON. */
function InputExample({ text }: { text: string }) {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return <pre class="code">{text}</pre>;
  }
  const frame = value as { columns?: unknown[]; data?: unknown[][] };
  const rows = Array.isArray(frame?.data) ? frame.data : Array.isArray(value) && value.every(Array.isArray) ? (value as unknown[][]) : undefined;
  if (rows && rows.length && rows.length <= 100) {
    const width = Math.max(...rows.map((r) => (Array.isArray(r) ? r.length : 1)));
    const columns = Array.isArray(frame?.columns) ? frame.columns.map(String) : Array.from({ length: width }, (_, i) => String(i));
    return (
      <div class="table-wrap">
        <table class="grid" aria-label="Input example">
          <thead>
            <tr>{columns.map((c) => <th scope="col">{c}</th>)}</tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr>{(Array.isArray(r) ? r : [r]).map((v) => <td class="mono">{typeof v === "string" ? v : JSON.stringify(v)}</td>)}</tr>
            ))}
          </tbody>
        </table>
      </div>
    );
  }
  return <pre class="code">{JSON.stringify(value, null, 2)}</pre>;
}
