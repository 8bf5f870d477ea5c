import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { call, makeApi } from "./api/client";
import { Session } from "./auth/session";
import { loadConfig } from "./config";
import "./styles.css";

async function boot(root: HTMLElement) {
  const reactRoot = createRoot(root);
  try {
    const config = await loadConfig();
    const session = new Session();
    const api = makeApi(config.apiUrl, session);
    session.setRefresher((refresh_token) => call(api.POST("/api/v1/auth/refresh", { body: { refresh_token } })));
    reactRoot.render(
      <StrictMode>
        <App api={api} session={session} apiUrl={config.apiUrl} />
      </StrictMode>,
    );
  } catch (err) {
    reactRoot.render(
      <main className="signin">
        <div className="problem" role="alert">
          <strong>The console cannot start</strong>
          <p>{err instanceof Error ? err.message : String(err)}</p>
        </div>
      </main>,
    );
  }
}

const root = document.getElementById("root");
if (root) void boot(root);
