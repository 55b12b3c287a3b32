import { useEffect, useState } from "preact/hooks";
import * as api from "../api";
import { ErrorBox, Loading } from "./common";
import { SignatureTables } from "./Signature";

const IMAGE = /\.(png|jpe?g|gif|svg|webp|bmp|ico)$/i;
const HTML = /\.html?$/i;
const CSV = /\.(csv|tsv)$/i;
const JSON_FILE = /\.(json|geojson)$/i;
const YAML_FILE = /\.(ya?ml)$/i;
const LIMIT = 5 * 1024 * 1024;

type Loaded = { text: string; size: number } | { tooLarge: number };

async function fetchText(url: string): Promise<Loaded> {
  const r = await fetch(url);
  if (!r.ok) {
    let message = r.statusText;
    try {
      message = ((await r.json()) as { message?: string }).message ?? message;
    } catch {
      /* not JSON */
    }
    throw new Error(`Could not read the artifact: ${message}`);
  }
  const size = Number(r.headers.get("content-length") ?? "0");
  if (size > LIMIT) return { tooLarge: size };
  return { text: await r.text(), size };
}

/** A preview chosen by the file's name: image, HTML (sandboxed), CSV table, JSON, YAML, MLmodel, text. */
export function Preview({ runId, path, url: given }: { runId?: string; path: string; url?: string }) {
  const url = given ?? api.artifactUrl(runId ?? "", path);
  const name = path.split("/").pop() ?? path;
  const download = (
    <a href={url} download={name}>
      Download {name}
    </a>
  );
  if (IMAGE.test(name)) {
    return (
      <div class="preview" aria-label={`Preview of ${path}`}>
        <div class="preview-head">
          <strong>{path}</strong> {download}
        </div>
        <img src={url} alt={path} class="preview-image" />
      </div>
    );
  }
  return <TextPreview url={url} path={path} name={name} download={download} />;
}

function TextPreview({ url, path, name, download }: { url: string; path: string; name: string; download: preact.JSX.Element }) {
  const [loaded, setLoaded] = useState<Loaded>();
  const [error, setError] = useState<Error>();
  useEffect(() => {
    setLoaded(undefined);
    setError(undefined);
    fetchText(url).then(setLoaded, setError);
  }, [url]);
  let body: preact.JSX.Element;
  if (error) body = <ErrorBox error={error} />;
  else if (!loaded) body = <Loading what="Loading preview" />;
  else if ("tooLarge" in loaded) body = <p class="muted">Too large to preview ({loaded.tooLarge} bytes); download it instead.</p>;
  else if (name === "MLmodel") body = <MLmodelView text={loaded.text} />;
  else if (HTML.test(name)) body = <HtmlPreview text={loaded.text} path={path} />;
  else if (CSV.test(name)) body = <CsvTable text={loaded.text} separator={name.endsWith(".tsv") ? "\t" : ","} />;
  else if (JSON_FILE.test(name)) body = <pre class="code">{prettyJson(loaded.text)}</pre>;
  else if (YAML_FILE.test(name)) body = <pre class="code yaml">{loaded.text}</pre>;
  else if (/\u0000/.test(loaded.text.slice(0, 1000))) body = <p class="muted">A binary file; download it to open it.</p>;
  else body = <pre class="code">{loaded.text}</pre>;
  return (
    <div class="preview" aria-label={`Preview of ${path}`}>
      <div class="preview-head">
        <strong>{path}</strong> {download}
      </div>
      {body}
    </div>
  );
}

/**
 * The policy an HTML artifact is shown under, on top of the page's own (which a srcdoc frame
 * inherits): no scripts, nothing fetched from anywhere, images only as data: URLs.
 */
export const HTML_PREVIEW_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:";

/**
 * An HTML artifact, fetched as text and shown in a frame sandboxed without scripts or
 * same-origin: it gets an opaque origin, so it can neither run code nor reach this page, its
 * cookies or the API. Interactive reports (scripts) are opened by downloading them.
 */
function HtmlPreview({ text, path }: { text: string; path: string }) {
  const policy = `<meta http-equiv="Content-Security-Policy" content="${HTML_PREVIEW_POLICY}">`;
  return <iframe class="preview-html" title={`HTML artifact ${path}`} sandbox="" srcdoc={policy + text} />;
}

function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** RFC 4180 CSV: quoted fields, doubled quotes, newlines inside quotes. */
export function parseCsv(text: string, sep = ",", maxRows = 1000): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === "") quoted = true;
    else if (c === sep) {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      if (rows.length > maxRows) return rows;
    } else field += c;
  }
  if (field !== "" || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

function CsvTable({ text, separator }: { text: string; separator: string }) {
  const rows = parseCsv(text, separator);
  const [head, ...body] = rows;
  if (!head) return <p class="muted">Empty file.</p>;
  return (
    <div class="table-wrap">
      <table class="grid csv" aria-label="CSV preview">
        <thead>
          <tr>
            {head.map((h) => (
              <th scope="col">{h}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {body.slice(0, 1000).map((r) => (
            <tr>
              {r.map((v) => (
                <td>{v}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      {body.length > 1000 ? <p class="muted">First 1,000 rows shown.</p> : null}
    </div>
  );
}

function MLmodelView({ text }: { text: string }) {
  const [doc, setDoc] = useState<Record<string, unknown> | null>();
  useEffect(() => {
    import("yaml").then(
      (yaml) => setDoc((yaml.parse(text) as Record<string, unknown> | null) ?? null),
      () => setDoc(null),
    );
  }, [text]);
  if (doc === undefined) return <Loading />;
  const flavors = doc && typeof doc.flavors === "object" && doc.flavors ? Object.keys(doc.flavors) : [];
  const signature = (doc?.signature ?? undefined) as Record<string, string> | undefined;
  return (
    <div class="mlmodel">
      {flavors.length ? (
        <p>
          Flavors: {flavors.map((f) => <code class="chip">{f}</code>)}
        </p>
      ) : null}
      {doc?.model_id ? <p>Model id: <code>{String(doc.model_id)}</code></p> : null}
      {signature ? <SignatureTables signature={signature} /> : <p class="muted">No signature logged.</p>}
      <details>
        <summary>MLmodel file</summary>
        <pre class="code yaml">{text}</pre>
      </details>
    </div>
  );
}
