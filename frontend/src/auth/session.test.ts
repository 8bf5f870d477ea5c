import { Session, type Tokens } from "./session";

function memoryStorage() {
  const m = new Map<string, string>();
  return {
    getItem: (k: string) => m.get(k) ?? null,
    setItem: (k: string, v: string) => void m.set(k, v),
    removeItem: (k: string) => void m.delete(k),
    map: m,
  };
}

const tokens = (n: number): Tokens => ({ access_token: `a${n}`, refresh_token: `r${n}`, expires_in: 600 });

describe("Session", () => {
  const calls: string[] = [];
  beforeEach(() => {
    calls.length = 0;
    vi.stubGlobal("fetch", vi.fn((req: Request) => {
      const auth = req.headers.get("Authorization") ?? "";
      calls.push(`${new URL(req.url).pathname} ${auth}`);
      return Promise.resolve(new Response("{}", { status: auth === "Bearer a2" ? 200 : 401 }));
    }));
  });
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it("keeps the access token in memory only and the refresh token in session storage", () => {
    const store = memoryStorage();
    const s = new Session(store);
    s.start(tokens(1));
    expect([...store.map.entries()]).toEqual([["attonix.refresh", "r1"]]);
    expect(s.accessToken).toBe("a1");
    s.end();
    expect(store.map.size).toBe(0);
  });

  it("refreshes once on 401 and retries with the new token, even for parallel calls", async () => {
    const s = new Session(memoryStorage());
    const refresher = vi.fn((rt: string) => Promise.resolve(rt === "r1" ? tokens(2) : Promise.reject(new Error("reuse"))));
    s.setRefresher(refresher);
    s.start(tokens(1));
    const [a, b] = await Promise.all([
      s.fetch(new Request("http://api/api/v1/me")),
      s.fetch(new Request("http://api/api/v1/users")),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(refresher).toHaveBeenCalledTimes(1);
    expect(calls).toContain("/api/v1/me Bearer a2");
  });

  it("ends the session with a message when the refresh is refused", async () => {
    const s = new Session(memoryStorage());
    s.setRefresher(() => Promise.reject(new Error("401")));
    const seen: boolean[] = [];
    s.subscribe(() => seen.push(s.signedIn));
    s.start(tokens(1));
    const res = await s.fetch(new Request("http://api/api/v1/me"));
    expect(res.status).toBe(401);
    expect(s.signedIn).toBe(false);
    expect(s.endedBecause).toMatch(/session has expired/);
    expect(seen).toEqual([true, false]);
  });

  it("never tries to refresh for the auth endpoints themselves", async () => {
    const s = new Session(memoryStorage());
    const refresher = vi.fn(() => Promise.resolve(tokens(2)));
    s.setRefresher(refresher);
    s.start(tokens(1));
    await s.fetch(new Request("http://api/api/v1/auth/logout", { method: "POST" }));
    expect(refresher).not.toHaveBeenCalled();
  });
});
