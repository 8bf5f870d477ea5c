/** Runtime configuration served by `attonix console` at /config.json (the API's base URL). */

export interface ConsoleConfig {
  apiUrl: string;
}

export async function loadConfig(): Promise<ConsoleConfig> {
  const res = await fetch("/config.json", { cache: "no-store" });
  if (!res.ok) throw new Error(`/config.json answered ${res.status}`);
  const data = (await res.json()) as Partial<ConsoleConfig>;
  if (typeof data.apiUrl !== "string" || !/^https?:\/\//.test(data.apiUrl)) {
    throw new Error("/config.json has no valid apiUrl");
  }
  return { apiUrl: data.apiUrl.replace(/\/+$/, "") };
}
