import { useState, type SyntheticEvent } from "react";
import { call, type Api } from "../api/client";
import { problemOf, type Problem } from "../api/problem";
import type { Session } from "../auth/session";
import { ProblemView } from "../components/ProblemView";

/** Password, then a TOTP (or recovery) code when the account has a second factor. */
export function SignIn({ api, session }: { api: Api; session: Session }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [mfaToken, setMfaToken] = useState<string | null>(null);
  const [code, setCode] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<Problem | null>(null);

  const submit = async (e: SyntheticEvent) => {
    e.preventDefault();
    setBusy(true);
    setProblem(null);
    try {
      if (mfaToken === null) {
        const out = await call(api.POST("/api/v1/auth/login", { body: { username, password } }));
        setPassword("");
        if (out.tokens) session.start(out.tokens);
        else if (out.mfa_required && out.mfa_token) setMfaToken(out.mfa_token);
      } else {
        session.start(await call(api.POST("/api/v1/auth/mfa", { body: { mfa_token: mfaToken, code: code.replace(/\s/g, "") } })));
      }
    } catch (err) {
      setProblem(problemOf(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="signin" id="main">
      <form onSubmit={(e) => void submit(e)} aria-labelledby="signin-title">
        <h1 id="signin-title">Sign in to Attonix</h1>
        {session.endedBecause ? <p className="notice" role="status">{session.endedBecause}</p> : null}
        {mfaToken === null ? (
          <>
            <label>
              User name
              <input name="username" autoComplete="username" required value={username} onChange={(e) => setUsername(e.target.value)} autoFocus />
            </label>
            <label>
              Password
              <input name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
            </label>
          </>
        ) : (
          <>
            <p>Enter the 6-digit code from your authenticator app, or one of your recovery codes.</p>
            <label>
              Authentication code
              <input name="code" inputMode="numeric" autoComplete="one-time-code" required minLength={6} value={code} onChange={(e) => setCode(e.target.value)} autoFocus />
            </label>
          </>
        )}
        <ProblemView problem={problem} />
        <button type="submit" className="primary" disabled={busy}>
          {mfaToken === null ? "Sign in" : "Verify"}
        </button>
        {mfaToken !== null ? (
          <button type="button" className="link" onClick={() => { setMfaToken(null); setCode(""); }}>
            Use another account
          </button>
        ) : null}
      </form>
    </main>
  );
}
