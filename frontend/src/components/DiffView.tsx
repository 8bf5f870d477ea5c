import { useMemo } from "react";
import { diffStats, sideBySide } from "../lib/diff";

interface Props {
  oldText: string;
  newText: string;
  oldLabel: string;
  newLabel: string;
  /** Show only changed rows with this many lines of context (null: everything). */
  context?: number | null;
}

/** Side-by-side diff of two texts, changes coloured and marked for screen readers. */
export function DiffView({ oldText, newText, oldLabel, newLabel, context = 3 }: Props) {
  const rows = useMemo(() => sideBySide(oldText, newText), [oldText, newText]);
  const stats = diffStats(rows);
  const keep = rows.map((r, i) => {
    if (context === null || r.kind !== "same") return true;
    for (let k = Math.max(0, i - context); k <= Math.min(rows.length - 1, i + context); k++) {
      if (rows[k]?.kind !== "same") return true;
    }
    return false;
  });
  const mark = { same: "", removed: "−", added: "+", changed: "~" } as const;
  return (
    // Scrolls sideways on narrow screens: a tab stop lets keyboard users scroll it too.
    <div className="diff" tabIndex={0}>
      <p className="diff-stats">
        <span className="added">+{stats.added}</span> <span className="removed">−{stats.removed}</span>{" "}
        {stats.added + stats.removed === 0 ? "The two versions are identical." : "lines changed"}
      </p>
      <table aria-label={`Differences between ${oldLabel} and ${newLabel}`}>
        <thead>
          <tr>
            <th scope="col" colSpan={2}>{oldLabel}</th>
            <th scope="col" colSpan={2}>{newLabel}</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => {
            if (!keep[i]) {
              return keep[i - 1] ? (
                <tr key={i} className="skip"><td colSpan={4}>⋯</td></tr>
              ) : null;
            }
            return (
              <tr key={i} className={`d-${r.kind}`} data-kind={r.kind}>
                <td className="ln">{r.oldNo ?? ""}</td>
                <td className={r.oldNo !== null && r.kind !== "same" ? "old" : ""}>
                  {r.kind !== "same" && r.oldNo !== null ? <span className="visually-hidden">removed: </span> : null}
                  <code>{r.oldText}</code>
                </td>
                <td className="ln">{r.newNo ?? ""}</td>
                <td className={r.newNo !== null && r.kind !== "same" ? "new" : ""}>
                  {r.kind !== "same" && r.newNo !== null ? <span className="visually-hidden">added: </span> : null}
                  <span className="mark" aria-hidden="true">{mark[r.kind]}</span>
                  <code>{r.newText}</code>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
