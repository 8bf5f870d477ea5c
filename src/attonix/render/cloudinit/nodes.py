"""Cluster nodes ready to join: what cloud-init writes and runs on a Kubernetes, Swarm or Podman
host so that it becomes a member of its cluster.

Kubernetes: containerd (systemd cgroups), kubelet/kubeadm/kubectl from the Kubernetes package
repository of the cluster's minor version (held there by an apt pin), ``overlay`` and
``br_netfilter`` loaded at boot, the bridge sysctls, swap off, and a kubeadm configuration:
``InitConfiguration`` on the first control-plane node, ``JoinConfiguration`` on the others.
Swarm: the first manager initialises the swarm, the others join it.

Join tokens are never in the user data: the configuration holds placeholders that
``attonix-cluster-join`` fills, at join time, from files delivered out of band into
``/etc/attonix/join/`` (``token``, ``ca-cert-hash``, ``certificate-key``), into a file on tmpfs
that is removed after the join.
"""

from __future__ import annotations

from typing import Any

import yaml

from attonix.blueprint.model import Blueprint, Cluster, Host
from attonix.policy import firewall

JOIN_DIR = "/etc/attonix/join"
JOIN_SCRIPT = "/usr/local/sbin/attonix-cluster-join"
KUBEADM_CONFIG = "/etc/kubernetes/attonix-kubeadm.yaml"
KUBERNETES_KEYRING = "/etc/apt/keyrings/kubernetes-apt-keyring.gpg"
KUBERNETES_PACKAGES = ("kubelet", "kubeadm", "kubectl")
KUBERNETES_SCRIPT = "/usr/local/sbin/attonix-kubernetes-packages"
MODULES_FILE = "/etc/modules-load.d/60-attonix-kubernetes.conf"
SYSCTL_FILE = "/etc/sysctl.d/61-attonix-kubernetes.conf"
APT_PIN_FILE = "/etc/apt/preferences.d/60-attonix-kubernetes"
CONTAINERD_SOCKET = "unix:///run/containerd/containerd.sock"
API_PORT = 6443
SWARM_PORT = 2377
# How long a node waits for its join material before giving up (seconds).
_WAIT_SECONDS = 3600


def kubernetes_cluster(bp: Blueprint, host: Host) -> Cluster | None:
    """The Kubernetes cluster the host is a node of, if any."""
    return next((c for c in firewall.clusters_of(bp, host) if c.kind == "kubernetes"), None)


def swarm_cluster(bp: Blueprint, host: Host) -> Cluster | None:
    """The Swarm the host is a manager or worker of, if any."""
    return next((c for c in firewall.clusters_of(bp, host) if c.kind == "swarm"), None)


def repository(bp: Blueprint, cluster: Cluster) -> str:
    """The apt repository of the cluster's Kubernetes minor version.

    A package mirror named ``kubernetes`` in ``network.package_mirrors`` replaces
    ``https://pkgs.k8s.io``.
    """
    base = "https://pkgs.k8s.io"
    for mirror in bp.network.package_mirrors:
        if mirror.name == "kubernetes":
            base = mirror.url.rstrip("/")
    return f"{base}/core:/stable:/v{cluster.version}/deb/"


def api_endpoint(bp: Blueprint, cluster: Cluster) -> str:
    """``host:port`` of the cluster's API: the load balancer that fronts it, else the first
    control-plane node."""
    for lb in bp.ha.load_balancers:
        for fe in lb.frontends:
            fronts = fe.backend in (cluster.name, f"kubernetes-api:{cluster.name}")
            if fronts and lb.virtual_ip is not None:
                return _hostport(str(lb.virtual_ip), fe.port)
    first = bp.hosts_by_name[cluster.control_plane[0]]
    return _hostport(str(first.address), API_PORT)


