/**
 * The architecture diagram's model: every component of a blueprint placed in its layer, the
 * links between them, and each component's state from policy findings and live health.
 * Component ids are the policy engine's `kind/name` ids so findings attach without guessing.
 */

export type Severity = "info" | "low" | "medium" | "high" | "critical";
export const SEVERITIES: readonly Severity[] = ["critical", "high", "medium", "low", "info"];

export type LayerId =
  | "frontend"
  | "backend"
  | "ha"
  | "databases"
  | "configuration"
  | "cicd"
  | "security"
  | "storage"
  | "orchestration"
  | "hosts";

export const LAYERS: readonly { id: LayerId; title: string }[] = [
  { id: "frontend", title: "Frontend" },
  { id: "backend", title: "Backend services" },
  { id: "ha", title: "HA / load balancing" },
  { id: "databases", title: "Databases" },
  { id: "configuration", title: "Configuration" },
  { id: "cicd", title: "CI/CD" },
  { id: "security", title: "Security" },
  { id: "storage", title: "Storage" },
  { id: "orchestration", title: "Orchestration" },
  { id: "hosts", title: "Hosts" },
];

export type Health = "healthy" | "degraded" | "down" | "unknown";
/** A component's state from its policy findings alone. */
export type State = "ok" | "warning" | "error";

export interface DiagramNode {
  id: string;
  layer: LayerId;
  name: string;
  /** A short second line: engine, kind, counts. */
  sub: string;
  /** Dotted blueprint path (`databases[0]`), the prefix of its findings' paths. */
  path: string;
  details: [string, string][];
}

export interface DiagramEdge {
  from: string;
  to: string;
}

export interface DiagramModel {
  nodes: DiagramNode[];
  edges: DiagramEdge[];
}

export interface FindingLike {
  severity: string;
  component?: string | null;
  path?: string | null;
  suppressed?: boolean | null;
}

type Obj = Record<string, unknown>;

function obj(v: unknown): Obj {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Obj) : {};
}
function list(v: unknown): Obj[] {
  return Array.isArray(v) ? v.map(obj) : [];
}
function str(v: unknown): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return "";
}
function names(v: unknown): string[] {
  return Array.isArray(v) ? v.map(str).filter(Boolean) : [];
}
function yesNo(v: unknown, dflt: boolean): string {
  return (typeof v === "boolean" ? v : dflt) ? "yes" : "no";
}

