"""Facts about the blueprint's Ubuntu hosts that the host-layer targets (cloud-init, nftables,
Chef) all need, computed in one place so that the three never disagree: packages, SSH and
kernel hardening, Chef run lists. Zone membership and firewall flows live in
``attonix.policy.firewall``; the nftables text in ``attonix.render.nftables.ruleset``.
"""

from __future__ import annotations

from attonix.blueprint.model import Blueprint, Chef, Host
from attonix.policy.firewall import clusters_of, host_zones, load_balancers_of
from attonix.render.host_access import LOGIN_GROUP

__all__ = ["LOGIN_GROUP", "clusters_of", "host_zones", "load_balancers_of"]


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
    # curl and gpg fetch the Kubernetes repository's signing key.
    "kubernetes": ("containerd", "conntrack", "socat", "curl", "gpg"),
    "swarm": ("docker.io",),
    "podman": ("podman",),
}

# OpenSSH 8.9 (22.04) and 9.6 (24.04) both support every algorithm listed here.
SSHD_HARDENING = """\
# Managed by attonix: key-only logins of the people in the login group, no root, modern
# algorithms only.
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
AllowGroups {group}
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
    return SSHD_HARDENING.format(group=LOGIN_GROUP)


def chef_run_list(host: Host, chef: Chef) -> list[str]:
    """``role[...]`` for each Chef role whose ``hosts_with`` names one of the host's roles or
    ``all``, in blueprint order."""
    wanted = {*host.roles, "all"}
    return [f"role[{r.name}]" for r in chef.roles if wanted & set(r.hosts_with)]
