// A model signature (MLflow's JSON column specs inside the MLmodel file) as tables.

interface ColSpec {
  name?: string;
  type?: string;
  required?: boolean;
  "tensor-spec"?: { dtype?: string; shape?: number[] };
  default?: unknown;
  shape?: number[];
}

function parseSpec(raw: unknown): ColSpec[] | undefined {
  if (!raw) return undefined;
  try {
    const v = typeof raw === "string" ? (JSON.parse(raw) as unknown) : raw;
    return Array.isArray(v) ? (v as ColSpec[]) : undefined;
  } catch {
    return undefined;
  }
}

function typeOf(c: ColSpec): string {
  if (c.type === "tensor" && c["tensor-spec"]) {
    return `tensor ${c["tensor-spec"].dtype ?? ""} [${(c["tensor-spec"].shape ?? []).join(", ")}]`;
  }
  return c.type ?? "";
}

export function SignatureTables({ signature }: { signature: Record<string, unknown> }) {
  const parts: [string, string][] = [
    ["inputs", "Inputs"],
    ["outputs", "Outputs"],
    ["params", "Parameters"],
  ];
  return (
    <div class="signature">
      <h3>Signature</h3>
      {parts.map(([key, title]) => {
        const spec = parseSpec(signature[key]);
        if (!spec) return null;
        return (
          <table class="grid" aria-label={`Signature ${key}`}>
            <caption>{title}</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Type</th>
                <th scope="col">Required</th>
                {key === "params" ? <th scope="col">Default</th> : null}
              </tr>
            </thead>
            <tbody>
              {spec.map((c, i) => (
                <tr>
                  <td class="mono">{c.name ?? `(${i})`}</td>
                  <td class="mono">{typeOf(c)}</td>
                  <td>{c.required === false ? "no" : "yes"}</td>
                  {key === "params" ? <td class="mono">{JSON.stringify(c.default)}</td> : null}
                </tr>
              ))}
            </tbody>
          </table>
        );
      })}
    </div>
  );
}
