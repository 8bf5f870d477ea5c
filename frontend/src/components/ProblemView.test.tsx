import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { ProblemView } from "./ProblemView";

const problem = {
  title: "Unprocessable content",
  status: 422,
  detail: "No environment named 'prdo'.",
  hint: "Create the environment first.",
  request_id: "3f9c",
  errors: [
    { loc: ["body", "environment"], msg: "No environment named 'prdo'.", type: "unknown_environment" },
    { loc: ["body", "extra"], msg: "Extra inputs are not permitted", type: "extra_forbidden" },
  ],
};

describe("ProblemView", () => {
  it("speaks in words, quotes the request id, and leaves field errors to their fields", () => {
    render(<ProblemView problem={problem} besideFields={["environment"]} />);
    const box = screen.getByRole("alert");
    expect(box.textContent).toContain("Some of what you entered needs attention");
    expect(box.textContent).toContain("request id 3f9c");
    expect(box.textContent).toContain("HTTP 422");
    expect(box.textContent).toContain("See the marked field below.");
    // The error shown beside its field is not repeated; the other one is listed.
    expect(box.querySelectorAll("li")).toHaveLength(1);
    expect(box.textContent).toContain("extra: Extra inputs are not permitted");
  });
});
