// End-to-end scenarios for the console, driven in headless Chromium by playwright-core.
// Usage: node e2e/run.mjs CONFIG.json SCENARIO
// CONFIG holds the console and API URLs, accounts and where to write screenshots. The script
// acts like a user, records what the pages show as "facts", and prints one JSON document:
// {"ok": bool, "error": str|null, "facts": {...}, "consoleErrors": [...], "screenshots": [...]}.
// The pytest side (tests/e2e/) asserts on those facts.
import { createHmac } from "node:crypto";
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [configPath, scenario] = process.argv.slice(2);
const cfg = JSON.parse(readFileSync(configPath, "utf8"));
const facts = {};
const consoleErrors = [];
const screenshots = [];
// Error messages the current step expects (an invalid upload answers 422, which Chromium
// logs as a failed resource load). Anything else logged as an error fails the run.
let expectedErrors = [];

function base32(secret) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const ch of secret.replace(/=+$/, "").toUpperCase()) {
    const v = alphabet.indexOf(ch);
    if (v < 0) throw new Error(`bad base32 character ${ch}`);
    bits += v.toString(2).padStart(5, "0");
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** RFC 6238 TOTP (SHA-1, 6 digits, 30 s). */
export function totp(secret, step = Math.floor(Date.now() / 30000)) {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", base32(secret)).update(msg).digest();
  const off = mac[mac.length - 1] & 0xf;
  const n = (mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, "0");
}

/**
 * A code for a step this account has not used yet (the server refuses a replayed step). The
 * last step used is kept on the account itself, which the journey hands from one scenario's
 * process to the next: a scenario signing in again within the same 30 s as the previous
 * one waits for the next step instead of being refused.
 */
async function freshCode(acct) {
  for (;;) {
    const step = Math.floor(Date.now() / 30000);
    if ((acct.lastTotpStep ?? -1) < step) {
      acct.lastTotpStep = step;
      return totp(acct.mfaSecret, step);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function shot(page, name) {
  mkdirSync(cfg.screenshots, { recursive: true });
  const path = join(cfg.screenshots, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  screenshots.push(path);
}

async function text(page) {
  return page.locator("body").innerText();
}

/**
 * Sign in as `acct` ({username, password, newPassword, mfaSecret}), going through every step
 * the server asks for: one-time password change, MFA enrolment, TOTP. Updates acct in place.
 */
async function signIn(page, acct, start = "/") {
  await page.goto(cfg.consoleUrl + start);
  await page.getByLabel("User name", { exact: true }).fill(acct.username);
  await page.getByLabel("Password", { exact: true }).fill(acct.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  for (let i = 0; i < 6; i++) {
    const code = page.getByLabel("Authentication code", { exact: true });
    const choose = page.getByRole("heading", { name: "Choose your own password" });
    const enrol = page.getByRole("button", { name: "Set up an authenticator" });
    const shell = page.getByRole("navigation", { name: "Main" });
    await code.or(choose).or(enrol).or(shell).first().waitFor({ timeout: 20000 });
    if (await shell.isVisible()) return;
    if (await code.isVisible()) {
      facts[`${acct.username}.mfaPrompted`] = true;
      if (scenario === "admin" && !screenshots.some((s) => s.endsWith("sign-in-mfa.png"))) await shot(page, "sign-in-mfa");
      await code.fill(await freshCode(acct));
      await page.getByRole("button", { name: "Verify" }).click();
      await code.waitFor({ state: "detached", timeout: 20000 });
      continue;
    }
    if (await choose.isVisible()) {
      await page.getByLabel("Current password", { exact: true }).fill(acct.password);
      await page.getByLabel("New password", { exact: true }).fill(acct.newPassword);
      await page.getByLabel("Repeat the new password", { exact: true }).fill(acct.newPassword);
      await page.getByRole("button", { name: "Change password" }).click();
      acct.password = acct.newPassword;
      await choose.waitFor({ state: "detached", timeout: 20000 });
      continue;
    }
    if (await enrol.isVisible()) {
      await enrolMfa(page, acct);
      continue;
    }
  }
  throw new Error(`sign-in of ${acct.username} did not reach the console`);
}

async function enrolMfa(page, acct) {
  await page.getByRole("button", { name: "Set up an authenticator" }).click();
  const secretEl = page.getByTestId("mfa-secret");
  await secretEl.waitFor();
  acct.mfaSecret = (await secretEl.innerText()).trim();
  facts[`${acct.username}.qrShown`] = await page.getByRole("img", { name: /QR code/ }).isVisible();
  if (scenario === "admin") await shot(page, "mfa-enrolment");
  await page.getByLabel("Code from the app", { exact: true }).fill(await freshCode(acct));
  await page.getByRole("button", { name: "Turn on two-factor authentication" }).click();
  const codes = page.getByRole("list", { name: "Recovery codes" });
  await codes.waitFor({ timeout: 20000 });
  facts[`${acct.username}.recoveryCodes`] = await codes.locator("li").count();
  await page.getByRole("button", { name: "I have stored them" }).click();
}

async function signOut(page, everywhere) {
  await page.getByRole("button", { name: everywhere ? "Sign out everywhere" : "Sign out", exact: true }).first().click();
  await page.getByRole("heading", { name: "Sign in to Attonix" }).waitFor();
}

async function visit(page, path) {
  await page.goto(cfg.consoleUrl + path);
  await page.getByRole("navigation", { name: "Main" }).waitFor({ timeout: 20000 });
}

async function admin(page) {
  const acct = cfg.accounts.admin;
  await page.goto(cfg.consoleUrl + "/");
  await page.getByRole("heading", { name: "Sign in to Attonix" }).waitFor();
  await shot(page, "sign-in");
  await signIn(page, acct);
  if (!acct.mfaSecret) {
    // Not forced at first sign-in: enrol from the account page.
    await visit(page, "/account");
    await enrolMfa(page, acct);
  }
  // Sign in again: this time the password step must be followed by the TOTP step.
  await signOut(page, false);
  await signIn(page, acct);
  facts.adminMfaAtSignIn = facts["admin.mfaPrompted"] === true;

  await visit(page, "/admin/environments");
  await page.getByLabel("Name", { exact: true }).fill(cfg.environment);
  await page.getByLabel("Description", { exact: true }).fill("end-to-end test environment");
  await page.getByRole("button", { name: "Create environment" }).click();
  await page.getByRole("link", { name: cfg.environment, exact: true }).waitFor();

  for (const [key, role] of [["operator", "operator"], ["auditor", "auditor"]]) {
    const a = cfg.accounts[key];
    await visit(page, "/admin/users");
    await page.getByLabel("User name", { exact: true }).fill(a.username);
    await page.getByLabel("Full name", { exact: true }).fill(`E2E ${role}`);
    await page.getByRole("button", { name: "Create user" }).click();
    const otp = page.getByTestId("one-time-password");
    await otp.waitFor();
    a.password = (await otp.innerText()).trim();
    facts[`${key}.password`] = a.password;
    await visit(page, "/admin/bindings");
    await page.getByLabel("Environment", { exact: true }).selectOption(cfg.environment);
    await page.getByLabel("Role", { exact: true }).selectOption(role);
    await page.getByLabel("Subject", { exact: true }).selectOption(a.username);
    await page.getByRole("button", { name: "Add binding" }).click();
    await page.getByRole("cell", { name: `user ${a.username}`, exact: true }).waitFor();
  }
  await shot(page, "bindings");

  // A blueprint with an error: the rejection must point at the line.
  await visit(page, `/envs/${cfg.environment}/blueprints`);
  expectedErrors = [/status of 422/];
  await page.getByLabel("Blueprint YAML", { exact: true }).fill(cfg.blueprint.invalid);
  await page.getByRole("button", { name: "Validate and store" }).click();
  const rejected = page.getByRole("region", { name: "Rejected blueprint" });
  await rejected.waitFor({ timeout: 30000 });
  facts.rejectedProblem = await page.locator(".problem").first().innerText();
  facts.diagnosticLines = await rejected.locator("tr[data-diag-line]").evaluateAll((rows) => rows.map((r) => Number(r.getAttribute("data-diag-line"))));
  facts.diagnosticText = await rejected.locator("tr[data-diag-line]").first().innerText();
  facts.markedLines = await rejected.locator("tr.has-error").evaluateAll((rows) => rows.map((r) => Number(r.getAttribute("data-line"))));
  await rejected.locator("tr.has-error").first().scrollIntoViewIfNeeded();
  await shot(page, "blueprint-error-at-line");
  expectedErrors = [];

  // Fixed, then a second version so there is something to compare.
  await page.getByLabel("Blueprint YAML", { exact: true }).fill(cfg.blueprint.valid);
  await page.getByRole("button", { name: "Validate and store" }).click();
  await page.getByText(/Stored as version 1 /).waitFor({ timeout: 60000 });
  facts.stored1 = true;
  await page.getByLabel("Blueprint YAML", { exact: true }).fill(cfg.blueprint.valid2);
  await page.getByRole("button", { name: "Validate and store" }).click();
  await page.getByText(/Stored as version 2 /).waitFor({ timeout: 60000 });
  const diff = page.getByRole("table", { name: "Differences between v1 and v2" });
  await diff.waitFor();
  facts.diffChanged = await diff.locator('tr[data-kind="changed"], tr[data-kind="added"], tr[data-kind="removed"]').allInnerTexts();
  await diff.scrollIntoViewIfNeeded();
  await shot(page, "blueprint-diff");

  // The overview: every layer drawn, a component's details on click.
  await visit(page, `/envs/${cfg.environment}/overview`);
  const diagram = page.getByRole("group", { name: "Architecture diagram" });
  await diagram.waitFor({ timeout: 30000 });
  facts.layers = await diagram.locator(".band-title").allTextContents();
  facts.nodeStates = await diagram.locator("[data-component]").evaluateAll((els) => Object.fromEntries(els.map((e) => [e.getAttribute("data-component"), e.getAttribute("data-state")])));
  facts.nodeHealth = await diagram.locator("[data-component]").evaluateAll((els) => Object.fromEntries(els.map((e) => [e.getAttribute("data-component"), e.getAttribute("data-health")])));
  await page.getByTestId("health-source").filter({ hasText: /health/ }).waitFor();
  facts.healthSource = await page.getByTestId("health-source").innerText();
  await diagram.locator(`[data-component="${cfg.component}"]`).click();
  const panel = page.getByRole("complementary", { name: "Component details" });
  await panel.getByRole("heading", { name: cfg.component }).waitFor();
  await panel.getByText(/Rendered files/).waitFor();
  await panel.locator("details, p").filter({ hasText: /\.yaml|No kubernetes files/ }).first().waitFor({ timeout: 30000 });
  facts.panelText = await panel.innerText();
  facts.panelFiles = (await panel.locator("details summary").allInnerTexts()).join(" ");
  await shot(page, "overview");

  await visit(page, `/envs/${cfg.environment}/findings`);
  await page.getByRole("table").first().waitFor();
  facts.findingsAll = await page.locator("table.findings tbody tr").count();
  const sevs = await page.locator("table.findings tbody .sev").allInnerTexts();
  const pick = sevs[0] ?? "high";
  await page.getByLabel("Severity", { exact: true }).selectOption(pick);
  facts.findingsFilteredSeverity = pick;
  facts.findingsFilteredSeverities = [...new Set(await page.locator("table.findings tbody .sev").allInnerTexts())];
  facts.findingsFirstRow = await page.locator("table.findings tbody tr").first().innerText();
  await shot(page, "findings");

  // A deployment up to its plan; the approval is someone else's (two-person rule). The server
  // deploys a cluster only through its stored connection: the administrator stores this
  // machine's Podman for it over the API (with the bearer token the console itself sends).
  let adminToken = null;
  page.on("request", (r) => {
    const h = r.headers().authorization;
    if (h && h.startsWith("Bearer ")) adminToken = h.slice(7);
  });
  await visit(page, `/envs/${cfg.environment}/deployments`);
  await page.getByLabel("Target", { exact: true }).waitFor();
  if (!adminToken) throw new Error("no bearer token seen on the wire");
  const stored = await fetch(`${cfg.apiUrl}/api/v1/environments/${cfg.environment}/connections/${cfg.cluster}`, {
    method: "PUT",
    headers: { Authorization: `Bearer ${adminToken}`, "Content-Type": "application/json" },
    body: JSON.stringify({ kind: "podman", url: "local" }),
  });
  if (stored.status !== 200) throw new Error(`storing the connection: ${stored.status} ${await stored.text()}`);
  await page.getByLabel("Target", { exact: true }).selectOption(cfg.target);
  await page.getByLabel("Cluster", { exact: true }).fill(cfg.cluster);
  await page.getByRole("button", { name: "Check, render and plan" }).click();
  const status = page.getByTestId("deployment-status");
  await page.waitForFunction(() => {
    const s = document.querySelector('[data-testid="deployment-status"]')?.textContent;
    return s && s !== "planning";
  }, null, { timeout: 120000 });
  facts.planStatus = await status.innerText();
  await page.getByText("Log complete.").waitFor({ timeout: 30000 });
  facts.planLog = await page.getByLabel("Deployment log", { exact: true }).innerText();
  facts.planText = await page.locator("section.card").filter({ hasText: "Deployment #" }).innerText();
  facts.planEndpoint = await page.getByTestId("deployment-endpoint").innerText();
  // The requester may not approve in a two-person-rule environment: no button, a note instead.
  facts.requesterApproveButtons = await page.getByRole("button", { name: "Approve and apply" }).count();
  facts.requesterNote = await page.getByTestId("two-person-note").innerText();
  await shot(page, "deployment-plan");

  // A write-only secret: its value must not come back.
  await visit(page, `/envs/${cfg.environment}/secrets`);
  await page.getByLabel("Name", { exact: true }).fill("e2e-secret");
  await page.getByLabel("Value", { exact: true }).fill(cfg.secretValue);
  await page.getByRole("button", { name: "Store secret" }).click();
  await page.getByRole("cell", { name: "e2e-secret", exact: true }).waitFor();
  facts.secretRow = await page.getByRole("row", { name: /e2e-secret/ }).innerText();
  facts.secretValueOnPage = (await page.content()).includes(cfg.secretValue);
  await shot(page, "secrets");
}

async function operator(page) {
  const acct = cfg.accounts.operator;
  await signIn(page, acct);
  await visit(page, `/envs/${cfg.environment}/deployments`);
  await page.getByRole("button", { name: "Approve and apply" }).click();
  // An irreversible action asks first, saying what will happen; nothing changed yet.
  const ask = page.getByRole("alertdialog", { name: "Confirm" });
  facts.approveQuestion = await ask.innerText();
  facts.statusWhileAsking = await page.getByTestId("deployment-status").innerText();
  await ask.getByRole("button", { name: "Yes, approve and apply" }).click();
  await page.waitForFunction(() => {
    const s = document.querySelector('[data-testid="deployment-status"]')?.textContent;
    return s && s !== "awaiting_approval";
  }, null, { timeout: 30000 });
  await page.getByText(/approved by/).first().waitFor();
  facts.afterApproval = await page.locator("section.card").filter({ hasText: "Deployment #" }).innerText();
  facts.historyRow = await page.getByRole("row", { name: /Deployment 1/ }).innerText();
  await shot(page, "deployment-approved");

  // The access token a thief would copy from the wire.
  let stolen = null;
  page.on("request", (r) => {
    const h = r.headers().authorization;
    if (h && h.startsWith("Bearer ")) stolen = h.slice(7);
  });
  await visit(page, "/account");
  await page.getByRole("heading", { name: "Your account" }).waitFor();
  if (!stolen) throw new Error("no bearer token seen on the wire");
  const me = (token) => fetch(cfg.apiUrl + "/api/v1/me", { headers: { Authorization: `Bearer ${token}` } }).then((r) => r.status);
  facts.stolenBefore = await me(stolen);
  facts.tokenInLocalStorage = await page.evaluate((t) => Object.values({ ...localStorage }).some((v) => v.includes(t)), stolen);
  facts.tokenInSessionStorage = await page.evaluate((t) => Object.values({ ...sessionStorage }).some((v) => v.includes(t)), stolen);
  facts.cookies = (await page.context().cookies()).length;
  expectedErrors = [/status of 401/];
  await signOut(page, true);
  facts.signedOutMessage = await page.getByRole("status").innerText();
  facts.stolenAfter = await me(stolen);
  facts.stolenToken = stolen;
}

async function auditor(page) {
  const acct = cfg.accounts.auditor;
  await signIn(page, acct);
  const writeButtons = [
    "Validate and store",
    "Check, render and plan",
    "Approve and apply",
    "Reject",
    "Store secret",
    "Create user",
    "Add binding",
    "Create environment",
    "Create group",
  ];
  facts.visibleWriteButtons = [];
  for (const path of ["overview", "blueprints", "findings", "deployments", "secrets"]) {
    await visit(page, `/envs/${cfg.environment}/${path}`);
    await page.getByRole("heading", { level: 1 }).waitFor();
    await page.waitForLoadState("networkidle");
    if (path === "deployments") {
      await page.getByTestId("deployment-status").waitFor();
      facts.auditorSeesDeployment = await page.locator("section.card").filter({ hasText: "Deployment #" }).innerText();
    }
    if (path === "blueprints") facts.auditorSeesVersions = await page.getByRole("button", { name: /View version/ }).count();
    for (const name of writeButtons) {
      if ((await page.getByRole("button", { name, exact: true }).count()) > 0) facts.visibleWriteButtons.push(`${path}: ${name}`);
    }
  }
  await shot(page, "auditor-deployments");
  facts.navLinks = await page.getByRole("navigation", { name: "Main" }).getByRole("link").allInnerTexts();
  await visit(page, "/admin/environments");
  await page.waitForLoadState("networkidle");
  if ((await page.getByRole("button", { name: "Create environment" }).count()) > 0) facts.visibleWriteButtons.push("environments: Create environment");

  await visit(page, "/admin/audit");
  await page.locator("table.audit tbody tr").first().waitFor();
  facts.auditActions = await page.locator("table.audit tbody tr td:nth-child(4)").allInnerTexts();
  facts.auditRows = await page.locator("table.audit tbody tr").allInnerTexts();
  await page.getByRole("button", { name: "Verify integrity" }).click();
  facts.auditVerify = await page.getByText(/Integrity (verified|check FAILED)/).innerText();
  await page.getByLabel("Action", { exact: true }).fill("deployment.approve");
  await page.getByRole("button", { name: "Apply" }).click();
  // The filtered page has replaced the unfiltered one when every row shows the action.
  await page.waitForFunction(() => {
    const cells = [...document.querySelectorAll("table.audit tbody tr td:nth-child(4)")];
    return cells.length > 0 && cells.every((c) => c.textContent === "deployment.approve");
  });
  facts.auditFiltered = await page.locator("table.audit tbody tr").allInnerTexts();
  await page.getByLabel("Action", { exact: true }).fill("");
  await page.getByLabel("Actor", { exact: true }).fill(cfg.accounts.operator.username);
  await page.getByRole("button", { name: "Apply" }).click();
  await page.waitForLoadState("networkidle");
  await page.getByText("Page 1", { exact: true }).waitFor();
  facts.auditByActor = await page.locator("table.audit tbody tr td:nth-child(3)").allInnerTexts();
  facts.auditByActorActions = await page.locator("table.audit tbody tr td:nth-child(4)").allInnerTexts();
  await shot(page, "audit-log");
}

/** Time to interactive of the overview: from navigation start until the diagram is drawn. */
async function bench(page) {
  await signIn(page, cfg.accounts.admin);
  const overview = `${cfg.consoleUrl}/envs/${cfg.environment}/overview`;
  const cdp = await page.context().newCDPSession(page);
  const measure = async () => {
    await page.goto(overview);
    await page.locator("[data-component]").first().waitFor({ timeout: 30000 });
    return page.evaluate(() => performance.now());
  };
  await measure();
  facts.warm = [];
  for (let i = 0; i < cfg.runs; i++) facts.warm.push(await measure());
  await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
  facts.cold = [];
  for (let i = 0; i < cfg.runs; i++) facts.cold.push(await measure());
  facts.components = await page.locator("[data-component]").count();
}

const SIZES = [
  { width: 1280, height: 800 },
  { width: 390, height: 844 },
];
// Every page of the console, by the name its screenshots get.
const PAGES = (env) => [
  ["overview", `/envs/${env}/overview`],
  ["blueprints", `/envs/${env}/blueprints`],
  ["findings", `/envs/${env}/findings`],
  ["deployments", `/envs/${env}/deployments`],
  ["secrets", `/envs/${env}/secrets`],
  ["connections", `/envs/${env}/connections`],
  ["environments", "/admin/environments"],
  ["users", "/admin/users"],
  ["groups", "/admin/groups"],
  ["bindings", "/admin/bindings"],
  ["audit", "/admin/audit"],
  ["account", "/account"],
  ["unknown-environment", "/envs/prdo/overview"],
  ["not-found", "/no/such/page"],
];
// Buttons that destroy or cannot be undone: each must ask before it acts.
const DESTRUCTIVE = /^(Delete|Remove|Disable|Reset MFA|Revoke|Reject|Cancel deployment)$/;
const AXE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/** Serious and critical axe-core violations on the page as it is now. */
async function axeViolations(page) {
  // Evaluated through the DevTools protocol, which the console's CSP does not govern.
  await page.evaluate(`${AXE};0`);
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }));
  });
  return found.filter((v) => v.impact === "serious" || v.impact === "critical");
}

/** How much wider than the viewport the page is (0 when it fits). */
async function overflow(page) {
  return page.evaluate(() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth) - window.innerWidth);
}