/** Build the diagram of a blueprint given as plain JSON (the API's parsed form). */
export function buildDiagram(blueprint: unknown): DiagramModel {
  const bp = obj(blueprint);
  const nodes: DiagramNode[] = [];
  const edges: DiagramEdge[] = [];
  const ids = new Set<string>();
  const add = (n: DiagramNode) => {
    if (!ids.has(n.id)) {
      ids.add(n.id);
      nodes.push(n);
    }
  };
  const link = (from: string, to: string) => {
    edges.push({ from, to });
  };
  const workloadIds = new Map<string, string>();

  list(obj(bp.services).frontend).forEach((f, i) => {
    const id = `frontend/${str(f.name)}`;
    workloadIds.set(str(f.name), id);
    add({
      id, layer: "frontend", name: str(f.name), sub: `${str(f.replicas) || "2"} replicas`,
      path: `services.frontend[${i}]`,
      details: [["cluster", str(f.cluster)], ["image", str(f.image)], ["exposed at", str(obj(f.expose).host) || "not exposed"]],
    });
  });
  list(obj(bp.services).backend).forEach((s, i) => {
    const id = `service/${str(s.name)}`;
    workloadIds.set(str(s.name), id);
    const auto = obj(s.autoscaling);
    add({
      id, layer: "backend", name: str(s.name),
      sub: auto.max_replicas !== undefined ? `${str(auto.min_replicas)}–${str(auto.max_replicas)} replicas` : `${str(s.replicas) || "2"} replicas`,
      path: `services.backend[${i}]`,
      details: [["cluster", str(s.cluster)], ["image", str(s.image)], ["databases", names(s.databases).join(", ") || "none"], ["exposed at", str(obj(s.expose).host) || "not exposed"]],
    });
  });
  list(obj(bp.ha).load_balancers).forEach((lb, i) => {
    add({
      id: `load-balancer/${str(lb.name)}`, layer: "ha", name: str(lb.name),
      sub: `${str(lb.kind) || "haproxy"}${lb.virtual_ip ? ` · ${str(lb.virtual_ip)}` : ""}`,
      path: `ha.load_balancers[${i}]`,
      details: [["hosts", names(lb.hosts).join(", ")], ["frontends", list(lb.frontends).map((f) => `${str(f.name)}:${str(f.port)}→${str(f.backend)}`).join(", ")]],
    });
  });
  list(bp.databases).forEach((d, i) => {
    add({
      id: `database/${str(d.name)}`, layer: "databases", name: str(d.name),
      sub: `${str(d.engine)} ${str(d.version)}${d.primary === true ? " · primary" : ""}`,
      path: `databases[${i}]`,
      details: [["engine", str(d.engine)], ["replicas", str(d.replicas) || "3"], ["cluster", str(d.cluster) || (d.managed ? "managed" : "")], ["encrypted at rest", yesNo(d.encryption_at_rest, true)], ["TLS", yesNo(d.tls, true)]],
    });
  });
  const chef = obj(obj(bp.configuration).chef);
  if (Object.keys(chef).length > 0) {
    add({
      id: "configuration/chef", layer: "configuration", name: "chef", sub: `${list(chef.roles).length} roles`,
      path: "configuration.chef",
      details: [["server", str(chef.server_url)], ["organization", str(chef.organization)], ["policy group", str(chef.policy_group) || "prod"]],
    });
  }
  const cicd = obj(bp.cicd);
  for (const provider of ["zuul", "github", "gitlab"] as const) {
    const p = obj(cicd[provider]);
    if (Object.keys(p).length > 0) {
      add({
        id: `cicd/${provider}`, layer: "cicd", name: provider, sub: str(p.tenant) || str(p.organization) || str(p.group),
        path: `cicd.${provider}`, details: Object.entries(p).map(([k, v]) => [k, Array.isArray(v) ? names(v).join(", ") : str(v)]),
      });
    }
  }
  list(cicd.pipelines).forEach((p, i) => {
    const id = `pipeline/${str(p.name)}`;
    add({
      id, layer: "cicd", name: str(p.name), sub: `${str(p.provider)} pipeline`, path: `cicd.pipelines[${i}]`,
      details: [["repository", str(p.repository)], ["stages", names(p.stages).join(" → ")], ["deploys to", str(p.deploy_environment) || "—"]],
    });
    link(id, `cicd/${str(p.provider)}`);
  });
  const sec = obj(bp.security);
  const tls = obj(sec.tls);
  const ca = obj(tls.ca);
  add({
    id: "security/ca", layer: "security", name: str(ca.name) || "internal CA", sub: `TLS ${str(tls.min_version) || "1.3"} · ${str(ca.key_algorithm) || "ecdsa-p256"}`,
    path: "security.tls.ca", details: [["common name", str(ca.common_name)], ["certificate validity", `${str(ca.certificate_validity_days) || "90"} days`]],
  });
  const enc = obj(sec.encryption);
  add({
    id: "security/encryption", layer: "security", name: "encryption", sub: `at rest: ${str(obj(enc.at_rest).provider) || "kms"}`,
    path: "security.encryption",
    details: [["mutual TLS", yesNo(obj(enc.in_transit).mutual_tls, false)], ["internal TLS", yesNo(obj(enc.in_transit).internal_tls, true)], ["databases at rest", yesNo(obj(enc.at_rest).databases, true)]],
  });
  const fw = obj(sec.firewall);
  add({
    id: "security/firewall", layer: "security", name: "firewall", sub: `default ${str(fw.default_policy) || "deny"} · ${list(fw.rules).length} rules`,
    path: "security.firewall", details: [["zones", list(fw.zones).map((z) => str(z.name)).join(", ")]],
  });
  const ac = obj(sec.access_control);
  add({
    id: "security/access-control", layer: "security", name: "access control", sub: `${list(ac.bindings).length} bindings`,
    path: "security.access_control", details: [["MFA required for", names(ac.mfa_required_for).join(", ") || "admin"], ["session", `${str(ac.session_minutes) || "15"} min`]],
  });
  const storage = obj(bp.storage);
  list(storage.ceph).forEach((c, i) => {
    const id = `ceph/${str(c.name)}`;
    add({
      id, layer: "storage", name: str(c.name), sub: `ceph (${str(c.mode) || "rook"}) · ${list(c.pools).length} pools`, path: `storage.ceph[${i}]`,
      details: [["pools", list(c.pools).map((p) => `${str(p.name)} (${str(p.type)})`).join(", ")], ["failure domain", str(c.failure_domain) || "host"], ["OSD encryption", yesNo(c.encryption, true)]],
    });
    if (c.kubernetes_cluster) link(id, `cluster/${str(c.kubernetes_cluster)}`);
  });
  list(storage.openstack).forEach((o, i) => {
    add({ id: `openstack/${str(o.name)}`, layer: "storage", name: str(o.name), sub: `openstack · ${str(o.region) || "RegionOne"}`, path: `storage.openstack[${i}]`, details: [["auth URL", str(o.auth_url)], ["project", str(o.project)]] });
  });
  list(storage.vsphere).forEach((v, i) => {
    add({ id: `vsphere/${str(v.name)}`, layer: "storage", name: str(v.name), sub: `vsphere · ${str(v.datacenter)}`, path: `storage.vsphere[${i}]`, details: [["vCenter", str(v.vcenter)], ["cluster", str(v.cluster)]] });
  });
  list(obj(bp.orchestration).clusters).forEach((c, i) => {
    const id = `cluster/${str(c.name)}`;
    const cp = names(c.control_plane);
    const wk = names(c.workers);
    add({
      id, layer: "orchestration", name: str(c.name), sub: `${str(c.kind)}${c.version ? ` ${str(c.version)}` : ""} · ${new Set([...cp, ...wk]).size} nodes`,
      path: `orchestration.clusters[${i}]`, details: [["control plane", cp.join(", ") || "—"], ["workers", wk.join(", ") || "—"]],
    });
    for (const h of new Set([...cp, ...wk])) link(id, `host/${h}`);
  });
  list(bp.hosts).forEach((h, i) => {
    add({
      id: `host/${str(h.name)}`, layer: "hosts", name: str(h.name), sub: `${str(h.zone)} · ${names(h.roles).join(", ") || "host"}`,
      path: `hosts[${i}]`, details: [["address", str(h.address)], ["zone / rack", `${str(h.zone)} / ${str(h.rack)}`], ["CPUs / memory", `${str(h.cpus) || "8"} / ${str(h.memory_gib) || "32"} GiB`]],
    });
  });

  // Links that depend on names resolved above.
  for (const w of [...list(obj(bp.services).frontend), ...list(obj(bp.services).backend)]) {
    const id = workloadIds.get(str(w.name)) ?? "";
    for (const b of names(w.backends)) link(id, workloadIds.get(b) ?? `service/${b}`);
    for (const d of names(w.databases)) link(id, `database/${d}`);
    for (const d of names(w.depends_on)) link(id, workloadIds.get(d) ?? `service/${d}`);
    if (w.cluster) link(id, `cluster/${str(w.cluster)}`);
  }
  for (const d of list(bp.databases)) if (d.cluster) link(`database/${str(d.name)}`, `cluster/${str(d.cluster)}`);
  for (const lb of list(obj(bp.ha).load_balancers)) {
    for (const f of list(lb.frontends)) {
      const target = str(f.backend);
      link(`load-balancer/${str(lb.name)}`, workloadIds.get(target) ?? `cluster/${target.replace(/^kubernetes-api:/, "")}`);
    }
  }
  return { nodes, edges: edges.filter((e) => ids.has(e.from) && ids.has(e.to) && e.from !== e.to) };
}

