import { fireEvent, render, screen } from "@testing-library/react";
import { ConfirmButton } from "./ConfirmButton";

describe("ConfirmButton", () => {
  it("asks, naming what happens, and acts only on yes", () => {
    let done = 0;
    render(
      <ConfirmButton question="Delete secret db? Deployments that mount it fail." confirm="Yes, delete" onConfirm={() => (done += 1)} ariaLabel="Delete secret db">
        Delete
      </ConfirmButton>,
    );
    fireEvent.click(screen.getByRole("button", { name: "Delete secret db" }));
    expect(done).toBe(0);
    const ask = screen.getByRole("alertdialog", { name: "Confirm" });
    expect(ask.textContent).toContain("Deployments that mount it fail.");
    fireEvent.click(screen.getByRole("button", { name: "No, keep it" }));
    expect(done).toBe(0);
    expect(screen.queryByRole("alertdialog")).toBeNull();
    fireEvent.click(screen.getByRole("button", { name: "Delete secret db" }));
    fireEvent.click(screen.getByRole("button", { name: "Yes, delete" }));
    expect(done).toBe(1);
  });
});
