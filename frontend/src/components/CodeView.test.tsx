import { render, screen, within } from "@testing-library/react";
import { CodeView } from "./CodeView";

const scrolled = vi.fn();
beforeAll(() => {
  Element.prototype.scrollIntoView = scrolled;
});

describe("CodeView", () => {
  const text = "metadata:\n  name: dc\ndatabases:\n  - name: pg\n    replicas: many\n";

  it("numbers every line and shows each diagnostic right under its line", () => {
    render(
      <CodeView
        label="blueprint"
        text={text}
        diagnostics={[{ line: 5, col: 15, severity: "error", code: "BP001", message: "Input should be a valid integer", pointer: "databases[0].replicas", hint: "use a number" }]}
      />,
    );
    const rows = screen.getByRole("region", { name: "blueprint" }).querySelectorAll("tr");
    expect(rows).toHaveLength(6);
    expect(rows[4]?.getAttribute("data-line")).toBe("5");
    expect(rows[4]?.className).toContain("has-error");
    expect(rows[3]?.className ?? "").not.toContain("has-error");
    const diag = rows[5];
    expect(diag?.getAttribute("data-diag-line")).toBe("5");
    const alert = within(diag as HTMLElement).getByRole("alert");
    expect(alert.textContent).toContain("error[BP001] line 5:15");
    expect(alert.textContent).toContain("databases[0].replicas");
    expect(alert.textContent).toContain("Input should be a valid integer");
    expect(alert.textContent).toContain("hint: use a number");
    expect(scrolled).toHaveBeenCalled();
  });

  it("attaches diagnostics beyond the end to the last line and warnings as notes", () => {
    render(<CodeView label="b" text={"a: 1\nb: 2"} diagnostics={[{ line: 99, severity: "warning", message: "missing key" }]} />);
    const note = screen.getByRole("note");
    expect(note.closest("tr")?.getAttribute("data-diag-line")).toBe("2");
    expect(screen.queryByRole("alert")).toBeNull();
  });
});
