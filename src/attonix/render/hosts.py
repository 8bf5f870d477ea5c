"""Facts about the blueprint's Ubuntu hosts that the host-layer targets (cloud-init, nftables,
Chef) all need, computed in one place so that the three never disagree.

Zone membership: a host is in a firewall zone when its address lies inside one of the zone's
``cidrs``; a load-balancer host is also in every zone that holds its load balancer's
``virtual_ip``, because traffic to the virtual IP arrives at whichever host holds it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from attonix.blueprint.model import Blueprint, Chef, Cluster, FirewallZone, Host, LoadBalancer
from attonix.render.base import RenderError

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: The user cloud-init creates and Chef manages; it logs in with SSH keys only.
ADMIN_USER = "attonix"
#: Where the Chef validation key must be delivered out of band before the first Chef run.
CHEF_VALIDATION_KEY = "/etc/chef/validation.pem"
NFT_CONF = "/etc/nftables.conf"
SSHD_DROP_IN = "/etc/ssh/sshd_config.d/50-attonix-hardening.conf"
SYSCTL_DROP_IN = "/etc/sysctl.d/60-attonix-hardening.conf"

UBUNTU_CODENAMES = {"22.04": "jammy", "24.04": "noble"}

BASE_PACKAGES = ("auditd", "chrony", "nftables", "openssh-server", "unattended-upgrades")
ROLE_PACKAGES: dict[str, tuple[str, ...]] = {
    "bastion": ("fail2ban",),
    "load-balancer": ("haproxy", "keepalived"),
    "database": ("postgresql-client",),
    "ci": ("git",),
    "chef-server": (),
    "monitoring": ("prometheus",),
    # Rook prepares OSDs with LVM.
    "storage": ("lvm2",),
    "compute": (),
}
CLUSTER_PACKAGES: dict[str, tuple[str, ...]] = {
    "kubernetes": ("containerd", "conntrack", "socat"),
    "swarm": ("docker.io",),
    "podman": ("podman",),
}

# OpenSSH 8.9 (22.04) and 9.6 (24.04) both support every algorithm listed here.
SSHD_HARDENING = """\
# Managed by attonix: key-only logins, no root, modern algorithms only.
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
PubkeyAuthentication yes
AuthenticationMethods publickey
X11Forwarding no
AllowAgentForwarding no
AllowTcpForwarding no
MaxAuthTries 3
LoginGraceTime 30
ClientAliveInterval 300
ClientAliveCountMax 2
AllowUsers {user}
KexAlgorithms sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org
Ciphers chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com
MACs hmac-sha2-512-etm@openssh.com,hmac-sha2-256-etm@openssh.com
HostKeyAlgorithms ssh-ed25519,rsa-sha2-512,rsa-sha2-256
"""

_SYSCTL_BASE: dict[str, str] = {
    "kernel.dmesg_restrict": "1",
    "kernel.kptr_restrict": "2",
    "kernel.randomize_va_space": "2",
    "kernel.unprivileged_bpf_disabled": "1",
    "kernel.yama.ptrace_scope": "1",
    "fs.protected_hardlinks": "1",
    "fs.protected_symlinks": "1",
    "fs.suid_dumpable": "0",
    "net.ipv4.conf.all.accept_redirects": "0",
    "net.ipv4.conf.all.accept_source_route": "0",
    "net.ipv4.conf.all.log_martians": "1",
    "net.ipv4.conf.all.rp_filter": "1",
    "net.ipv4.conf.all.send_redirects": "0",
    "net.ipv4.conf.default.accept_redirects": "0",
    "net.ipv4.icmp_echo_ignore_broadcasts": "1",
    "net.ipv4.tcp_syncookies": "1",
    "net.ipv6.conf.all.accept_redirects": "0",
    "net.ipv6.conf.all.accept_source_route": "0",
    "net.ipv6.conf.default.accept_redirects": "0",
}


def fqdn(bp: Blueprint, host: Host) -> str:
    """The host's fully qualified name: ``<host>.<metadata.domain>``."""
    return f"{host.name}.{bp.metadata.domain}"


def codename(host: Host) -> str:
    """The Ubuntu codename of the host's release (``noble`` for 24.04)."""
    return UBUNTU_CODENAMES[host.os.release]


def network(cidr: str, *, where: str) -> IpNetwork:
    """Parse ``cidr``; a malformed one is a RenderError naming ``where`` it came from."""
    try:
        return ipaddress.ip_network(cidr, strict=False)
    except ValueError as exc:
        raise RenderError(
            f"{where}: {cidr!r} is not a CIDR ({exc})",
            hint="Write it as ADDRESS/PREFIX, for example 10.20.1.0/24.",
        ) from None


