import { useCallback, useEffect, useState, useSyncExternalStore } from "react";
import { call, type Api } from "./api/client";
import { problemOf, type Problem } from "./api/problem";
import { can, environmentsOf } from "./auth/roles";
import type { Session } from "./auth/session";
import { ProblemView } from "./components/ProblemView";
import { AppContext, accessOf, useApp, type Me } from "./context";
import { Account } from "./pages/Account";
import { Audit, Bindings, Groups, Users } from "./pages/Admin";
import { EnvPage } from "./pages/Env";
import { Environments } from "./pages/Environments";
import { MfaEnrolment, PasswordChange } from "./pages/Mfa";
import { SignIn } from "./pages/SignIn";
import { Link, match, navigate, useLocation } from "./router";

interface Props {
  api: Api;
  session: Session;
  apiUrl: string;
}

/** Sign-in gate, then the signed-in console. */
export function App({ api, session, apiUrl }: Props) {
  const signedIn = useSyncExternalStore(
    (fn) => session.subscribe(fn),
    () => session.signedIn,
  );
  const [restoring, setRestoring] = useState(true);
  useEffect(() => {
    void session.restore().finally(() => {
      setRestoring(false);
    });
  }, [session]);
  if (restoring && !signedIn) return <p className="loading" role="status">Loading…</p>;
  if (!signedIn) return <SignInAndReturn api={api} session={session} />;
  return <SignedIn api={api} session={session} apiUrl={apiUrl} />;
}

const RETURN_KEY = "attonix.return-to";

/**
 * The sign-in page, remembering the page that was asked for (a deep link opened while signed
 * out, or the page a session ended on) so that signing in lands there and not on the start page.
 */
function SignInAndReturn({ api, session }: { api: Api; session: Session }) {
  const { path, query } = useLocation();
  useEffect(() => {
    if (path !== "/") sessionStorage.setItem(RETURN_KEY, path + (query.size ? `?${query.toString()}` : ""));
  }, [path, query]);
  return <SignIn api={api} session={session} />;
}

/** Where to go after signing in: the remembered page (once), if it is one of the console's. */
function takeReturnPath(): string | null {
  const to = sessionStorage.getItem(RETURN_KEY);
  sessionStorage.removeItem(RETURN_KEY);
  return to && to.startsWith("/") && !to.startsWith("//") ? to : null;
}

function SignedIn({ api, session, apiUrl }: Props) {
  const [me, setMe] = useState<Me | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  const reloadMe = useCallback(async () => {
    try {
      setMe(await call(api.GET("/api/v1/me")));
    } catch (err) {
      setProblem(problemOf(err));
    }
  }, [api]);
  useEffect(() => {
    const to = takeReturnPath();
    const here = window.location.pathname + window.location.search;
    if (to && to !== here) navigate(to, true);
  }, []);
  useEffect(() => {
    call(api.GET("/api/v1/me")).then(setMe, (err: unknown) => {
      setProblem(problemOf(err));
    });
  }, [api]);
  if (!me) {
    return problem ? <main className="signin"><ProblemView problem={problem} /></main> : <p className="loading" role="status">Loading…</p>;
  }
  const state = { api, session, apiUrl, me, access: accessOf(me), reloadMe };
  return (
    <AppContext.Provider value={state}>
      {me.restricted ? <Restricted /> : <Shell />}
    </AppContext.Provider>
  );
}

/** Accounts that must change a one-time password or enrol MFA before anything else. */
function Restricted() {
  const { me, api, session, reloadMe } = useApp();
  const after = async () => {
    // The restriction is part of the token; a fresh session lifts it.
    await session.refresh();
    await reloadMe();
  };
  return (
    <main className="signin" id="main">
      <div className="narrow">
        <h1>One more step, {me.name}</h1>
        {me.restricted === "password_change" ? (
          <PasswordChange api={api} rules={me.password_rules ?? []} onDone={() => void after()} title="Choose your own password" />
        ) : (
          <>
            <p className="notice">Your role requires two-factor authentication. Set it up to continue.</p>
            <MfaEnrolment api={api} onDone={() => void after()} />
          </>
        )}
        <SignOutButtons />
      </div>
    </main>
  );
}

function SignOutButtons() {
  const { api, session } = useApp();
  const out = async (everywhere: boolean) => {
    try {
      await call(api.POST(everywhere ? "/api/v1/auth/logout-all" : "/api/v1/auth/logout"));
    } finally {
      session.end(everywhere ? "You have been signed out on every device." : "You have been signed out.");
      navigate("/", true);
    }
  };
  return (
    <div className="signout">
      <button onClick={() => void out(false)}>Sign out</button>
      <button onClick={() => void out(true)}>Sign out everywhere</button>
    </div>
  );
}

