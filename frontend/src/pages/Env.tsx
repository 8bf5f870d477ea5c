/** The pages of one environment. */
import { Blueprints } from "./Blueprints";
import { Connections } from "./Connections";
import { Deployments } from "./Deployments";
import { Findings } from "./Findings";
import { Overview } from "./Overview";
import { Secrets } from "./Secrets";

const PAGES: Record<string, [string, (p: { env: string }) => React.JSX.Element]> = {
  overview: ["Overview", Overview],
  blueprints: ["Blueprints", Blueprints],
  findings: ["Findings", Findings],
  deployments: ["Deployments", Deployments],
  secrets: ["Secrets", Secrets],
  connections: ["Connections", Connections],
};

export function EnvPage({ env, page }: { env: string; page: string }) {
  const entry = PAGES[page];
  if (!entry) return <h1>Page not found</h1>;
  const [title, Page] = entry;
  return (
    <>
      <h1>
        {title} <span className="muted">· {env}</span>
      </h1>
      <Page env={env} />
    </>
  );
}