def zone_networks(zone: FirewallZone) -> list[IpNetwork]:
    """The zone's CIDRs, parsed, in blueprint order."""
    return [network(c, where=f"security.firewall.zones[{zone.name}]") for c in zone.cidrs]


def zones_containing(bp: Blueprint, address: IpAddress) -> list[FirewallZone]:
    """Zones with a CIDR that contains ``address`` (blueprint order)."""
    return [
        z
        for z in bp.security.firewall.zones
        if any(address.version == n.version and address in n for n in zone_networks(z))
    ]


def load_balancers_of(bp: Blueprint, host: Host) -> list[LoadBalancer]:
    """The haproxy load balancers this host is a member of (needs the load-balancer role)."""
    if "load-balancer" not in host.roles:
        return []
    return [lb for lb in bp.ha.load_balancers if lb.kind == "haproxy" and host.name in lb.hosts]


def host_zones(bp: Blueprint, host: Host) -> list[FirewallZone]:
    """Zones the host is in: by its address, and by its load balancers' virtual IPs."""
    found = {z.name: z for z in zones_containing(bp, host.address)}
    for lb in load_balancers_of(bp, host):
        if lb.virtual_ip is not None:
            found.update((z.name, z) for z in zones_containing(bp, lb.virtual_ip))
    return [z for z in bp.security.firewall.zones if z.name in found]


def clusters_of(bp: Blueprint, host: Host) -> list[Cluster]:
    """Clusters the host is a control-plane node or worker of."""
    return [c for c in bp.orchestration.clusters if host.name in (*c.control_plane, *c.workers)]


def cluster_members(bp: Blueprint, cluster: Cluster) -> list[Host]:
    """Every known host of a cluster, control plane first, without duplicates."""
    names = dict.fromkeys((*cluster.control_plane, *cluster.workers))
    return [bp.hosts_by_name[n] for n in names if n in bp.hosts_by_name]


def runs_containers(bp: Blueprint, host: Host) -> bool:
    """Whether a container engine on the host owns forwarding and its own nftables tables."""
    return bool(clusters_of(bp, host))


def packages(bp: Blueprint, host: Host) -> list[str]:
    """Debian packages the host needs: the base set, per role, per cluster kind, sorted."""
    wanted = set(BASE_PACKAGES)
    for role in host.roles:
        wanted.update(ROLE_PACKAGES.get(role, ()))
    for cluster in clusters_of(bp, host):
        wanted.update(CLUSTER_PACKAGES[cluster.kind])
    return sorted(wanted)


def sysctl_settings(bp: Blueprint, host: Host) -> dict[str, str]:
    """Kernel settings for the host: the hardening baseline plus what its roles require."""
    settings = dict(_SYSCTL_BASE)
    # Container networking routes pod traffic through the host; nothing else may route.
    forward = "1" if runs_containers(bp, host) else "0"
    settings["net.ipv4.ip_forward"] = forward
    settings["net.ipv6.conf.all.forwarding"] = forward
    if load_balancers_of(bp, host):
        # haproxy binds the virtual IP on the backup too, before keepalived moves it there.
        settings["net.ipv4.ip_nonlocal_bind"] = "1"
        settings["net.ipv6.ip_nonlocal_bind"] = "1"
    return dict(sorted(settings.items()))


def sysctl_text(bp: Blueprint, host: Host) -> str:
    """The sysctl drop-in file for the host."""
    lines = ["# Managed by attonix: kernel hardening and role settings."]
    lines += [f"{k} = {v}" for k, v in sysctl_settings(bp, host).items()]
    return "\n".join(lines) + "\n"


def sshd_text() -> str:
    """The sshd_config drop-in that hardens SSH on every host."""
    return SSHD_HARDENING.format(user=ADMIN_USER)


def chef_run_list(host: Host, chef: Chef) -> list[str]:
    """``role[...]`` for each Chef role whose ``hosts_with`` names one of the host's roles or
    ``all``, in blueprint order."""
    wanted = {*host.roles, "all"}
    return [f"role[{r.name}]" for r in chef.roles if wanted & set(r.hosts_with)]