def _hostport(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _api_version(cluster: Cluster) -> str:
    major, minor = (int(p) for p in (cluster.version or "1.31").split("."))
    # kubeadm's v1beta4 API arrived in 1.31; earlier releases read only v1beta3.
    return "kubeadm.k8s.io/v1beta4" if (major, minor) >= (1, 31) else "kubeadm.k8s.io/v1beta3"


def _node_registration(host: Host, api: str) -> dict[str, Any]:
    reg: dict[str, Any] = {"name": host.name, "criSocket": CONTAINERD_SOCKET}
    ip = str(host.address)
    if api.endswith("v1beta4"):
        reg["kubeletExtraArgs"] = [{"name": "node-ip", "value": ip}]
    else:
        reg["kubeletExtraArgs"] = {"node-ip": ip}
    return reg


def kubeadm_config(bp: Blueprint, host: Host, cluster: Cluster) -> str:
    """The kubeadm configuration for the node, with ``@TOKEN@``, ``@CA_CERT_HASH@`` and
    ``@CERTIFICATE_KEY@`` where the delivered join material goes."""
    api = _api_version(cluster)
    endpoint = api_endpoint(bp, cluster)
    docs: list[dict[str, Any]]
    if host.name == cluster.control_plane[0]:
        docs = [
            {
                "apiVersion": api,
                "kind": "InitConfiguration",
                "bootstrapTokens": [{"token": "@TOKEN@", "ttl": "24h0m0s"}],
                "certificateKey": "@CERTIFICATE_KEY@",
                "localAPIEndpoint": {"advertiseAddress": str(host.address), "bindPort": API_PORT},
                "nodeRegistration": _node_registration(host, api),
            },
            {
                "apiVersion": api,
                "kind": "ClusterConfiguration",
                "clusterName": cluster.name,
                "kubernetesVersion": f"stable-{cluster.version}",
                "controlPlaneEndpoint": endpoint,
                "networking": {
                    "podSubnet": cluster.network.pod_cidr,
                    "serviceSubnet": cluster.network.service_cidr,
                },
            },
        ]
    else:
        join: dict[str, Any] = {
            "apiVersion": api,
            "kind": "JoinConfiguration",
            "discovery": {
                "bootstrapToken": {
                    "apiServerEndpoint": endpoint,
                    "token": "@TOKEN@",
                    "caCertHashes": ["@CA_CERT_HASH@"],
                }
            },
            "nodeRegistration": _node_registration(host, api),
        }
        if host.name in cluster.control_plane:
            join["controlPlane"] = {
                "localAPIEndpoint": {"advertiseAddress": str(host.address), "bindPort": API_PORT},
                "certificateKey": "@CERTIFICATE_KEY@",
            }
        docs = [join]
    header = (
        f"# Managed by attonix: kubeadm configuration of {host.name} in cluster {cluster.name}.\n"
        f"# The @...@ placeholders are filled at join time from {JOIN_DIR}/.\n"
    )
    return header + "---\n".join(yaml.safe_dump(d, sort_keys=False) for d in docs)


def _kubernetes_script(bp: Blueprint, cluster: Cluster) -> str:
    repo = repository(bp, cluster)
    pkgs = " ".join(KUBERNETES_PACKAGES)
    return f"""\
#!/bin/sh
# Managed by attonix: kubelet, kubeadm and kubectl {cluster.version} from {repo}
# (held at that minor version by {APT_PIN_FILE}), containerd with systemd cgroups, swap off.
set -eu
swapoff -a
sed -i '/^[^#].*[[:space:]]swap[[:space:]]/ s/^/#/' /etc/fstab
modprobe overlay
modprobe br_netfilter
sysctl --system >/dev/null
install -d -m 0755 /etc/containerd /etc/apt/keyrings
containerd config default | sed 's/SystemdCgroup = false/SystemdCgroup = true/' \\
  > /etc/containerd/config.toml
systemctl restart containerd
curl -fsSL {repo}Release.key | gpg --dearmor --yes -o {KUBERNETES_KEYRING}
echo 'deb [signed-by={KUBERNETES_KEYRING}] {repo} /' \\
  > /etc/apt/sources.list.d/kubernetes.list
apt-get update -q
apt-get install -y -q {pkgs}
apt-mark hold {pkgs}
systemctl enable kubelet
"""


def _join_script(bp: Blueprint, host: Host, cluster: Cluster) -> str:
    wait = f"""\
#!/bin/sh
# Managed by attonix: join {host.name} to {cluster.kind} cluster {cluster.name} once the join
# material (secret '{cluster.name}-join') has been delivered to {JOIN_DIR}/.
set -eu
wait_for() {{
  waited=0
  while [ ! -s "{JOIN_DIR}/$1" ]; do
    if [ "$waited" -ge {_WAIT_SECONDS} ]; then
      echo "attonix: {JOIN_DIR}/$1 was not delivered" >&2; exit 1
    fi
    sleep 10; waited=$((waited + 10))
  done
}}
"""
    if cluster.kind == "swarm":
        first = bp.hosts_by_name[cluster.control_plane[0]]
        addr = str(host.address)
        state = "docker info --format '{{.Swarm.LocalNodeState}}'"
        if host.name == first.name:
            return wait + (
                f'[ "$({state})" = active ] && exit 0\n'
                f"docker swarm init --advertise-addr {addr} --listen-addr "
                f"{_hostport(addr, SWARM_PORT)}\n"
            )
        role = "manager" if host.name in cluster.control_plane else "worker"
        return wait + (
            f'[ "$({state})" = active ] && exit 0\n'
            f"wait_for {role}-token\n"
            f'docker swarm join --token "$(cat {JOIN_DIR}/{role}-token)" '
            f"--advertise-addr {addr} {_hostport(str(first.address), SWARM_PORT)}\n"
        )
    needs = ["token", "certificate-key"]
    if host.name != cluster.control_plane[0]:
        needs = ["token", "ca-cert-hash"] + (
            ["certificate-key"] if host.name in cluster.control_plane else []
        )
    subst = " ".join(
        f'-e "s|@{n.upper().replace("-", "_")}@|$(cat {JOIN_DIR}/{n})|"' for n in needs
    )
    action = "init" if host.name == cluster.control_plane[0] else "join"
    upload = " --upload-certs" if action == "init" else ""
    return wait + (
        "[ -f /etc/kubernetes/kubelet.conf ] && exit 0\n"
        + "".join(f"wait_for {n}\n" for n in needs)
        + "install -d -m 0700 /run/attonix\n"
        + "umask 077\n"
        + f"sed {subst} {KUBEADM_CONFIG} > /run/attonix/kubeadm.yaml\n"
        + "trap 'rm -f /run/attonix/kubeadm.yaml' EXIT\n"
        + f"kubeadm {action} --config /run/attonix/kubeadm.yaml{upload}\n"
    )


def node_files(bp: Blueprint, host: Host) -> list[tuple[str, str, str]]:
    """``(path, content, mode)`` of the files that make the host ready to join its cluster."""
    out: list[tuple[str, str, str]] = []
    k8s = kubernetes_cluster(bp, host)
    if k8s is not None:
        out += [
            (
                MODULES_FILE,
                "# Managed by attonix: container networking.\noverlay\nbr_netfilter\n",
                "0644",
            ),
            (
                SYSCTL_FILE,
                "# Managed by attonix: bridged pod traffic passes the host's filters.\n"
                "net.bridge.bridge-nf-call-iptables = 1\n"
                "net.bridge.bridge-nf-call-ip6tables = 1\n"
                "net.ipv4.ip_forward = 1\n",
                "0644",
            ),
            (
                APT_PIN_FILE,
                f"Package: {' '.join(KUBERNETES_PACKAGES)}\n"
                f"Pin: version {k8s.version}.*\nPin-Priority: 1001\n",
                "0644",
            ),
            (KUBERNETES_SCRIPT, _kubernetes_script(bp, k8s), "0750"),
            (KUBEADM_CONFIG, kubeadm_config(bp, host, k8s), "0600"),
            (JOIN_SCRIPT, _join_script(bp, host, k8s), "0750"),
        ]
    swarm = swarm_cluster(bp, host)
    if swarm is not None and k8s is None:
        out.append((JOIN_SCRIPT, _join_script(bp, host, swarm), "0750"))
    return out


def node_commands(bp: Blueprint, host: Host) -> list[str | list[str]]:
    """runcmd entries: install the Kubernetes packages, then join in the background."""
    cmds: list[str | list[str]] = []
    if kubernetes_cluster(bp, host) is not None:
        cmds.append([KUBERNETES_SCRIPT])
    if kubernetes_cluster(bp, host) is not None or swarm_cluster(bp, host) is not None:
        # Apart from cloud-init, so that waiting for the join material never holds up the boot.
        cmds.append(["systemd-run", "--unit=attonix-cluster-join", JOIN_SCRIPT])
    return cmds
