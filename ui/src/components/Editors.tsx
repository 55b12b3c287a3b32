// Small editing controls for registry entries: removable chips, a key/value form, a text field.
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { useAccess } from "../access";
import { ErrorBox } from "./common";

/** Runs an edit, then `done`; a failure is kept to show beside the control. */
export function useEdit(done: () => void): [(edit: () => Promise<unknown>) => Promise<boolean>, Error | undefined] {
  const [error, setError] = useState<Error>();
  const run = async (edit: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await edit();
    } catch (e) {
      setError(e as Error);
      return false;
    }
    done();
    return true;
  };
  return [run, error];
}

export function RemovableChip({ children, removeLabel, onRemove }: {
  children: ComponentChildren;
  removeLabel: string;
  onRemove: () => void;
}) {
  if (!useAccess().canUpdate) return <span class="chip">{children}</span>;
  return (
    <span class="chip">
      {children}
      <button type="button" class="chip-remove" aria-label={removeLabel} title={removeLabel} onClick={onRemove}>
        ×
      </button>
    </span>
  );
}

/** One or two labelled inputs and a submit button; cleared after a successful submit. */
export function InlineForm({ label, fields, submit, onSubmit }: {
  label: string;
  fields: string[];
  submit: string;
  onSubmit: (values: string[]) => Promise<boolean>;
}) {
  const [values, setValues] = useState<string[]>(fields.map(() => ""));
  if (!useAccess().canUpdate) return null;
  return (
    <form
      class="inline-form"
      aria-label={label}
      onSubmit={async (e) => {
        e.preventDefault();
        if (!values[0]?.trim()) return;
        if (await onSubmit(values.map((v, i) => (i === 0 ? v.trim() : v)))) setValues(fields.map(() => ""));
      }}
    >
      {fields.map((f, i) => (
        <input
          aria-label={f}
          placeholder={f}
          value={values[i]}
          onInput={(e) => setValues(values.map((v, j) => (j === i ? e.currentTarget.value : v)))}
        />
      ))}
      <button type="submit">{submit}</button>
    </form>
  );
}

/** A text shown as such, with an edit button that turns it into a textarea; when empty, only
 * an "Add a ..." button (no placeholder word that reads like content). */
export function EditableText({ label, value, onSave, error, empty }: {
  label: string;
  value: string;
  empty?: string;
  onSave: (text: string) => Promise<boolean>;
  error?: Error;
}) {
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(value);
  const { canUpdate } = useAccess();
  if (!editing || !canUpdate) {
    return (
      <div>
        {value ? <p class="description">{value}</p> : empty ? <p class="muted">{empty}</p> : null}
        {canUpdate && (
          <button
            type="button"
            onClick={() => {
              setText(value);
              setEditing(true);
            }}
          >
            {value ? "Edit" : "Add a"} {label.toLowerCase()}
          </button>
        )}
      </div>
    );
  }
  return (
    <form
      onSubmit={async (e) => {
        e.preventDefault();
        if (await onSave(text)) setEditing(false);
      }}
    >
      <textarea aria-label={label} rows={3} value={text} onInput={(e) => setText(e.currentTarget.value)} />
      <div class="toolbar">
        <button type="submit">Save {label.toLowerCase()}</button>
        <button type="button" onClick={() => setEditing(false)}>
          Cancel
        </button>
      </div>
      <ErrorBox error={error} />
    </form>
  );
}
