import { describe, expect, it } from "vitest";
import { fieldError, fieldMessage, headline, toProblem } from "./problem";

const refused = toProblem(
  {
    title: "Unprocessable content",
    status: 422,
    detail: "No users named 'ghost', 'nobody'.",
    request_id: "req-1",
    errors: [
      { loc: ["body", "members", "1"], msg: "No user named 'ghost'.", type: "unknown_user" },
      { loc: ["body", "members", "2"], msg: "No user named 'nobody'.", type: "unknown_user" },
      { loc: ["body", "name"], msg: "String should match pattern '^[a-z0-9]$'", type: "string_pattern_mismatch" },
    ],
  },
  422,
);

describe("field errors", () => {
  it("finds the errors at a field and below it, and none elsewhere", () => {
    expect(fieldError(refused, "members")).toBe("No user named 'ghost'. No user named 'nobody'.");
    expect(fieldError(refused, "member")).toBeUndefined();
    expect(fieldError(refused, "description")).toBeUndefined();
    expect(fieldError(null, "members")).toBeUndefined();
  });
  it("says a pattern mismatch in words, never as a regular expression", () => {
    const text = fieldError(refused, "name") ?? "";
    expect(text).toContain("lower-case letters, digits and hyphens");
    expect(text).not.toContain("^[a-z0-9]");
    expect(fieldMessage({ type: "missing", msg: "Field required" })).toBe("Required.");
  });
  it("heads each status with words", () => {
    expect(headline(refused)).toBe("Some of what you entered needs attention");
    expect(headline({ title: "Forbidden", status: 403 })).toBe("You are not allowed to do this");
    expect(headline({ title: "Teapot", status: 418 })).toBe("Teapot");
  });
});
