import { buildDiagram, findingsFor, layout, lookOf, routeEdge, searchNodes, worstSeverity, type DiagramModel, type LayerId } from "./diagram";

const blueprint = {
  metadata: { name: "dc", environment: "prod", domain: "example.com" },
  hosts: [
    { name: "cp-a", address: "10.0.0.1", zone: "zone-a", rack: "r1", roles: ["compute"] },
    { name: "wk-a", address: "10.0.0.2", zone: "zone-a", rack: "r1", roles: ["compute", "storage"] },
  ],
  orchestration: { clusters: [{ name: "k8s", kind: "kubernetes", version: "1.35", control_plane: ["cp-a"], workers: ["wk-a"] }] },
  storage: { ceph: [{ name: "ceph-main", mode: "rook", kubernetes_cluster: "k8s", pools: [{ name: "blk", type: "block" }] }] },
  security: { tls: { ca: { name: "int-ca", common_name: "CA" } }, firewall: { rules: [{ name: "r" }] } },
  cicd: { zuul: { tenant: "t", url: "https://z" }, pipelines: [{ name: "p1", provider: "zuul", repository: "o/r" }] },
  configuration: { chef: { server_url: "https://chef", organization: "o", roles: [] } },
  databases: [{ name: "pg", engine: "postgresql", version: "16", primary: true, cluster: "k8s" }],
  services: {
    backend: [{ name: "api", cluster: "k8s", image: "i", databases: ["pg"], ports: [] }],
    frontend: [{ name: "web", cluster: "k8s", image: "i", backends: ["api"] }],
  },
  ha: { load_balancers: [{ name: "lb", frontends: [{ name: "f", port: 443, backend: "web" }, { name: "k", port: 6443, backend: "kubernetes-api:k8s" }] }] },
};

describe("buildDiagram", () => {
  const model = buildDiagram(blueprint);

  it("puts every plan layer's components in their layer, with policy component ids", () => {
    const byLayer = (l: string) => model.nodes.filter((n) => n.layer === l).map((n) => n.id);
    expect(byLayer("frontend")).toEqual(["frontend/web"]);
    expect(byLayer("backend")).toEqual(["service/api"]);
    expect(byLayer("ha")).toEqual(["load-balancer/lb"]);
    expect(byLayer("databases")).toEqual(["database/pg"]);
    expect(byLayer("configuration")).toEqual(["configuration/chef"]);
    expect(byLayer("cicd")).toEqual(["cicd/zuul", "pipeline/p1"]);
    expect(byLayer("security")).toEqual(["security/ca", "security/encryption", "security/firewall", "security/access-control"]);
    expect(byLayer("storage")).toEqual(["ceph/ceph-main"]);
    expect(byLayer("orchestration")).toEqual(["cluster/k8s"]);
    expect(byLayer("hosts")).toEqual(["host/cp-a", "host/wk-a"]);
  });

  it("links what the blueprint references, resolving workload kinds and the kubernetes API", () => {
    const has = (from: string, to: string) => model.edges.some((e) => e.from === from && e.to === to);
    expect(has("frontend/web", "service/api")).toBe(true);
    expect(has("service/api", "database/pg")).toBe(true);
    expect(has("database/pg", "cluster/k8s")).toBe(true);
    expect(has("cluster/k8s", "host/wk-a")).toBe(true);
    expect(has("ceph/ceph-main", "cluster/k8s")).toBe(true);
    expect(has("load-balancer/lb", "frontend/web")).toBe(true);
    expect(has("load-balancer/lb", "cluster/k8s")).toBe(true);
    expect(has("pipeline/p1", "cicd/zuul")).toBe(true);
  });

  it("drops links to unknown names instead of drawing them to nowhere", () => {
    const m = buildDiagram({ services: { backend: [{ name: "a", cluster: "nope", databases: ["gone"] }] } });
    expect(m.edges).toEqual([]);
  });

  it("survives an empty or malformed blueprint", () => {
    expect(buildDiagram(null).nodes.map((n) => n.layer)).toEqual(["security", "security", "security", "security"]);
    expect(() => buildDiagram({ hosts: "x", databases: [null] })).not.toThrow();
  });
});

describe("findings and state", () => {
  const model = buildDiagram(blueprint);
  const pg = model.nodes.find((n) => n.id === "database/pg");
  const api = model.nodes.find((n) => n.id === "service/api");
  if (!pg || !api) throw new Error("fixture");

  it("attaches findings by component id or by blueprint path under the node", () => {
    const findings = [
      { severity: "high", component: "database/pg", path: "databases[0].replicas" },
      { severity: "low", component: null, path: "databases[0].backup" },
      { severity: "low", component: null, path: "databases[10]" },
      { severity: "medium", component: "service/api", path: "services.backend[0]" },
    ];
    expect(findingsFor(pg, findings).map((f) => f.severity)).toEqual(["high", "low"]);
    expect(worstSeverity(pg, findings)).toBe("high");
    expect(lookOf(pg, findings).findings).toBe("error");
    expect(lookOf(api, findings).findings).toBe("warning");
  });

  it("ignores suppressed findings and counts info as none", () => {
    expect(worstSeverity(pg, [{ severity: "critical", component: "database/pg", suppressed: true }])).toBeNull();
    expect(lookOf(pg, [{ severity: "critical", component: "database/pg", suppressed: true }]).findings).toBe("ok");
    expect(lookOf(pg, [{ severity: "info", component: "database/pg" }]).findings).toBe("ok");
    expect(worstSeverity(pg, [{ severity: "bogus", component: "database/pg" }])).toBeNull();
  });
});

