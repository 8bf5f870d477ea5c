import { Fragment, useEffect, useRef } from "react";
import { splitLines } from "../lib/diff";

export interface Diagnostic {
  line: number;
  col?: number | null;
  severity: string;
  code?: string | null;
  message: string;
  pointer?: string | null;
  hint?: string | null;
}

interface Props {
  text: string;
  diagnostics?: readonly Diagnostic[];
  /** Line to scroll into view and highlight (for links from findings). */
  focusLine?: number | null;
  label: string;
}

/** A read-only, line-numbered view of a file with each diagnostic shown under its line. */
export function CodeView({ text, diagnostics = [], focusLine = null, label }: Props) {
  const lines = splitLines(text);
  const byLine = new Map<number, Diagnostic[]>();
  for (const d of diagnostics) {
    // Diagnostics past the end (e.g. "missing key" at EOF) attach to the last line.
    const at = Math.min(Math.max(1, d.line), Math.max(1, lines.length));
    byLine.set(at, [...(byLine.get(at) ?? []), d]);
  }
  const focusRef = useRef<HTMLTableRowElement>(null);
  const firstProblem = Math.min(...byLine.keys());
  const target = focusLine ?? (Number.isFinite(firstProblem) ? firstProblem : null);
  useEffect(() => {
    focusRef.current?.scrollIntoView({ block: "center" });
  }, [target]);
  return (
    <div className="code" role="region" aria-label={label} tabIndex={0}>
      <table>
        <tbody>
          {lines.map((content, i) => {
            const n = i + 1;
            const ds = byLine.get(n) ?? [];
            const sev = ds.some((d) => d.severity === "error") ? "error" : ds.length ? "warning" : "";
            return (
              <Fragment key={n}>
                <tr
                  ref={n === target ? focusRef : undefined}
                  className={[sev && `has-${sev}`, n === focusLine ? "focus" : ""].filter(Boolean).join(" ") || undefined}
                  data-line={n}
                >
                  <td className="ln" aria-hidden="true">{n}</td>
                  <td className="src">
                    {sev ? <span className="visually-hidden">{`line ${n}, ${sev}: `}</span> : null}
                    <code>{content || " "}</code>
                  </td>
                </tr>
                {ds.map((d, k) => (
                  <tr key={`${n}-d${k}`} className={`diag diag-${d.severity === "error" ? "error" : "warning"}`} data-diag-line={n}>
                    <td className="ln" aria-hidden="true" />
                    <td>
                      <div role={d.severity === "error" ? "alert" : "note"}>
                        <strong>
                          {d.severity}
                          {d.code ? `[${d.code}]` : ""}
                        </strong>{" "}
                        {`line ${d.line}${d.col ? `:${d.col}` : ""}`}
                        {d.pointer ? <> · <code>{d.pointer}</code></> : null}: {d.message}
                        {d.hint ? <div className="hint">hint: {d.hint}</div> : null}
                      </div>
                    </td>
                  </tr>
                ))}
              </Fragment>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
