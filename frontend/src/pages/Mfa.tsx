import { useState, type SyntheticEvent } from "react";
import { call } from "../api/client";
import type { components } from "../api/schema";
import { fieldError } from "../api/problem";
import { Field } from "../components/Field";
import { ProblemView } from "../components/ProblemView";
import { useAction } from "../components/useAsync";
import type { Api } from "../api/client";
import { CopyButton, DownloadButton } from "../components/CopyButton";

type Enrolment = components["schemas"]["MfaEnrollOut"];

/** Enrol an authenticator: QR code and secret, confirm with a code, recovery codes once. */
export function MfaEnrolment({ api, onDone }: { api: Api; onDone: () => void }) {
  const [enrolment, setEnrolment] = useState<Enrolment | null>(null);
  const [code, setCode] = useState("");
  const [recovery, setRecovery] = useState<string[] | null>(null);
  const { busy, problem, run } = useAction();

  const start = () =>
    void run(async () => {
      setEnrolment(await call(api.POST("/api/v1/me/mfa/enroll")));
    });
  const confirm = (e: SyntheticEvent) => {
    e.preventDefault();
    void run(async () => {
      const out = await call(api.POST("/api/v1/me/mfa/confirm", { body: { code: code.replace(/\s/g, "") } }));
      setRecovery(out.recovery_codes);
      setEnrolment(null);
    });
  };

  if (recovery) {
    return (
      <section aria-labelledby="rc-title" className="card">
        <h2 id="rc-title">Recovery codes</h2>
        <p className="notice">
          Two-factor authentication is on. Store these codes somewhere safe now: each signs you in once if you lose your
          authenticator, and they will not be shown again.
        </p>
        <ul className="codes" aria-label="Recovery codes">
          {recovery.map((c) => (
            <li key={c}>
              <code>{c}</code>
            </li>
          ))}
        </ul>
        <p>
          <CopyButton text={recovery.join("\n")} label="Copy codes" />{" "}
          <DownloadButton text={recovery.join("\n") + "\n"} filename="attonix-recovery-codes.txt" label="Download codes" />
        </p>
        <button className="primary" onClick={onDone}>
          I have stored them
        </button>
      </section>
    );
  }
  return (
    <section aria-labelledby="mfa-title" className="card">
      <h2 id="mfa-title">Two-factor authentication</h2>
      {!enrolment ? (
        <>
          <p>Protect your account with a time-based code from an authenticator app.</p>
          <button className="primary" onClick={start} disabled={busy}>
            Set up an authenticator
          </button>
        </>
      ) : (
        <form onSubmit={confirm} className="mfa-enrol">
          <img
            className="qr"
            alt="QR code to scan with an authenticator app"
            src={`data:image/svg+xml;charset=utf-8,${encodeURIComponent(enrolment.qr_svg)}`}
            width={200}
            height={200}
          />
          <div>
            <p>Scan the code, or type this secret into your app:</p>
            <p>
              <code className="secret" data-testid="mfa-secret">{enrolment.secret}</code>
            </p>
            <label>
              Code from the app
              <input name="code" inputMode="numeric" autoComplete="one-time-code" required minLength={6} value={code} onChange={(e) => setCode(e.target.value)} />
            </label>
            <button className="primary" type="submit" disabled={busy}>
              Turn on two-factor authentication
            </button>
          </div>
        </form>
      )}
      <ProblemView problem={problem} />
    </section>
  );
}

/** Change the password (also the first step for accounts created with a one-time password). */
export function PasswordChange({
  api,
  onDone,
  rules,
  title = "Change password",
}: {
  api: Api;
  onDone: () => void;
  /** The server's password rules, shown before the first attempt. */
  rules: string[];
  title?: string;
}) {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [repeat, setRepeat] = useState("");
  const [done, setDone] = useState(false);
  const { busy, problem, run, setProblem } = useAction();
  const submit = (e: SyntheticEvent) => {
    e.preventDefault();
    if (next !== repeat) {
      setProblem({
        title: "The new passwords differ",
        status: 0,
        errors: [{ loc: ["body", "repeat"], msg: "Type the same new password twice.", type: "mismatch" }],
      });
      return;
    }
    void run(async () => {
      await call(api.POST("/api/v1/me/password", { body: { current_password: current, new_password: next, keep_current_session: true } }));
      setCurrent("");
      setNext("");
      setRepeat("");
      setDone(true);
      onDone();
    });
  };
  return (
    <form className="card" onSubmit={submit} aria-labelledby="pw-title">
      <h2 id="pw-title">{title}</h2>
      <Field label="Current password" error={fieldError(problem, "current_password")}>
        {(c) => <input {...c} type="password" autoComplete="current-password" required value={current} onChange={(e) => setCurrent(e.target.value)} />}
      </Field>
      <Field
        label="New password"
        error={fieldError(problem, "new_password")}
        help={
          <ul className="rules" aria-label="Password rules">
            {rules.map((r) => <li key={r}>{r}</li>)}
          </ul>
        }
      >
        {(c) => <input {...c} type="password" autoComplete="new-password" required value={next} onChange={(e) => setNext(e.target.value)} />}
      </Field>
      <Field label="Repeat the new password" error={fieldError(problem, "repeat")}>
        {(c) => <input {...c} type="password" autoComplete="new-password" required value={repeat} onChange={(e) => setRepeat(e.target.value)} />}
      </Field>
      <ProblemView problem={problem} besideFields={["current_password", "new_password", "repeat"]} />
      {done ? <p role="status">Password changed.</p> : null}
      <button className="primary" type="submit" disabled={busy}>
        Change password
      </button>
    </form>
  );
}