describe("colouring: fill by health, border by findings", () => {
  const pg = buildDiagram(blueprint).nodes.find((n) => n.id === "database/pg");
  if (!pg) throw new Error("fixture");
  const high = [{ severity: "high", component: "database/pg" }];

  it("fills from findings alone while health is unknown or not reported", () => {
    for (const health of [undefined, "unknown"] as const) {
      const look = lookOf(pg, high, health);
      expect(look.health).toBe("unknown");
      expect(look.classes).toEqual(["state-error"]);
      expect(look.text).toBe("health unknown; has serious findings");
    }
    expect(lookOf(pg, []).classes).toEqual(["state-ok"]);
  });

  it("fills from live health and keeps the worst finding as the border", () => {
    expect(lookOf(pg, high, "healthy").classes).toEqual(["health-healthy", "border-error"]);
    expect(lookOf(pg, [], "down").classes).toEqual(["health-down", "border-ok"]);
    expect(lookOf(pg, [{ severity: "medium", component: "database/pg" }], "degraded").classes).toEqual(["health-degraded", "border-warning"]);
    const look = lookOf(pg, high, "down");
    expect(look.findings).toBe("error");
    expect(look.worst).toBe("high");
    expect(look.text).toBe("down; has serious findings");
  });

  it("never lets a healthy engine hide a serious finding, nor findings hide an outage", () => {
    expect(lookOf(pg, high, "healthy").findings).toBe("error");
    expect(lookOf(pg, [], "down").health).toBe("down");
  });
});

describe("layout", () => {
  it("wraps long layers and never overlaps boxes", () => {
    const many = { hosts: Array.from({ length: 20 }, (_, i) => ({ name: `h${i}`, zone: "z" })) };
    const l = layout(buildDiagram(many), 1180);
    const boxes = [...l.placed.values()];
    for (const a of boxes) {
      for (const b of boxes) {
        if (a === b) continue;
        const overlap = Math.abs(a.x - b.x) < l.boxW && Math.abs(a.y - b.y) < l.boxH;
        expect(overlap).toBe(false);
      }
      expect(a.x + l.boxW).toBeLessThanOrEqual(l.width);
    }
    expect(new Set(boxes.filter((b) => b.node.layer === "hosts").map((b) => b.y)).size).toBe(4); // 6 boxes of 156px fit beside the labels
  });
});

/** 200 components over every layer, each linked to three others anywhere in the drawing. */
function big(): DiagramModel {
  const layers: LayerId[] = ["frontend", "backend", "ha", "databases", "configuration", "cicd", "security", "storage", "orchestration", "hosts"];
  const nodes = Array.from({ length: 200 }, (_, i) => ({
    id: `c/${i}`,
    layer: layers[i % layers.length] ?? "hosts",
    name: `component-${i}`,
    sub: i % 7 === 0 ? "postgresql" : "service",
    path: `x[${i}]`,
    details: [] as [string, string][],
  }));
  const edges = nodes.flatMap((_, i) => [1, 17, 93].map((k) => ({ from: `c/${i}`, to: `c/${(i * k + 5) % 200}` })));
  return { nodes, edges: edges.filter((e) => e.from !== e.to) };
}

/** The axis-aligned segments of a path of M/H/V commands. */
function segments(path: string): [number, number, number, number][] {
  const out: [number, number, number, number][] = [];
  let x = 0;
  let y = 0;
  for (const [, cmd, args] of path.matchAll(/([MHV])([^MHV]+)/g)) {
    const [p, q] = (args ?? "").split(",").map(Number);
    if (cmd === "M") [x, y] = [p ?? 0, q ?? 0];
    else if (cmd === "H") { out.push([x, y, p ?? 0, y]); x = p ?? 0; }
    else { out.push([x, y, x, p ?? 0]); y = p ?? 0; }
  }
  return out;
}

describe("edges at 200 components", () => {
  it("never cross a box, the two ends' boxes included", () => {
    const model = big();
    for (const width of [500, 800, 1180]) {
      const l = layout(model, width);
      const boxes = [...l.placed.values()];
      let crossings = 0;
      for (const e of model.edges) {
        const a = l.placed.get(e.from);
        const b = l.placed.get(e.to);
        if (!a || !b) continue;
        for (const [x1, y1, x2, y2] of segments(routeEdge(a, b, l))) {
          for (const box of boxes) {
            // Strictly inside the box's interior (touching its border where an edge ends is fine).
            const inX = Math.max(x1, x2) > box.x && Math.min(x1, x2) < box.x + l.boxW;
            const inY = Math.max(y1, y2) > box.y && Math.min(y1, y2) < box.y + l.boxH;
            if (inX && inY) crossings += 1;
          }
        }
      }
      expect(crossings).toBe(0);
    }
  });

  it("finds components by name, kind or id", () => {
    const model = big();
    expect(searchNodes(model, "component-19").map((n) => n.id)).toEqual(["c/19", "c/190", "c/191", "c/192", "c/193", "c/194", "c/195", "c/196", "c/197", "c/198", "c/199"]);
    expect(searchNodes(model, "POSTGRES")).toHaveLength(29);
    expect(searchNodes(model, "  ")).toEqual([]);
  });
});