def parse_ports(ports: Iterable[int | str], *, where: str) -> list[str]:
    """Ports and ``LOW-HIGH`` ranges as nftables set elements; bad ranges are a RenderError."""
    out: list[str] = []
    for port in ports:
        text = str(port)
        low, _, high = text.partition("-")
        lo, hi = int(low), int(high or low)
        if not (1 <= lo <= hi <= 65535):
            raise RenderError(
                f"{where}: port {text!r} is not a port or a LOW-HIGH range within 1-65535",
                hint="Use a port between 1 and 65535, or a range whose low end comes first.",
            )
        out.append(str(lo) if lo == hi else f"{lo}-{hi}")
    return out


def addresses(hosts: Sequence[Host]) -> list[IpAddress]:
    """The hosts' addresses, without duplicates, in order."""
    return list(dict.fromkeys(h.address for h in hosts))


# --------------------------------------------------------------------------- nftables rulesets


def _set_name(prefix: str, name: str, version: int) -> str:
    # Blueprint names never contain '_', so mapping '-' to '_' cannot make two names collide.
    return f"{prefix}_{name.replace('-', '_')}" + ("_v6" if version == 6 else "")


class _Ruleset:
    """Named address sets plus the input rules that use them, in the order they are added."""

    def __init__(self) -> None:
        self.sets: dict[str, tuple[int, list[str]]] = {}
        self.rules: list[str] = []

    def source_matches(self, prefix: str, name: str, nets: Sequence[IpNetwork]) -> list[str]:
        """Declare one set per address family of ``nets``; return the saddr match for each."""
        matches = []
        for version, keyword in ((4, "ip"), (6, "ip6")):
            elems = [
                str(n.network_address) if n.prefixlen == n.max_prefixlen else str(n)
                for n in nets
                if n.version == version
            ]
            if elems:
                set_name = _set_name(prefix, name, version)
                self.sets[set_name] = (version, elems)
                matches.append(f"{keyword} saddr @{set_name}")
        return matches

    def add(self, matches: Sequence[str], tail: str, comment: str) -> None:
        """Add one ``<match> <tail> comment`` rule per match (``[""]`` adds one without a match)."""
        for match in matches:
            self.rules.append(f'{match} {tail} comment "{comment}"'.strip())


def _rule_tail(protocol: str, ports: Sequence[str], verdict: str) -> str:
    return f"{protocol} dport {{ {', '.join(ports)} }} counter {verdict}"


def _zone_rules(bp: Blueprint, rs: _Ruleset, zone_names: set[str]) -> None:
    """Blueprint firewall rules whose destination is one of ``zone_names``: denies first."""
    zones = {z.name: z for z in bp.security.firewall.zones}
    rules = [r for r in bp.security.firewall.rules if r.destination in zone_names]
    for rule in sorted(rules, key=lambda r: r.action != "deny"):
        ports = parse_ports(rule.ports, where=f"security.firewall.rules[{rule.name}].ports")
        verdict = "drop" if rule.action == "deny" else "accept"
        tail = _rule_tail(rule.protocol, ports, verdict)
        comment = f"{rule.action} {rule.name}: {rule.source} -> {rule.destination}"
        if rule.source == "internet":
            rs.add([""], tail, comment)
            continue
        source = zones.get(rule.source)
        matches = rs.source_matches("zone", rule.source, zone_networks(source) if source else [])
        if matches:
            rs.add(matches, tail, comment)
        else:
            rs.rules.append(
                f"# {rule.name}: zone {rule.source} has no cidrs, so it matches nothing"
            )


def _host_rules(bp: Blueprint, rs: _Ruleset, host: Host) -> None:
    """Flows the host needs whatever the rules say: SSH from bastions, its peers' traffic."""
    bastions = [h for h in bp.hosts if "bastion" in h.roles and h.name != host.name]
    if bastions:
        nets = [ipaddress.ip_network(a) for a in addresses(bastions)]
        rs.add(
            rs.source_matches("role", "bastion", nets),
            _rule_tail("tcp", ["22"], "accept"),
            "ssh from bastion hosts",
        )
    for cluster in clusters_of(bp, host):
        # etcd, kubelet, the overlay network and Swarm's gossip all run between these peers.
        peers = [h for h in cluster_members(bp, cluster) if h.name != host.name]
        nets = [ipaddress.ip_network(a) for a in addresses(peers)]
        rs.add(
            rs.source_matches("cluster", cluster.name, nets),
            "counter accept",
            f"{cluster.kind} cluster {cluster.name} peers",
        )
    for lb in load_balancers_of(bp, host):
        peers = [bp.hosts_by_name[n] for n in lb.hosts if n in bp.hosts_by_name and n != host.name]
        nets = [ipaddress.ip_network(a) for a in addresses(peers)]
        # VRRP is IP protocol 112: keepalived's adverts that move the virtual IP.
        rs.add(
            rs.source_matches("lb", lb.name, nets),
            "meta l4proto 112 counter accept",
            f"vrrp between {lb.name} members",
        )