/** Every page at both sizes: no sideways scrolling, no serious axe violation, a screenshot. */
async function checkPage(page, name, size) {
  const tag = `${name}-${size.width}x${size.height}`;
  const wider = await overflow(page);
  if (wider > 0) facts.tooWide.push(`${tag}: ${wider}px wider than the viewport`);
  for (const v of await axeViolations(page)) facts.axe.push(`${tag}: ${v.impact} ${v.id} (${v.help}) at ${v.nodes.join(", ")}`);
  await shot(page, tag);
  facts.pagesChecked.push(tag);
}

/** Click each kind of destructive button once: a question must come first, and "No" keeps all. */
async function probeDestructive(page, name) {
  const buttons = page.locator("main button").filter({ hasText: DESTRUCTIVE });
  const seen = new Set();
  for (let i = 0; i < (await buttons.count()); i++) {
    const b = buttons.nth(i);
    const label = (await b.innerText()).trim();
    if (seen.has(label) || !(await b.isEnabled())) continue;
    seen.add(label);
    const before = await page.locator("main").innerText();
    await b.click();
    const ask = page.getByRole("alertdialog", { name: "Confirm" });
    if (!(await ask.isVisible())) {
      facts.actedAtOnce.push(`${name}: ${label}`);
      continue;
    }
    facts.askedFirst.push(`${name}: ${label}: ${await ask.locator(".confirm-question").innerText()}`);
    await ask.getByRole("button", { name: "No, keep it" }).click();
    await ask.waitFor({ state: "detached" });
    if ((await page.locator("main").innerText()) !== before) facts.actedAtOnce.push(`${name}: ${label} changed the page after "No"`);
  }
}

