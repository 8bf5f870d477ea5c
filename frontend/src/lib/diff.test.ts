import { diffStats, sideBySide, splitLines } from "./diff";

describe("sideBySide", () => {
  it("keeps identical texts as same rows with both line numbers", () => {
    const rows = sideBySide("a\nb\n", "a\nb\n");
    expect(rows.map((r) => [r.kind, r.oldNo, r.newNo])).toEqual([
      ["same", 1, 1],
      ["same", 2, 2],
    ]);
  });

  it("pairs a replaced line as changed and shifts later line numbers", () => {
    const rows = sideBySide("a\nb\nc\nd\n", "a\nB\nc\nx\nd\n");
    expect(rows.map((r) => [r.kind, r.oldNo, r.oldText, r.newNo, r.newText])).toEqual([
      ["same", 1, "a", 1, "a"],
      ["changed", 2, "b", 2, "B"],
      ["same", 3, "c", 3, "c"],
      ["added", null, "", 4, "x"],
      ["same", 4, "d", 5, "d"],
    ]);
    expect(diffStats(rows)).toEqual({ added: 2, removed: 1 });
  });

  it("reports pure removals and additions on the right side", () => {
    expect(sideBySide("a\nb\n", "a\n").map((r) => r.kind)).toEqual(["same", "removed"]);
    expect(sideBySide("", "x\ny").map((r) => [r.kind, r.newNo])).toEqual([
      ["added", 1],
      ["added", 2],
    ]);
  });

  it("handles CRLF and no trailing newline alike", () => {
    expect(splitLines("a\r\nb")).toEqual(["a", "b"]);
    expect(sideBySide("a\r\nb\r\n", "a\nb").every((r) => r.kind === "same")).toBe(true);
  });

  it("stays fast on large files that differ in one line", () => {
    const big = Array.from({ length: 20000 }, (_, i) => `line ${i}`);
    const changed = [...big];
    changed[10000] = "edited";
    const t0 = performance.now();
    const rows = sideBySide(big.join("\n"), changed.join("\n"));
    expect(performance.now() - t0).toBeLessThan(500);
    expect(rows.filter((r) => r.kind !== "same")).toEqual([
      { kind: "changed", oldNo: 10001, oldText: "line 10000", newNo: 10001, newText: "edited" },
    ]);
  });
});
