/**
 * The signed-in session. The access token lives only in memory; the refresh token in
 * sessionStorage (this tab only, gone when it closes) so a reload does not sign the user out.
 * Nothing goes to localStorage or cookies. A 401 triggers one silent refresh and a retry;
 * if that fails the session ends and the sign-in page explains why.
 */

export interface Tokens {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  restricted?: string;
}

export type Refresher = (refreshToken: string) => Promise<Tokens>;
type Listener = () => void;

const KEY = "attonix.refresh";
// Refresh this long before the access token expires, so calls rarely meet a 401.
const EARLY_MS = 30_000;

export class Session {
  private access: string | null = null;
  private restricted = "";
  private inflight: Promise<boolean> | null = null;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private listeners = new Set<Listener>();
  /** Why the last session ended, shown on the sign-in page. */
  endedBecause = "";
  private refresher: Refresher | null = null;

  constructor(private readonly storage: Pick<Storage, "getItem" | "setItem" | "removeItem"> = sessionStorage) {}

  setRefresher(r: Refresher): void {
    this.refresher = r;
  }

  get signedIn(): boolean {
    return this.access !== null;
  }

  get restriction(): string {
    return this.restricted;
  }

  /** Current access token (tests use it to prove sign-out revokes it). */
  get accessToken(): string | null {
    return this.access;
  }

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(): void {
    for (const fn of this.listeners) fn();
  }

  start(t: Tokens): void {
    this.access = t.access_token;
    this.restricted = t.restricted ?? "";
    this.endedBecause = "";
    this.storage.setItem(KEY, t.refresh_token);
    if (this.timer) clearTimeout(this.timer);
    const ms = Math.max(5_000, t.expires_in * 1000 - EARLY_MS);
    this.timer = setTimeout(() => void this.refresh(), ms);
    this.emit();
  }

  /** End the session locally (after sign-out, or when it expired) with a reason to show. */
  end(reason = ""): void {
    this.access = null;
    this.restricted = "";
    this.endedBecause = reason;
    this.storage.removeItem(KEY);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.emit();
  }

  /** After a reload: trade the stored refresh token for a new session, if there is one. */
  async restore(): Promise<boolean> {
    if (!this.storage.getItem(KEY)) return false;
    return this.refresh();
  }

  /** Rotate the tokens once, however many callers ask at the same time. */
  refresh(): Promise<boolean> {
    this.inflight ??= this.doRefresh().finally(() => {
      this.inflight = null;
    });
    return this.inflight;
  }

  private async doRefresh(): Promise<boolean> {
    const token = this.storage.getItem(KEY);
    if (!token || !this.refresher) {
      if (this.access !== null) this.end("Your session has expired. Please sign in again.");
      return false;
    }
    try {
      this.start(await this.refresher(token));
      return true;
    } catch {
      this.end("Your session has expired. Please sign in again.");
      return false;
    }
  }

  /** fetch with the bearer token; on 401 refresh once and retry (never for /auth/ calls). */
  async fetch(req: Request): Promise<Response> {
    const retry = req.clone();
    const res = await fetch(this.authorize(req));
    if (res.status !== 401 || new URL(req.url).pathname.includes("/auth/") || this.access === null) {
      return res;
    }
    if (!(await this.refresh())) return res;
    return fetch(this.authorize(retry));
  }

  private authorize(req: Request): Request {
    if (this.access === null) return req;
    const headers = new Headers(req.headers);
    headers.set("Authorization", `Bearer ${this.access}`);
    return new Request(req, { headers });
  }
}