const RANK: Record<string, number> = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };

/** The findings that concern a node: by component id, or by a path under the node's path. */
export function findingsFor<F extends FindingLike>(node: DiagramNode, findings: readonly F[]): F[] {
  return findings.filter((f) => {
    if (f.component === node.id) return true;
    const p = f.path ?? "";
    return p === node.path || p.startsWith(`${node.path}.`) || p.startsWith(`${node.path}[`);
  });
}

/** The worst unsuppressed finding severity of a node, or null when it has none. */
export function worstSeverity(node: DiagramNode, findings: readonly FindingLike[]): Severity | null {
  let worst: Severity | null = null;
  let worstRank = -1;
  for (const f of findingsFor(node, findings)) {
    const rank = RANK[f.severity];
    if (f.suppressed === true || rank === undefined) continue;
    if (rank > worstRank) {
      worstRank = rank;
      worst = SEVERITIES.find((s) => s === f.severity) ?? null;
    }
  }
  return worst;
}

/** How a node is drawn: fill from live health when the engine reports it, else from findings;
 * border and badge from the worst finding, so neither signal hides the other. */
export interface NodeLook {
  /** The findings-only state (`data-state`): ok, warning (low/medium) or error (high/critical). */
  findings: State;
  worst: Severity | null;
  health: Health;
  /** CSS classes of the box: `health-*` when health is known, `state-*` otherwise, and `border-*`. */
  classes: string[];
  /** Words for screen readers. */
  text: string;
}

