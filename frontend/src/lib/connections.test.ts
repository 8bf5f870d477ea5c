import { describe, expect, it } from "vitest";
import { clustersOf, connectionBody, EMPTY_FORM, withoutCredentials } from "./connections";

describe("clustersOf", () => {
  it("lists orchestration clusters, vSphere clusters and OpenStack clouds with their connection kind", () => {
    const parsed = {
      orchestration: {
        clusters: [
          { name: "k8s-prod", kind: "kubernetes" },
          { name: "swarm-edge", kind: "swarm" },
          { name: "podman-tools", kind: "podman", workers: ["pod-a", "pod-b"] },
        ],
      },
      storage: { vsphere: [{ name: "vsphere-main" }], openstack: [{ name: "openstack-main" }], ceph: [{ name: "ceph-main" }] },
    };
    expect(clustersOf(parsed)).toEqual([
      { name: "k8s-prod", kind: "kubernetes", connection: "kubernetes", hosts: [] },
      { name: "swarm-edge", kind: "swarm", connection: "docker", hosts: [] },
      { name: "podman-tools", kind: "podman", connection: "podman", hosts: ["pod-a", "pod-b"] },
      { name: "vsphere-main", kind: "vsphere", connection: "vsphere", hosts: [] },
      { name: "openstack-main", kind: "openstack", connection: "openstack", hosts: [] },
    ]);
  });

  it("is empty for a blueprint without clusters, and ignores malformed entries", () => {
    expect(clustersOf(null)).toEqual([]);
    expect(clustersOf({ orchestration: { clusters: [null, 3, { kind: "swarm" }] } })).toEqual([]);
  });
});

describe("connectionBody", () => {
  const form = { ...EMPTY_FORM, ca: "CA", cert: "CERT", key: "KEY", sshKey: "SSH", knownHosts: "h ssh-ed25519 AAAA", kubeconfig: "KC", username: "u", password: "pw" };

  it("sends TLS only for a TCP Docker host", () => {
    expect(connectionBody("docker", { ...form, endpoint: " tcp://10.0.0.5:2376 " })).toEqual({ kind: "docker", host: "tcp://10.0.0.5:2376", fallback_hosts: [], tls: { ca: "CA", cert: "CERT", key: "KEY" } });
    expect(connectionBody("docker", { ...form, endpoint: "unix:///var/run/docker.sock" })).toEqual({ kind: "docker", host: "unix:///var/run/docker.sock", fallback_hosts: [], tls: null });
  });

  it("sends further Swarm managers in the order given, blank lines dropped", () => {
    const body = connectionBody("docker", { ...form, endpoint: "tcp://m1:2376", fallbacks: "tcp://m2:2376\n\n  tcp://m3:2376 \n" });
    expect(body).toMatchObject({ host: "tcp://m1:2376", fallback_hosts: ["tcp://m2:2376", "tcp://m3:2376"] });
  });

  it("sends an SSH key and host key only for an ssh:// Podman URL", () => {
    expect(connectionBody("podman", { ...form, endpoint: "local" })).toEqual({ kind: "podman", url: "local" });
    expect(connectionBody("podman", { ...form, endpoint: "ssh://core@h:22/run/podman/podman.sock" })).toEqual({
      kind: "podman",
      url: "ssh://core@h:22/run/podman/podman.sock",
      ssh_key: "SSH",
      known_hosts: "h ssh-ed25519 AAAA",
    });
  });

  it("sends one Podman service per blueprint host, each with its own key only for ssh://", () => {
    const hosts = {
      "pod-a": { url: " ssh://root@10.0.1.5/run/podman/podman.sock ", sshKey: "KEY-A", knownHosts: " 10.0.1.5 ssh-ed25519 AAAA " },
      "pod-b": { url: "unix:///run/pod-b.sock", sshKey: "stale", knownHosts: "" },
    };
    expect(connectionBody("podman", { ...form, perHost: true, hosts, endpoint: "local" }, ["pod-a", "pod-b"])).toEqual({
      kind: "podman",
      hosts: {
        "pod-a": { url: "ssh://root@10.0.1.5/run/podman/podman.sock", ssh_key: "KEY-A", known_hosts: "10.0.1.5 ssh-ed25519 AAAA" },
        "pod-b": { url: "unix:///run/pod-b.sock" },
      },
    });
    // Without "per host", one engine stands for every host.
    expect(connectionBody("podman", { ...form, perHost: false, hosts, endpoint: "local" }, ["pod-a", "pod-b"])).toEqual({ kind: "podman", url: "local" });
    expect(withoutCredentials({ ...form, hosts }).hosts["pod-a"]).toEqual({ url: hosts["pod-a"].url, sshKey: "", knownHosts: hosts["pod-a"].knownHosts });
  });

  it("sends the kubeconfig and the context (null for the current one), and vSphere's fields", () => {
    expect(connectionBody("kubernetes", { ...form, context: "" })).toEqual({ kind: "kubernetes", kubeconfig: "KC", context: null });
    expect(connectionBody("vsphere", { ...form, endpoint: "https://vc/sdk", ca: "", verifyTls: false })).toEqual({
      kind: "vsphere",
      url: "https://vc/sdk",
      username: "u",
      password: "pw",
      ca: null,
      verify_tls: false,
    });
  });

  it("sends an OpenStack cloud's name and its clouds.yaml", () => {
    expect(connectionBody("openstack", { ...form, cloud: " prod ", cloudsYaml: "clouds: {}" })).toEqual({ kind: "openstack", cloud: "prod", clouds_yaml: "clouds: {}" });
  });

  it("blanks every credential and keeps the endpoint after a store", () => {
    const left = withoutCredentials({ ...form, endpoint: "tcp://h:2376", context: "ctx", cloudsYaml: "clouds: {}" });
    expect([left.ca, left.cert, left.key, left.sshKey, left.kubeconfig, left.password, left.cloudsYaml]).toEqual(["", "", "", "", "", "", ""]);
    expect(left.endpoint).toBe("tcp://h:2376");
    expect(left.context).toBe("ctx");
  });
});