_ICMP = (
    "meta l4proto icmp icmp type { destination-unreachable, time-exceeded, parameter-problem }"
    " limit rate 100/second burst 200 packets accept",
    "meta l4proto icmp icmp type echo-request limit rate 10/second burst 20 packets accept",
    "meta l4proto ipv6-icmp icmpv6 type { destination-unreachable, packet-too-big,"
    " time-exceeded, parameter-problem } limit rate 100/second burst 200 packets accept",
    "meta l4proto ipv6-icmp icmpv6 type { nd-router-solicit, nd-router-advert,"
    " nd-neighbor-solicit, nd-neighbor-advert } ip6 hoplimit 255 accept",
    "meta l4proto ipv6-icmp icmpv6 type echo-request limit rate 10/second burst 20 packets accept",
)


def _drop_tail(chain: str) -> list[str]:
    return [
        f'limit rate 6/minute burst 10 packets log prefix "attonix drop {chain}: " level info',
        "counter drop",
    ]


def _text(
    bp: Blueprint, rs: _Ruleset, *, title: str, keep_other_tables: bool, forward_open: bool
) -> str:
    policy = "drop" if bp.security.firewall.default_policy == "deny" else "accept"
    out = ["#!/usr/sbin/nft -f", f"# Managed by attonix from blueprint {bp.metadata.name}: {title}"]
    if keep_other_tables:
        # Container engines and kube-proxy keep their own tables: replace only ours.
        out += ["table inet attonix", "delete table inet attonix"]
    else:
        out.append("flush ruleset")
    out += ["", "table inet attonix {"]
    for name, (version, elems) in sorted(rs.sets.items()):
        out += [
            f"\tset {name} {{",
            f"\t\ttype {'ipv4_addr' if version == 4 else 'ipv6_addr'}",
            "\t\tflags interval",
            "\t\tauto-merge",
            f"\t\telements = {{ {', '.join(elems)} }}",
            "\t}",
            "",
        ]
    out += [
        "\tchain input {",
        f"\t\ttype filter hook input priority filter; policy {policy};",
        "\t\tct state invalid counter drop",
        "\t\tct state established,related accept",
        '\t\tiif "lo" accept',
    ]
    out += [f"\t\t{r}" for r in (*_ICMP, *rs.rules)]
    if policy == "drop":
        out += [f"\t\t{r}" for r in _drop_tail("input")]
    out += ["\t}", "", "\tchain forward {"]
    if forward_open:
        out += [
            "\t\t# The container engine routes its workloads' traffic through this host.",
            "\t\ttype filter hook forward priority filter; policy accept;",
        ]
    else:
        out += ["\t\ttype filter hook forward priority filter; policy drop;"]
        out += [f"\t\t{r}" for r in _drop_tail("forward")]
    out += [
        "\t}",
        "",
        "\tchain output {",
        # Egress is open: the blueprint names no package mirrors, NTP or DNS servers.
        "\t\ttype filter hook output priority filter; policy accept;",
        "\t}",
        "}",
    ]
    # Spaces, not tabs: the ruleset is also embedded in YAML, where tabs force quoted strings.
    return "\n".join(out).replace("\t", "    ") + "\n"


def nft_host_ruleset(bp: Blueprint, host: Host) -> str:
    """The complete nftables ruleset for ``host``, loadable with ``nft -f``."""
    zones = host_zones(bp, host)
    rs = _Ruleset()
    _zone_rules(bp, rs, {z.name for z in zones})
    _host_rules(bp, rs, host)
    members = ", ".join(z.name for z in zones) or "none"
    return _text(
        bp,
        rs,
        title=f"host {host.name} ({host.address}), zones: {members}",
        keep_other_tables=runs_containers(bp, host),
        forward_open=runs_containers(bp, host),
    )


def nft_zone_ruleset(bp: Blueprint, zone: FirewallZone) -> str:
    """A ruleset for any machine in ``zone`` that the blueprint does not list as a host."""
    rs = _Ruleset()
    _zone_rules(bp, rs, {zone.name})
    return _text(
        bp,
        rs,
        title=f"any machine in zone {zone.name}",
        keep_other_tables=False,
        forward_open=False,
    )
