/** The pages of one environment. */

const TITLES: Record<string, string> = {
  overview: "Overview",
  blueprints: "Blueprints",
  findings: "Findings",
  deployments: "Deployments",
  secrets: "Secrets",
};

export function EnvPage({ env, page }: { env: string; page: string }) {
  const title = TITLES[page];
  if (!title) return <h1>Page not found</h1>;
  return (
    <>
      <h1>
        {title} <span className="muted">· {env}</span>
      </h1>
      <Unavailable what={title.toLowerCase()} />
    </>
  );
}

/** Said plainly when the connected server does not offer what a page needs. */
export function Unavailable({ what }: { what: string }) {
  return (
    <p className="notice" role="status">
      This server does not offer {what} yet: its API has no endpoint for it.
    </p>
  );
}