const FINDINGS_TEXT = { ok: "no findings", warning: "has warnings", error: "has serious findings" };

export function lookOf(node: DiagramNode, findings: readonly FindingLike[], health: Health = "unknown"): NodeLook {
  const worst = worstSeverity(node, findings);
  const rank = worst === null ? -1 : (RANK[worst] ?? -1);
  const state = rank >= 3 ? "error" : rank >= 1 ? "warning" : "ok";
  const known = health !== "unknown";
  return {
    findings: state,
    worst,
    health,
    classes: known ? [`health-${health}`, `border-${state}`] : [`state-${state}`],
    text: `${known ? health : "health unknown"}; ${FINDINGS_TEXT[state]}`,
  };
}

export interface Placed {
  node: DiagramNode;
  x: number;
  y: number;
}

export interface Layout {
  width: number;
  height: number;
  boxW: number;
  boxH: number;
  rows: { layer: (typeof LAYERS)[number]; y: number; height: number }[];
  placed: Map<string, Placed>;
}

/** The width of the band titles left of the boxes. */
export const LABEL_W = 150;
/** The narrowest layout: the band titles and two columns of boxes. */
export const MIN_WIDTH = LABEL_W + 2 * (156 + 12);

/** Place nodes in rows, one band per non-empty layer, wrapping long layers. */
export function layout(model: DiagramModel, width = 1180): Layout {
  const labelW = LABEL_W;
  const boxW = 156;
  const boxH = 46;
  const gap = 12;
  const perRow = Math.max(1, Math.floor((width - labelW + gap) / (boxW + gap)));
  const rows: Layout["rows"] = [];
  const placed = new Map<string, Placed>();
  let y = 10;
  for (const layer of LAYERS) {
    const inLayer = model.nodes.filter((n) => n.layer === layer.id);
    if (inLayer.length === 0) continue;
    const lines = Math.ceil(inLayer.length / perRow);
    const height = lines * boxH + (lines - 1) * gap + 24;
    rows.push({ layer, y, height });
    inLayer.forEach((node, i) => {
      const row = Math.floor(i / perRow);
      const col = i % perRow;
      placed.set(node.id, { node, x: labelW + col * (boxW + gap), y: y + 12 + row * (boxH + gap) });
    });
    y += height + 8;
  }
  return { width, height: y, boxW, boxH, rows, placed };
}

/**
 * An edge as an SVG path that never crosses a box: out of the source's bottom (or top, when
 * the target is above), along the free lane between rows, down the free gutter left of the
 * target's column, along the lane next to the target's row, and into the target.
 */
export function routeEdge(a: Placed, b: Placed, l: Pick<Layout, "boxW" | "boxH">, gap = 12): string {
  const half = gap / 2;
  const ax = a.x + l.boxW / 2;
  const bx = b.x + l.boxW / 2;
  if (b.y === a.y) {
    const lane = a.y + l.boxH + half;
    return `M${ax},${a.y + l.boxH}V${lane}H${bx}V${b.y + l.boxH}`;
  }
  const down = b.y > a.y;
  const startY = down ? a.y + l.boxH : a.y;
  const laneA = down ? startY + half : startY - half;
  const endY = down ? b.y : b.y + l.boxH;
  const laneB = down ? endY - half : endY + half;
  const gutter = b.x - half;
  return `M${ax},${startY}V${laneA}H${gutter}V${laneB}H${bx}V${endY}`;
}

/** Components whose name, kind or id contains `query` (case-insensitive); none for "". */
export function searchNodes(model: DiagramModel, query: string): DiagramNode[] {
  const q = query.trim().toLowerCase();
  if (!q) return [];
  return model.nodes.filter((n) => [n.id, n.name, n.sub].some((t) => t.toLowerCase().includes(q)));
}
