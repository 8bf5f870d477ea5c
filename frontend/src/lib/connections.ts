/**
 * The clusters of a blueprint that the Central Server reaches through a stored connection, and
 * the request body that stores one. Credentials go into the body and nowhere else: the API
 * never returns them, and the page forgets them as soon as they are sent.
 */
import type { components } from "../api/schema";

export type ConnectionKind = components["schemas"]["ConnectionOut"]["kind"];
export type ConnectionIn =
  | components["schemas"]["DockerIn"]
  | components["schemas"]["PodmanIn"]
  | components["schemas"]["KubernetesIn"]
  | components["schemas"]["VSphereIn"]
  | components["schemas"]["OpenStackIn"];

/** A cluster named in the blueprint, with the connection kind its deployments go through. */
export interface BlueprintCluster {
  name: string;
  /** What the blueprint calls it: kubernetes, swarm, podman, vsphere, openstack. */
  kind: string;
  /** The stored connection's kind, or null when the server has none for this kind. */
  connection: ConnectionKind | null;
  /** The blueprint hosts it runs on (control plane first, then workers; none for clouds). */
  hosts: string[];
}

const CONNECTION_OF: Record<string, ConnectionKind> = {
  swarm: "docker",
  podman: "podman",
  kubernetes: "kubernetes",
  vsphere: "vsphere",
  openstack: "openstack",
};

interface Named {
  name: string;
  kind?: string;
  control_plane?: unknown;
  workers?: unknown;
}

function named(list: unknown): Named[] {
  if (!Array.isArray(list)) return [];
  return list.filter((x): x is Named => typeof x === "object" && x !== null && typeof (x as { name?: unknown }).name === "string");
}

function strings(list: unknown): string[] {
  return Array.isArray(list) ? list.filter((x): x is string => typeof x === "string") : [];
}

/** The orchestration clusters, vSphere clusters and OpenStack clouds of a parsed blueprint. */
export function clustersOf(parsed: Record<string, unknown> | null | undefined): BlueprintCluster[] {
  const orchestration = (parsed?.orchestration ?? {}) as Record<string, unknown>;
  const storage = (parsed?.storage ?? {}) as Record<string, unknown>;
  const out: BlueprintCluster[] = [];
  for (const c of named(orchestration.clusters)) {
    const kind = c.kind ?? "unknown";
    const hosts = [...new Set([...strings(c.control_plane), ...strings(c.workers)])];
    out.push({ name: c.name, kind, connection: CONNECTION_OF[kind] ?? null, hosts });
  }
  for (const v of named(storage.vsphere)) out.push({ name: v.name, kind: "vsphere", connection: "vsphere", hosts: [] });
  for (const o of named(storage.openstack)) out.push({ name: o.name, kind: "openstack", connection: "openstack", hosts: [] });
  return out;
}

/** One host's Podman service in a connection per host. */
export interface HostForm {
  url: string;
  sshKey: string;
  knownHosts: string;
}

/** What the connection form holds; only the fields of the chosen kind are sent. */
export interface ConnectionForm {
  /** Podman on several hosts: one service per blueprint host (else one engine for all). */
  perHost: boolean;
  hosts: Record<string, HostForm>;
  endpoint: string;
  /** More Swarm managers, one a line, tried in that order after the endpoint. */
  fallbacks: string;
  cloud: string;
  cloudsYaml: string;
  ca: string;
  cert: string;
  key: string;
  sshKey: string;
  knownHosts: string;
  kubeconfig: string;
  context: string;
  username: string;
  password: string;
  verifyTls: boolean;
}

export const EMPTY_FORM: ConnectionForm = {
  perHost: false,
  hosts: {},
  endpoint: "",
  fallbacks: "",
  cloud: "",
  cloudsYaml: "",
  ca: "",
  cert: "",
  key: "",
  sshKey: "",
  knownHosts: "",
  kubeconfig: "",
  context: "",
  username: "",
  password: "",
  verifyTls: true,
};

/** The form with every credential blanked (after a store, or when the cluster changes). */
export function withoutCredentials(form: ConnectionForm): ConnectionForm {
  const hosts = Object.fromEntries(Object.entries(form.hosts).map(([h, f]) => [h, { ...f, sshKey: "" }]));
  return { ...form, hosts, ca: "", cert: "", key: "", sshKey: "", kubeconfig: "", password: "", cloudsYaml: "" };
}

/** Whether a Docker host needs mutual TLS (TCP) or a Podman URL an SSH key. */
export function needsTls(host: string): boolean {
  return host.trim().startsWith("tcp://");
}
export function needsSsh(url: string): boolean {
  return url.trim().startsWith("ssh://");
}

const orNull = (s: string) => (s.trim() ? s : null);

/** One Podman service's fields: an SSH key and host key only for an ssh:// URL. */
function podmanService(url: string, sshKey: string, knownHosts: string) {
  return needsSsh(url) ? { url: url.trim(), ssh_key: sshKey, known_hosts: knownHosts.trim() } : { url: url.trim() };
}

/** The PUT body for `kind` from the form: the fields of that kind only, nothing else.
 * `hosts`: the cluster's blueprint hosts (a Podman connection per host names each). */
export function connectionBody(kind: ConnectionKind, f: ConnectionForm, hosts: string[] = []): ConnectionIn {
  switch (kind) {
    case "docker":
      return {
        kind,
        host: f.endpoint.trim(),
        fallback_hosts: f.fallbacks.split("\n").map((h) => h.trim()).filter(Boolean),
        tls: needsTls(f.endpoint) ? { ca: f.ca, cert: f.cert, key: f.key } : null,
      };
    case "podman":
      if (f.perHost && hosts.length > 0) {
        const each = (h: string) => f.hosts[h] ?? { url: "", sshKey: "", knownHosts: "" };
        return { kind, hosts: Object.fromEntries(hosts.map((h) => [h, podmanService(each(h).url, each(h).sshKey, each(h).knownHosts)])) };
      }
      return { kind, ...podmanService(f.endpoint, f.sshKey, f.knownHosts) };
    case "kubernetes":
      return { kind, kubeconfig: f.kubeconfig, context: orNull(f.context.trim()) };
    case "vsphere":
      return { kind, url: f.endpoint.trim(), username: f.username.trim(), password: f.password, ca: orNull(f.ca), verify_tls: f.verifyTls };
    case "openstack":
      return { kind, cloud: f.cloud.trim(), clouds_yaml: f.cloudsYaml };
  }
}