async function settle(page) {
  await page.getByRole("heading", { level: 1 }).first().waitFor();
  await page.waitForLoadState("networkidle");
}

/**
 * The whole console at 1280×800 and 390×844, and the flows around sign-in, groups and
 * deployments. Signed in as the administrator of the journey.
 */
async function sweep(page) {
  const env = cfg.environment;
  Object.assign(facts, { tooWide: [], axe: [], pagesChecked: [], askedFirst: [], actedAtOnce: [] });
  const acct = cfg.accounts.admin;

  // A deep link opened while signed out: the sign-in page first (checked at both sizes) ...
  const deep = `/envs/${env}/deployments?d=1`;
  await page.goto(cfg.consoleUrl + deep);
  await page.getByRole("heading", { name: "Sign in to Attonix" }).waitFor();
  for (const size of [...SIZES].reverse()) {
    await page.setViewportSize(size);
    await checkPage(page, "sign-in", size);
  }
  // ... then, signed in, the page that was asked for.
  await signIn(page, acct, deep);
  await page.getByRole("heading", { name: /Deployment #1 / }).waitFor();
  facts.deepLinkLanded = new URL(page.url()).pathname + new URL(page.url()).search;

  // An environment nobody has: said so, and the selector names no other environment.
  await visit(page, "/envs/prdo/overview");
  facts.unknownEnvHeading = await page.getByRole("heading", { level: 1 }).innerText();
  facts.unknownEnvSelector = await page.getByLabel("Current environment", { exact: true }).inputValue();

  // The password rules are there before any attempt.
  await visit(page, "/account");
  facts.passwordRules = await page.getByRole("list", { name: "Password rules" }).locator("li").allInnerTexts();

  // A field error in words, beside its field, with the request id in the box.
  await visit(page, "/admin/users");
  expectedErrors = [/status of 422/];
  await page.getByLabel("User name", { exact: true }).fill("Not A Name");
  await page.getByRole("button", { name: "Create user" }).click();
  const nameField = page.locator(".field").filter({ has: page.getByLabel("User name", { exact: true }) });
  await nameField.locator(".field-error").waitFor();
  facts.fieldError = await nameField.locator(".field-error").innerText();
  facts.fieldInvalid = await page.getByLabel("User name", { exact: true }).getAttribute("aria-invalid");
  facts.fieldProblem = await page.getByRole("alert").first().innerText();
  await page.getByLabel("User name", { exact: true }).fill("");
  expectedErrors = [];

  // A group with members and a binding, deleted: it asks first, then goes with its binding.
  await visit(page, "/admin/groups");
  await page.getByLabel("Name", { exact: true }).fill("e2e-crew");
  for (const m of [cfg.accounts.operator.username, cfg.accounts.auditor.username]) {
    await page.getByRole("group", { name: "Members" }).getByLabel(m, { exact: true }).check();
  }
  await page.getByRole("button", { name: "Create group" }).click();
  await page.getByRole("cell", { name: "e2e-crew", exact: true }).waitFor();
  await visit(page, "/admin/bindings");
  await page.getByLabel("Environment", { exact: true }).selectOption(env);
  await page.getByLabel("Role", { exact: true }).selectOption("auditor");
  await page.getByLabel("Kind", { exact: true }).selectOption("group");
  await page.getByLabel("Subject", { exact: true }).selectOption("e2e-crew");
  await page.getByRole("button", { name: "Add binding" }).click();
  await page.getByRole("cell", { name: "group e2e-crew", exact: true }).waitFor();
  await visit(page, "/admin/groups");
  await page.getByRole("button", { name: "Delete group e2e-crew" }).click();
  facts.groupDeleteQuestion = await page.getByRole("alertdialog", { name: "Confirm" }).innerText();
  facts.groupListedWhileAsking = await page.getByRole("cell", { name: "e2e-crew", exact: true }).count();
  await page.getByRole("button", { name: "Yes, delete the group" }).click();
  await page.getByRole("cell", { name: "e2e-crew", exact: true }).waitFor({ state: "detached" });
  facts.groupDeleteProblems = await page.getByRole("alert").count();
  await visit(page, "/admin/bindings");
  await page.getByRole("table").waitFor();
  await page.waitForLoadState("networkidle");
  facts.groupBindingsLeft = await page.getByRole("cell", { name: "group e2e-crew", exact: true }).count();

  // The requester cancels their own pending deployment (asked first).
  await visit(page, `/envs/${env}/deployments`);
  await page.getByLabel("Target", { exact: true }).selectOption(cfg.target);
  await page.getByLabel("Cluster", { exact: true }).fill(cfg.cluster);
  await page.getByRole("button", { name: "Check, render and plan" }).click();
  await page.waitForFunction(() => document.querySelector('[data-testid="deployment-status"]')?.textContent === "awaiting_approval", null, { timeout: 120000 });
  facts.cancelDeployment = await page.getByRole("heading", { name: /Deployment #\d+/ }).innerText();
  await page.getByRole("button", { name: "Cancel deployment" }).click();
  facts.cancelQuestion = await page.getByRole("alertdialog", { name: "Confirm" }).innerText();
  facts.statusWhileAskingCancel = await page.getByTestId("deployment-status").innerText();
  await page.getByRole("button", { name: "Yes, cancel it" }).click();
  await page.waitForFunction(() => document.querySelector('[data-testid="deployment-status"]')?.textContent === "cancelled", null, { timeout: 30000 });
  facts.statusAfterCancel = await page.getByTestId("deployment-status").innerText();

  // The diagram: labels at a readable size, search, zoom.
  await visit(page, `/envs/${env}/overview`);
  const diagram = page.getByRole("group", { name: "Architecture diagram" });
  await diagram.waitFor({ timeout: 30000 });
  const labelPx = () => diagram.locator("text.name").evaluateAll((els) => Math.min(...els.map((e) => e.getBoundingClientRect().height)));
  facts.diagramLabelPx = await labelPx();
  await page.getByLabel("Find a component", { exact: true }).fill("pg-main");
  await page.getByText(/^1 found/).waitFor();
  facts.diagramMatches = await diagram.locator(".node.match").evaluateAll((els) => els.map((e) => e.getAttribute("data-component")));
  await page.getByLabel("Find a component", { exact: true }).press("Enter");
  await page.getByRole("complementary", { name: "Component details" }).getByRole("heading", { name: "database/pg-main" }).waitFor();
  facts.diagramSearchSelected = true;
  const svgHeight = () => diagram.evaluate((e) => e.getBoundingClientRect().height);
  const before = await svgHeight();
  await page.getByRole("button", { name: "Zoom in" }).click();
  facts.diagramZoom = await page.getByTestId("diagram-zoom").innerText();
  facts.diagramZoomedLabelPx = await labelPx();
  // Zooming in magnifies and re-wraps the bands to the width available: taller, not wider.
  facts.diagramTallerWhenZoomed = (await svgHeight()) > before;
  facts.diagramFitsWidth = await page.locator(".diagram-viewport").evaluate((e) => e.scrollWidth <= e.clientWidth + 1);
  await page.getByRole("button", { name: "Actual size" }).click();
  await page.getByLabel("Find a component", { exact: true }).fill("");

  // Every page at both sizes; the destructive buttons probed at the wide size.
  for (const size of SIZES) {
    await page.setViewportSize(size);
    for (const [name, path] of PAGES(env)) {
      await visit(page, path);
      await settle(page);
      // Pages whose destructive buttons sit in rows loaded after the page: probe once they are.
      const ready = { secrets: "e2e-secret", connections: cfg.cluster }[name];
      if (ready) await page.getByRole("main").getByText(ready, { exact: true }).first().waitFor();
      if (size === SIZES[0]) await probeDestructive(page, name);
      await checkPage(page, name, size);
    }
  }
}

/**
 * Signs `account` in on `page` and returns a caller of the API (method, path, body: the parsed
 * answer; throws on an error status) with the bearer token the console itself sent.
 */
async function signedInApi(page, account) {
  let token = null;
  page.on("request", (r) => {
    const h = r.headers().authorization;
    if (h && h.startsWith("Bearer ")) token = h.slice(7);
  });
  await signIn(page, account);
  await visit(page, "/account");
  await page.getByRole("heading", { name: "Your account" }).waitFor();
  if (!token) throw new Error("no bearer token seen on the wire");
  const api = async (method, path, body) => {
    const r = await fetch(`${cfg.apiUrl}/api/v1${path}`, {
      method,
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
    return r.status === 204 ? null : r.json();
  };
  return api;
}

/**
 * Cluster connections: an administrator stores, tests, replaces and deletes the connections of
 * a blueprint's clusters; credentials never come back (page, API answers); an operator reads
 * them without any write action. The environment, blueprint and operator are set up over the
 * API with the administrator's own bearer token.
 */
async function connections(page) {
  const env = cfg.environment;
  Object.assign(facts, { tooWide: [], axe: [], pagesChecked: [] });
  // Every answer of the connections API, to check that no credential comes back.
  const answers = [];
  page.on("response", (r) => {
    if (r.url().includes("/connections")) answers.push(r.text().catch(() => ""));
  });
  const api = await signedInApi(page, cfg.accounts.admin);
  await api("POST", "/environments", { name: env, description: "cluster connections" });
  await api("POST", `/environments/${env}/blueprints`, { source: cfg.blueprint, filename: "attonixcorp.yaml" });
  const reader = cfg.accounts.reader;
  reader.password = (await api("POST", "/users", { name: reader.username, full_name: "E2E operator" })).one_time_password;
  await api("POST", "/bindings", { role: "operator", environment: env, subject_kind: "user", subject: reader.username });

  await visit(page, `/envs/${env}/connections`);
  const table = page.getByRole("table", { name: "Cluster connections" });
  await table.locator("tr[data-cluster]").first().waitFor({ timeout: 30000 });
  facts.clusters = await table.locator("tr[data-cluster]").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-cluster")));
  facts.rowsBefore = await table.locator("tbody tr").allInnerTexts();
  const endpoint = (c) => page.getByTestId(`endpoint-${c}`).innerText();

  // This machine's Podman, named explicitly.
  await page.getByLabel("Cluster", { exact: true }).selectOption("podman-tools");
  await page.getByLabel("Podman URL", { exact: true }).fill("local");
  await page.getByRole("button", { name: "Store connection" }).click();
  await page.getByText(/Connection of podman-tools stored/).waitFor();
  await page.getByTestId("endpoint-podman-tools").filter({ hasText: "own machine" }).waitFor();
  facts.podmanEndpoint = await endpoint("podman-tools");

  // A Swarm manager over TCP with mutual TLS, at a port nothing listens on.
  await page.getByLabel("Cluster", { exact: true }).selectOption("swarm-edge");
  await page.getByLabel("Docker host", { exact: true }).fill(`tcp://127.0.0.1:${cfg.deadPort}`);
  await page.getByLabel("CA certificate (PEM)", { exact: true }).fill(cfg.tls.ca);
  await page.getByLabel("Client certificate (PEM)", { exact: true }).fill(cfg.tls.cert);
  await page.getByLabel("Client key (PEM)", { exact: true }).fill(cfg.tls.key);
  await page.getByRole("button", { name: "Store connection" }).click();
  await page.getByText(/Connection of swarm-edge stored/).waitFor();
  facts.storedBanner = await page.getByText(/Connection of swarm-edge stored/).innerText();
  facts.keyFieldAfterStore = await page.getByLabel("Client key (PEM)", { exact: true }).inputValue();
  await page.getByTestId("endpoint-swarm-edge").filter({ hasText: "mutual TLS" }).waitFor();
  facts.swarmEndpoint = await endpoint("swarm-edge");
  facts.swarmRow = await table.locator('tr[data-cluster="swarm-edge"]').innerText();

  // Test: this machine's Podman answers; the Swarm manager is unreachable, and said so by name.
  await page.getByRole("button", { name: "Test connection of podman-tools" }).click();
  facts.podmanCheck = await page.getByTestId("check-podman-tools").innerText();
  await page.getByRole("button", { name: "Test connection of swarm-edge" }).click();
  await page.getByTestId("check-swarm-edge").waitFor({ timeout: 30000 });
  facts.swarmCheck = await page.getByTestId("check-swarm-edge").innerText();
  await shot(page, "connections");

  // Replace: the form starts from the stored endpoint, never from a credential.
  await page.getByRole("button", { name: "Replace connection of swarm-edge" }).click();
  facts.replaceHost = await page.getByLabel("Docker host", { exact: true }).inputValue();
  facts.replaceKey = await page.getByLabel("Client key (PEM)", { exact: true }).inputValue();
  await page.getByLabel("Docker host", { exact: true }).fill("unix:///run/attonix-e2e-no-such-engine.sock");
  await page.getByRole("button", { name: "Store connection" }).click();
  await page.getByText(/Connection of swarm-edge stored \(version 2\)/).waitFor();
  await table.locator('tr[data-cluster="swarm-edge"]').filter({ hasText: "v2," }).waitFor();
  facts.replacedRow = await table.locator('tr[data-cluster="swarm-edge"]').innerText();

  // Delete: asks first, then the cluster has no connection.
  await page.getByRole("button", { name: "Delete connection of podman-tools" }).click();
  facts.deleteQuestion = await page.getByRole("alertdialog", { name: "Confirm" }).innerText();
  facts.podmanWhileAsking = await endpoint("podman-tools");
  await page.getByRole("button", { name: "Yes, delete the connection" }).click();
  await page.getByText(/Connection of podman-tools deleted/).waitFor();
  await page.getByTestId("endpoint-podman-tools").filter({ hasText: "no connection" }).waitFor();
  facts.podmanAfterDelete = await endpoint("podman-tools");
  facts.keyOnPage = (await page.content()).includes(cfg.tls.marker);

  for (const size of SIZES) {
    await page.setViewportSize(size);
    await visit(page, `/envs/${env}/connections`);
    await settle(page);
    await table.locator('tr[data-cluster="swarm-edge"]').waitFor();
    await checkPage(page, "connections", size);
  }
  const texts = await Promise.all(answers);
  facts.connectionAnswers = texts.length;
  facts.keyInAnswers = texts.some((t) => t.includes(cfg.tls.marker));

  // An operator reads the connections and is offered no write action.
  const other = await page.context().browser().newContext({ viewport: SIZES[0] });
  try {
    const p2 = await other.newPage();
    p2.setDefaultTimeout(20000);
    await signIn(p2, reader);
    await visit(p2, `/envs/${env}/connections`);
    await p2.getByRole("table", { name: "Cluster connections" }).locator('tr[data-cluster="swarm-edge"]').waitFor();
    await p2.waitForLoadState("networkidle");
    facts.readerSwarmEndpoint = await p2.getByTestId("endpoint-swarm-edge").innerText();
    facts.readerButtons = await p2.locator("main button").allInnerTexts();
    facts.readerForms = await p2.locator("main form").count();
  } finally {
    await other.close();
  }
}

/** The texts of the rotation steps ticked (done) on the page now. */
async function stepsDone(page) {
  return page.getByRole("list", { name: "Rotation steps" }).locator("li.done").allInnerTexts();
}

/**
 * A credential rotation: an operator requests one from the Deployments page and sees it planned
 * and pending someone else's approval (two-person rule); an administrator approves it in
 * another browser and follows its steps to the end. Set up over the API with the
 * administrator's own bearer token.
 */
async function rotation(page) {
  const env = cfg.environment;
  Object.assign(facts, { tooWide: [], axe: [], pagesChecked: [] });
  const approver = cfg.accounts.approver;
  const api = await signedInApi(page, approver);
  await api("POST", "/environments", { name: env, description: "credential rotation" });
  await api("POST", `/environments/${env}/blueprints`, { source: cfg.blueprint, filename: "rotation.yaml" });
  await api("PUT", `/environments/${env}/secrets/${cfg.secret.name}`, { values: cfg.secret.values });
  for (const [cluster, connection] of Object.entries(cfg.connections || {})) {
    await api("PUT", `/environments/${env}/connections/${cluster}`, connection);
  }
  const requester = cfg.accounts.requester;
  requester.password = (await api("POST", "/users", { name: requester.username, full_name: "E2E requester" })).one_time_password;
  await api("POST", "/bindings", { role: "operator", environment: env, subject_kind: "user", subject: requester.username });

  // The operator requests the rotation and sees it planned, awaiting someone else.
  const other = await page.context().browser().newContext({ viewport: SIZES[0] });
  try {
    const p2 = await other.newPage();
    p2.setDefaultTimeout(20000);
    p2.on("pageerror", (err) => consoleErrors.push(`uncaught (requester): ${err.message}`));
    await signIn(p2, requester);
    await visit(p2, `/envs/${env}/deployments`);
    const form = p2.locator("form").filter({ has: p2.getByRole("heading", { name: "Rotate a database login" }) });
    await form.getByLabel("Database", { exact: true }).locator("option", { hasText: cfg.database }).waitFor({ state: "attached" });
    await form.getByLabel("Database", { exact: true }).selectOption(cfg.database);
    await form.getByLabel("Service", { exact: true }).selectOption("ledger");
    await form.getByLabel("Login", { exact: true }).selectOption("app");
    await form.getByRole("button", { name: "Request rotation" }).click();
    await p2.getByTestId("rotation-plan").waitFor();
    await p2.waitForFunction(() => {
      const s = document.querySelector('[data-testid="deployment-status"]')?.textContent;
      return s && s !== "planning";
    }, null, { timeout: 60000 });
    facts.plannedStatus = await p2.getByTestId("deployment-status").innerText();
    facts.deploymentUrl = new URL(p2.url()).pathname + new URL(p2.url()).search;
    await p2.getByRole("list", { name: "Rotation steps" }).waitFor();
    facts.rotationPlan = await p2.getByTestId("rotation-plan").innerText();
    facts.requesterApproveButtons = await p2.getByRole("button", { name: "Approve and apply" }).count();
    facts.requesterNote = await p2.getByTestId("two-person-note").innerText();
    facts.requesterStepsDone = await stepsDone(p2);
    await shot(p2, "rotation-requested");

    // The administrator approves it (asked first) and follows the steps to the end.
    await visit(page, facts.deploymentUrl);
    await page.getByRole("button", { name: "Approve and apply" }).click();
    const ask = page.getByRole("alertdialog", { name: "Confirm" });
    facts.approveQuestion = await ask.innerText();
    facts.statusWhileAsking = await page.getByTestId("deployment-status").innerText();
    await ask.getByRole("button", { name: "Yes, approve and apply" }).click();
    await page.waitForFunction(() => {
      const s = document.querySelector('[data-testid="deployment-status"]')?.textContent;
      return s === "succeeded" || s === "failed";
    }, null, { timeout: 120000 });
    await page.getByText("Log complete.").waitFor({ timeout: 30000 });
    facts.finalStatus = await page.getByTestId("deployment-status").innerText();
    facts.finalText = await page.locator("section.card").filter({ hasText: "Deployment #" }).innerText();
    facts.finalLog = await page.getByLabel("Deployment log", { exact: true }).innerText();
    await page.getByRole("list", { name: "Rotation steps" }).locator("li.done").nth(3).waitFor({ timeout: 10000 }).catch(() => {});
    facts.stepsDone = await stepsDone(page);
    await shot(page, "rotation-done");
    for (const size of SIZES) {
      await page.setViewportSize(size);
      await visit(page, facts.deploymentUrl);
      await settle(page);
      await page.getByText("Log complete.").waitFor({ timeout: 30000 });
      await checkPage(page, "rotation", size);
    }

    // The requester's page, reloaded, shows the same end.
    await visit(p2, facts.deploymentUrl);
    await p2.getByText("Log complete.").waitFor({ timeout: 30000 });
    facts.requesterFinal = await p2.getByTestId("deployment-status").innerText();
    await p2.getByRole("list", { name: "Rotation steps" }).locator("li.done").nth(3).waitFor({ timeout: 10000 }).catch(() => {});
    facts.requesterStepsAfter = await stepsDone(p2);
  } finally {
    await other.close();
  }
}

const SCENARIOS = { admin, operator, auditor, sweep, bench, connections, rotation };

async function main() {
  const browser = await chromium.launch({
    executablePath: cfg.chromium,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"],
  });
  let error = null;
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    page.setDefaultTimeout(20000);
    page.on("console", (msg) => {
      if (msg.type() !== "error") return;
      const t = msg.text();
      if (!expectedErrors.some((re) => re.test(t))) consoleErrors.push(`${msg.location().url}: ${t}`);
    });
    page.on("pageerror", (err) => consoleErrors.push(`uncaught: ${err.message}`));
    await SCENARIOS[scenario](page);
    facts.accounts = cfg.accounts;
  } catch (err) {
    error = err instanceof Error ? err.stack ?? err.message : String(err);
    try {
      const pages = browser.contexts().flatMap((c) => c.pages());
      if (pages[0]) {
        await shot(pages[0], `failure-${scenario}`);
        facts.failurePageText = (await text(pages[0])).slice(0, 4000);
      }
    } catch {
      // The failure itself is what matters.
    }
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify({ ok: error === null, error, facts, consoleErrors, screenshots }) + "\n");
}

await main();
