/** Line diff of two texts (longest common subsequence), shaped for a side-by-side view. */

export type DiffKind = "same" | "removed" | "added" | "changed";

export interface DiffRow {
  kind: DiffKind;
  /** 1-based line number in the old text, or null when the row has no old line. */
  oldNo: number | null;
  oldText: string;
  newNo: number | null;
  newText: string;
}

export function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split(/\r?\n/);
  // A trailing newline ends the last line; it does not start an empty one.
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

// About 16 MB of table: beyond this the texts are mostly unrelated anyway.
const MAX_CELLS = 4_000_000;

type Op = { op: "same" | "del" | "add"; a: number; b: number };

function lcsOps(a: string[], b: string[]): Op[] {
  // Trim the common prefix and suffix first: blueprint versions usually differ in a few lines,
  // so the quadratic table stays small even for files of thousands of lines.
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const n = endA - start;
  const m = endB - start;
  if (n * m > MAX_CELLS) {
    // Too different to align cheaply: show the middle as removed then added.
    const ops: Op[] = [];
    for (let k = 0; k < start; k++) ops.push({ op: "same", a: k, b: k });
    for (let k = start; k < endA; k++) ops.push({ op: "del", a: k, b: -1 });
    for (let k = start; k < endB; k++) ops.push({ op: "add", a: -1, b: k });
    for (let k = 0; k < a.length - endA; k++) ops.push({ op: "same", a: endA + k, b: endB + k });
    return ops;
  }
  const table = new Uint32Array((n + 1) * (m + 1));
  const at = (i: number, j: number) => table[i * (m + 1) + j] ?? 0;
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      table[i * (m + 1) + j] =
        a[start + i] === b[start + j] ? at(i + 1, j + 1) + 1 : Math.max(at(i + 1, j), at(i, j + 1));
    }
  }
  const ops: Op[] = [];
  for (let k = 0; k < start; k++) ops.push({ op: "same", a: k, b: k });
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[start + i] === b[start + j]) {
      ops.push({ op: "same", a: start + i, b: start + j });
      i++;
      j++;
    } else if (j < m && (i >= n || at(i, j + 1) >= at(i + 1, j))) {
      ops.push({ op: "add", a: -1, b: start + j });
      j++;
    } else {
      ops.push({ op: "del", a: start + i, b: -1 });
      i++;
    }
  }
  for (let k = 0; k < a.length - endA; k++) ops.push({ op: "same", a: endA + k, b: endB + k });
  return ops;
}

/** Rows for a side-by-side diff: runs of deletions and additions are paired as "changed". */
export function sideBySide(oldText: string, newText: string): DiffRow[] {
  const a = splitLines(oldText);
  const b = splitLines(newText);
  const rows: DiffRow[] = [];
  const ops = lcsOps(a, b);
  let k = 0;
  while (k < ops.length) {
    const op = ops[k];
    if (op === undefined) break;
    if (op.op === "same") {
      rows.push({ kind: "same", oldNo: op.a + 1, oldText: a[op.a] ?? "", newNo: op.b + 1, newText: b[op.b] ?? "" });
      k++;
      continue;
    }
    const dels: number[] = [];
    const adds: number[] = [];
    while (k < ops.length && ops[k]?.op !== "same") {
      const o = ops[k];
      if (o?.op === "del") dels.push(o.a);
      else if (o) adds.push(o.b);
      k++;
    }
    for (let r = 0; r < Math.max(dels.length, adds.length); r++) {
      const d = dels[r];
      const ad = adds[r];
      rows.push({
        kind: d !== undefined && ad !== undefined ? "changed" : d !== undefined ? "removed" : "added",
        oldNo: d !== undefined ? d + 1 : null,
        oldText: d !== undefined ? (a[d] ?? "") : "",
        newNo: ad !== undefined ? ad + 1 : null,
        newText: ad !== undefined ? (b[ad] ?? "") : "",
      });
    }
  }
  return rows;
}

export function diffStats(rows: DiffRow[]): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (const r of rows) {
    if (r.newNo !== null && r.kind !== "same") added++;
    if (r.oldNo !== null && r.kind !== "same") removed++;
  }
  return { added, removed };
}
