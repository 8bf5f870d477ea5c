/** Identity changes held from blueprint uploads, and the identity administrator's decision. */
import { call } from "../api/client";
import type { components } from "../api/schema";
import { can } from "../auth/roles";
import { ConfirmButton } from "../components/ConfirmButton";
import { ProblemView } from "../components/ProblemView";
import { useAction, useAsync } from "../components/useAsync";
import { useApp } from "../context";

type Plan = components["schemas"]["IdentityPlanOut"];

const KINDS = [
  ["created", "create"],
  ["updated", "change"],
  ["disabled", "disable"],
] as const;

/** "create erin, finn · disable gus" — what applying the plan does. */
function summary(plan: Plan): string {
  return (
    KINDS.filter(([k]) => plan.changes[k]?.length)
      .map(([k, verb]) => `${verb} ${(plan.changes[k] ?? []).join(", ")}`)
      .join(" · ") || "no account changes"
  );
}

export function IdentityPlans({ env, refresh }: { env: string; refresh: string }) {
  const { api, access, me } = useApp();
  const plans = useAsync(
    () => call(api.GET("/api/v1/environments/{env}/identity-plans", { params: { path: { env } } })),
    `${env}#${refresh}`,
  );
  const act = useAction();
  const decide = (plan: Plan, approve: boolean) =>
    void act.run(async () => {
      await call(
        api.POST("/api/v1/environments/{env}/identity-plans/{plan_id}/decision", {
          params: { path: { env, plan_id: plan.id } },
          body: { approve },
        }),
      );
      plans.reload();
    });
  const pending = (plans.data ?? []).filter((p) => p.status === "pending");
  if (!pending.length && !plans.problem && !act.problem) return null;
  const decider = can(access, "users:write", null);
  return (
    <section className="card" aria-labelledby="idp">
      <h2 id="idp">Identity changes awaiting a decision</h2>
      <p className="muted">
        Accounts, groups and role bindings a blueprint asks for are held until an identity administrator applies them.
      </p>
      <ProblemView problem={plans.problem ?? act.problem} />
      <ul className="plans">
        {pending.map((p) => {
          const own = p.two_person_rule && p.requested_by === me.name;
          return (
            <li key={p.id} data-plan={p.id}>
              <strong>Plan #{p.id}</strong> from v{p.version} by {p.requested_by}: {summary(p)}
              {p.changes.warnings?.length ? <span className="hint"> ({p.changes.warnings.join("; ")})</span> : null}
              {decider && !own ? (
                <span className="actions">
                  {" "}
                  <ConfirmButton
                    className="primary"
                    disabled={act.busy}
                    question={`Apply identity plan #${p.id} (${summary(p)})? Accounts and roles change at once.`}
                    confirm="Yes, apply it"
                    onConfirm={() => decide(p, true)}
                  >
                    Apply
                  </ConfirmButton>{" "}
                  <ConfirmButton
                    className="danger"
                    disabled={act.busy}
                    question={`Reject identity plan #${p.id}? Nothing changes; ${p.requested_by} would have to upload again.`}
                    confirm="Yes, reject it"
                    onConfirm={() => decide(p, false)}
                  >
                    Reject
                  </ConfirmButton>
                </span>
              ) : own ? (
                <span className="muted"> Awaiting someone other than you (two-person rule).</span>
              ) : null}
            </li>
          );
        })}
      </ul>
    </section>
  );
}