const ENV_PAGES = [
  ["overview", "Overview"],
  ["blueprints", "Blueprints"],
  ["findings", "Findings"],
  ["deployments", "Deployments"],
  ["secrets", "Secrets"],
  ["connections", "Connections"],
] as const;

function Shell() {
  const { me, access } = useApp();
  const { path } = useLocation();
  const envs = environmentsOf(access);
  const envParams = match("/envs/:env/:page", path);
  // An environment in the URL that the reader has no role in (or that does not exist) selects
  // nothing: the selector says so instead of showing another environment's name.
  const unknownEnv = envParams && !envs.includes(envParams.env ?? "") ? (envParams.env ?? "") : null;
  const env = unknownEnv !== null ? null : (envParams?.env ?? envs[0] ?? null);
  useEffect(() => {
    if (path === "/" && envs[0]) navigate(`/envs/${encodeURIComponent(envs[0])}/overview`, true);
  }, [path, envs]);
  const nav = (to: string, label: string) => (
    <li key={to}>
      <Link to={to} aria-current={path === to ? "page" : undefined}>{label}</Link>
    </li>
  );
  return (
    <div className="shell">
      <a href="#main" className="skip-link">Skip to content</a>
      <header className="top">
        <span className="brand">Attonix</span>
        {envs.length > 0 ? (
          <label className="env-select">
            Current environment
            <select aria-label="Current environment" value={env ?? ""} onChange={(e) => navigate(`/envs/${encodeURIComponent(e.target.value)}/${envParams?.page ?? "overview"}`)}>
              {env === null ? <option value="" disabled>Choose…</option> : null}
              {envs.map((e) => <option key={e}>{e}</option>)}
            </select>
          </label>
        ) : null}
        <span className="who">
          <Link to="/account">{me.name}</Link>
          {env ? <span className="muted"> · {access.environments[env]?.roles.join(", ")}</span> : null}
        </span>
        <SignOutButtons />
      </header>
      <nav aria-label="Main" className="side">
        {unknownEnv !== null ? null : env ? (
          <>
            <h2>{env}</h2>
            <ul>{ENV_PAGES.map(([p, label]) => nav(`/envs/${encodeURIComponent(env)}/${p}`, label))}</ul>
          </>
        ) : (
          <p className="muted">No environments yet.</p>
        )}
        <h2>Administration</h2>
        <ul>
          {nav("/admin/environments", "Environments")}
          {can(access, "users:read", null) ? (
            <>
              {nav("/admin/users", "Users")}
              {nav("/admin/groups", "Groups")}
              {nav("/admin/bindings", "Role bindings")}
            </>
          ) : null}
          {can(access, "audit:read", null) ? nav("/admin/audit", "Audit log") : null}
          {nav("/account", "Your account")}
        </ul>
      </nav>
      <main id="main" tabIndex={-1}>
        {unknownEnv !== null ? <UnknownEnvironment name={unknownEnv} known={envs} /> : <Route path={path} />}
      </main>
    </div>
  );
}

function UnknownEnvironment({ name, known }: { name: string; known: string[] }) {
  return (
    <>
      <h1>No environment {name}</h1>
      <p>
        There is no environment named <code>{name}</code>, or you have no role in it.{" "}
        {known.length ? "Yours:" : "You have no role in any environment yet; ask an administrator for a role binding."}
      </p>
      {known.length ? (
        <ul>
          {known.map((e) => (
            <li key={e}>
              <Link to={`/envs/${encodeURIComponent(e)}/overview`}>{e}</Link>
            </li>
          ))}
        </ul>
      ) : null}
    </>
  );
}

function Route({ path }: { path: string }) {
  const envPage = match("/envs/:env/:page", path);
  if (envPage) return <EnvPage env={envPage.env ?? ""} page={envPage.page ?? ""} />;
  switch (path) {
    case "/account":
      return <Account />;
    case "/admin/environments":
      return <Environments />;
    case "/admin/users":
      return <Users />;
    case "/admin/groups":
      return <Groups />;
    case "/admin/bindings":
      return <Bindings />;
    case "/admin/audit":
      return <Audit />;
    case "/":
      return (
        <p>
          Welcome. You have no role in any environment yet: ask an administrator for a role binding, or{" "}
          <Link to="/admin/environments">see the environments</Link>.
        </p>
      );
    default:
      return (
        <>
          <h1>Page not found</h1>
          <p>
            There is no page at <code>{path}</code>. <Link to="/">Go to the start page</Link>.
          </p>
        </>
      );
  }
}
