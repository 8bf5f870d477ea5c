import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import type { Api } from "../api/client";
import type { Session } from "../auth/session";
import { AppContext, type AppState, type Me } from "../context";
import { IdentityPlans } from "./IdentityPlans";

const plan = {
  id: 7,
  environment: "prod",
  version: 3,
  status: "pending" as const,
  requested_by: "dana",
  created_at: "2026-11-29T03:00:00Z",
  changes: { created: ["erin", "finn"], updated: [], disabled: ["gus"], not_in_blueprint: [], ignored: [], warnings: [] },
  two_person_rule: true,
};

function mount(me: string) {
  const ok = () => new Response(null, { status: 200 });
  const post = vi.fn(() => Promise.resolve({ data: { ...plan, status: "applied" }, response: ok() }));
  const api = {
    GET: vi.fn(() => Promise.resolve({ data: [plan], response: ok() })),
    POST: post,
  } as unknown as Api;
  const state: AppState = {
    api,
    session: null as unknown as Session, // not used by the component
    apiUrl: "",
    me: { name: me } as Me,
    access: { isAdmin: true, environments: {}, global: ["users:write"] },
    reloadMe: () => Promise.resolve(),
  };
  render(
    <AppContext.Provider value={state}>
      <IdentityPlans env="prod" refresh="1" />
    </AppContext.Provider>,
  );
  return post;
}

describe("IdentityPlans", () => {
  it("shows what a pending plan does and applies it only after the question", async () => {
    const post = mount("root");
    await screen.findByText(/create erin, finn · disable gus/);
    fireEvent.click(screen.getByRole("button", { name: "Apply" }));
    expect(screen.getByRole("alertdialog").textContent).toContain("Apply identity plan #7");
    expect(post).not.toHaveBeenCalled();
    fireEvent.click(screen.getByRole("button", { name: "Yes, apply it" }));
    await waitFor(() => expect(post).toHaveBeenCalledTimes(1));
    expect(post.mock.calls[0]).toMatchObject([
      "/api/v1/environments/{env}/identity-plans/{plan_id}/decision",
      { params: { path: { env: "prod", plan_id: 7 } }, body: { approve: true } },
    ]);
  });

  it("offers no decision to the uploader under the two-person rule", async () => {
    mount("dana");
    await screen.findByText(/Awaiting someone other than you/);
    expect(screen.queryByRole("button", { name: "Apply" })).toBeNull();
    expect(screen.queryByRole("button", { name: "Reject" })).toBeNull();
  });
});
