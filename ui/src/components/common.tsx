import type { ComponentChildren } from "preact";
import { href } from "../router";

export function ErrorBox({ error, label }: { error: Error | string | undefined; label?: string }) {
  if (!error) return null;
  return (
    <div class="error" role="alert" aria-label={label}>
      {typeof error === "string" ? error : error.message}
    </div>
  );
}

export const Loading = ({ what = "Loading" }: { what?: string }) => (
  <div class="loading" role="status">
    {what}…
  </div>
);

export function Link({ to, query, children, ...rest }: {
  to: string[];
  query?: Record<string, string | undefined>;
  children: ComponentChildren;
  class?: string;
  title?: string;
}) {
  return (
    <a href={href(to, query)} {...rest}>
      {children}
    </a>
  );
}

export function Tabs<T extends string>({ tabs, current, onChange, label }: {
  tabs: [T, string][];
  current: T;
  onChange: (tab: T) => void;
  label: string;
}) {
  return (
    <div class="tabs" role="tablist" aria-label={label}>
      {tabs.map(([id, title]) => (
        <button
          type="button"
          role="tab"
          aria-selected={id === current}
          class={id === current ? "tab active" : "tab"}
          onClick={() => onChange(id)}
        >
          {title}
        </button>
      ))}
    </div>
  );
}

/** A two-column table of key/value pairs. */
export function KeyValues({ rows, label, empty = "None" }: {
  rows: [ComponentChildren, ComponentChildren][];
  label: string;
  empty?: string;
}) {
  if (!rows.length) return <p class="muted">{empty}</p>;
  return (
    <table class="kv" aria-label={label}>
      <tbody>
        {rows.map(([k, v]) => (
          <tr>
            <th scope="row">{k}</th>
            <td>{v}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Status({ status }: { status: string }) {
  return <span class={`status status-${status.toLowerCase()}`}>{status}</span>;
}
