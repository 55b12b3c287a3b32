import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { ExperimentKeys } from "../types";

/** A disclosure with a checkbox per param, metric and tag key of the experiments. */
export function ColumnPicker({ keys, chosen, onChange }: {
  keys: ExperimentKeys | undefined;
  chosen: string[];
  onChange: (ids: string[]) => void;
}) {
  const [text, setText] = useState("");
  const ref = useRef<HTMLDetailsElement>(null);
  // Close on Escape or a click outside, as a menu would.
  useEffect(() => {
    const onDown = (e: MouseEvent) => {
      if (ref.current?.open && !ref.current.contains(e.target as Node)) ref.current.open = false;
    };
    document.addEventListener("mousedown", onDown);
    return () => document.removeEventListener("mousedown", onDown);
  }, []);
  const chosenSet = useMemo(() => new Set(chosen), [chosen]);
  const toggle = (id: string) =>
    onChange(chosenSet.has(id) ? chosen.filter((c) => c !== id) : [...chosen, id]);
  const groups: ["params" | "metrics" | "tags", string][] = [
    ["metrics", "Metrics"],
    ["params", "Parameters"],
    ["tags", "Tags"],
  ];
  const needle = text.toLowerCase();
  return (
    <details
      class="picker"
      ref={ref}
      onKeyDown={(e) => {
        if (e.key === "Escape" && ref.current) {
          ref.current.open = false;
          ref.current.querySelector("summary")?.focus();
        }
      }}
    >
      <summary>Columns ({chosen.length})</summary>
      <div class="picker-body">
        <label>
          Find a key <input type="search" value={text} onInput={(e) => setText(e.currentTarget.value)} />
        </label>
        {!keys ? <p class="muted">Loading keys…</p> : null}
        {keys
          ? groups.map(([kind, title]) => {
              const items = keys[kind].filter((k) => !needle || k.toLowerCase().includes(needle));
              if (!items.length) return null;
              return (
                <fieldset>
                  <legend>{title}</legend>
                  {items.slice(0, 300).map((k) => {
                    const id = `${kind}.${k}`;
                    return (
                      <label class="check">
                        <input type="checkbox" checked={chosenSet.has(id)} onChange={() => toggle(id)} /> {k}
                      </label>
                    );
                  })}
                </fieldset>
              );
            })
          : null}
        {chosen.length ? (
          <button type="button" onClick={() => onChange([])}>
            Clear columns
          </button>
        ) : null}
      </div>
    </details>
  );
}
