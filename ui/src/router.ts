// Hash routing: `#/path/segments?query`, so every view (columns, filter, sort, selection) can be
// bookmarked and shared, and the server only ever serves index.html.
import { useEffect, useState } from "preact/hooks";

export interface Route {
  parts: string[];
  query: URLSearchParams;
}

export function parseHash(hash: string = window.location.hash): Route {
  const raw = hash.replace(/^#/, "");
  const q = raw.indexOf("?");
  const path = q >= 0 ? raw.slice(0, q) : raw;
  const query = new URLSearchParams(q >= 0 ? raw.slice(q + 1) : "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, query };
}

export type QueryInit = Record<string, string | undefined | null>;

export function href(parts: string[], query: QueryInit = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  return `#/${parts.map(encodeURIComponent).join("/")}${s ? `?${s}` : ""}`;
}

export function navigate(parts: string[], query: QueryInit = {}, replace = false): void {
  const target = href(parts, query);
  if (replace) {
    window.history.replaceState(null, "", target);
    window.dispatchEvent(new HashChangeEvent("hashchange"));
  } else {
    window.location.hash = target;
  }
}

/** Update some query keys of the current route (keeping the others). */
export function updateQuery(changes: QueryInit, replace = false): void {
  const { parts, query } = parseHash();
  const merged: QueryInit = Object.fromEntries(query.entries());
  Object.assign(merged, changes);
  navigate(parts, merged, replace);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(parseHash);
  useEffect(() => {
    const on = () => setRoute(parseHash());
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}

export const list = (value: string | null): string[] => (value ? value.split(",").filter(Boolean) : []);
