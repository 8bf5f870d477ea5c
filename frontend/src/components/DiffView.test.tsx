import { render, screen } from "@testing-library/react";
import { DiffView } from "./DiffView";

describe("DiffView", () => {
  const oldText = Array.from({ length: 20 }, (_, i) => `l${i + 1}`).join("\n");
  const newText = oldText.replace("l10", "L10").replace("l15\n", "");

  it("shows changed lines on both sides with their own line numbers, and context only", () => {
    render(<DiffView oldText={oldText} newText={newText} oldLabel="v1" newLabel="v2" context={1} />);
    const table = screen.getByRole("table", { name: "Differences between v1 and v2" });
    const changed = table.querySelector('tr[data-kind="changed"]');
    expect(changed?.textContent).toContain("10");
    expect(changed?.textContent).toContain("l10");
    expect(changed?.textContent).toContain("L10");
    const removed = table.querySelector('tr[data-kind="removed"]');
    expect(removed?.querySelector("td.old")?.textContent).toBe("removed: l15");
    // Line 1 is far from any change, so it is folded away; lines 9 and 11 are context.
    expect(table.textContent).not.toContain("l1l1");
    expect(table.querySelectorAll('tr[data-kind="same"]')).toHaveLength(4);
    expect(table.querySelectorAll("tr.skip").length).toBeGreaterThan(0);
    expect(screen.getByText("+1")).toBeTruthy();
    expect(screen.getByText("−2")).toBeTruthy();
  });

  it("says when versions are identical", () => {
    render(<DiffView oldText="a" newText="a" oldLabel="v1" newLabel="v1" />);
    expect(screen.getByText(/identical/)).toBeTruthy();
  });
});
