"""The ``cloud-init`` target: first-boot configuration for every Ubuntu host.

Per host, ``cloud-init/<host>/user-data`` (a ``#cloud-config`` document) and ``meta-data``.
The user-data names the host, creates one login per person whose roles reach the host (their
own SSH keys, password locked, no shared or default account; sudo only where
``users.host_access`` grants it, with the reason in the sudoers file), installs packages by
role, writes the SSH and kernel hardening, the audit rules, chrony with the blueprint's time
servers, the host's nftables ruleset, what a cluster node needs to join its cluster
(``nodes.py``) and, when the blueprint configures Chef, prepares the Chef client and registers
it once the validation key has been delivered out of band. No secret value is ever written here.
"""

from __future__ import annotations

from typing import Any

import yaml

from attonix.blueprint.model import Blueprint, Chef, Host
from attonix.render import host_access, hosts
from attonix.render.base import Artifact
from attonix.render.cloudinit import nodes
from attonix.render.nftables import ruleset

TARGET = "cloud-init"
BOOTSTRAP = "/usr/local/sbin/attonix-chef-bootstrap"
FIRSTBOOT = "/etc/chef/firstboot.json"
RESOLVED_DROP_IN = "/etc/systemd/resolved.conf.d/60-attonix.conf"
# How long the bootstrap waits for the validation key before giving up (seconds).
_KEY_WAIT_SECONDS = 1800


def render(bp: Blueprint) -> list[Artifact]:
    """user-data and meta-data for every host."""
    out: list[Artifact] = []
    for host in sorted(bp.hosts, key=lambda h: h.name):
        text = user_data(bp, host)
        out.append(Artifact(TARGET, f"cloud-init/{host.name}/user-data", text, "text"))
        out.append(Artifact(TARGET, f"cloud-init/{host.name}/meta-data", meta_data(bp, host)))
    return out


def meta_data(bp: Blueprint, host: Host) -> dict[str, str]:
    """The NoCloud meta-data: a stable instance id and the host name."""
    return {"instance-id": f"{bp.metadata.name}-{host.name}", "local-hostname": host.name}


def user_data(bp: Blueprint, host: Host) -> str:
    """The ``#cloud-config`` user-data text for ``host``."""
    doc = cloud_config(bp, host)
    release = f"Ubuntu {host.os.release} ({hosts.codename(host)})"
    header = (
        "#cloud-config\n"
        f"# Managed by attonix from blueprint {bp.metadata.name}: host {host.name}, {release}.\n"
    )
    return header + _dump(doc)


#: libyaml's emitter when PyYAML has it (the pure-Python one took most of a render's time).
_BaseDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_BaseDumper):  # type: ignore[misc]
    """Writes multi-line strings (the files cloud-init writes) as readable literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _dump(doc: dict[str, Any]) -> str:
    return str(
        yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=4096)
    )


#: The ``users`` of a host nobody may log into. Leaving ``users`` out would create the
#: distribution's default account (``ubuntu``, with the cloud's SSH key) and the schema refuses
#: an empty list; naming root, which exists, creates nobody and locks root's password (with
#: ``disable_root`` and sshd's ``PermitRootLogin no``, root cannot log in either).
NOBODY: list[dict[str, Any]] = [{"name": "root", "lock_passwd": True}]


def users(bp: Blueprint, host: Host) -> list[dict[str, Any]]:
    """cloud-init ``users``: one login per person; no ``default`` entry, so no shared account;
    :data:`NOBODY` on a host nobody may log into."""
    out = []
    for login in host_access.logins(bp, host):
        account = login.account
        user: dict[str, Any] = {
            "name": account.name,
            "gecos": account.full_name or account.email,
            "groups": [host_access.LOGIN_GROUP, *(["adm"] if "auditor" in login.roles else [])],
            "shell": "/bin/bash",
            "lock_passwd": True,
        }
        if account.ssh_keys:
            user["ssh_authorized_keys"] = list(account.ssh_keys)
        out.append(user)
    return out or [dict(u) for u in NOBODY]


def cloud_config(bp: Blueprint, host: Host) -> dict[str, Any]:
    """The user-data as a mapping (what ``user_data`` serialises)."""
    chef = bp.configuration.chef
    files = [
        _file(hosts.SSHD_DROP_IN, hosts.sshd_text(), "0644"),
        _file(hosts.SYSCTL_DROP_IN, hosts.sysctl_text(bp, host), "0644"),
        _file(host_access.AUDIT_RULES_FILE, host_access.audit_rules_text(), "0640"),
        _file(hosts.NFT_CONF, ruleset.host_ruleset(bp, host), "0755"),
    ]
    if bp.network.dns_servers:
        # Ubuntu resolves through systemd-resolved; only the declared resolvers are reachable.
        resolved = (
            "# Managed by attonix: the blueprint's DNS resolvers.\n[Resolve]\n"
            f"DNS={' '.join(str(a) for a in bp.network.dns_servers)}\n"
            f"Domains={bp.metadata.domain}\n"
        )
        files.append(_file(RESOLVED_DROP_IN, resolved, "0644"))
    sudoers = host_access.sudoers_text(bp, host)
    if sudoers is not None:
        files.append(_file(host_access.SUDOERS_FILE, sudoers, "0440"))
    files += [_file(path, text, mode) for path, text, mode in nodes.node_files(bp, host)]
    if chef is not None:
        files += _chef_files(chef)
    ntp: dict[str, Any] = {"enabled": True, "ntp_client": "chrony"}
    if bp.network.time_servers:
        ntp["servers"] = [str(a) for a in bp.network.time_servers]
        # Only the declared servers: the firewall admits no other NTP peer.
        ntp["pools"] = []
    doc: dict[str, Any] = {
        "hostname": host.name,
        "fqdn": hosts.fqdn(bp, host),
        "prefer_fqdn_over_hostname": False,
        "manage_etc_hosts": True,
        "timezone": "Etc/UTC",
        "disable_root": True,
        "ssh_pwauth": False,
        "groups": [host_access.LOGIN_GROUP],
        "users": users(bp, host),
        "package_update": True,
        "package_upgrade": True,
        "packages": hosts.packages(bp, host),
        "ntp": ntp,
        "write_files": files,
        "runcmd": _runcmd(bp, host, chef),
    }
    primary = next((m for m in bp.network.package_mirrors if m.name == "ubuntu"), None)
    if primary is not None:
        doc["apt"] = {"primary": [{"arches": ["default"], "uri": primary.url}]}
    if chef is not None:
        doc["chef"] = _chef_module(bp, host, chef)
    return doc


def _file(path: str, content: str, permissions: str) -> dict[str, str]:
    return {"path": path, "owner": "root:root", "permissions": permissions, "content": content}


def _runcmd(bp: Blueprint, host: Host, chef: Chef | None) -> list[str | list[str]]:
    release = host.os.release
    cmds: list[str | list[str]] = [
        # The image must match the blueprint's release; say so loudly in the log if it does not.
        f'. /etc/os-release; [ "$VERSION_ID" = "{release}" ] || '
        f'echo "attonix: expected Ubuntu {release}, found $VERSION_ID" >&2',
        ["sysctl", "--system"],
        ["nft", "-f", hosts.NFT_CONF],
        ["systemctl", "enable", "--now", "nftables.service"],
        ["systemctl", "enable", "--now", "auditd.service", "chrony.service"],
        ["augenrules", "--load"],
        ["systemctl", "reload-or-restart", "ssh.service"],
        *nodes.node_commands(bp, host),
    ]
    if chef is not None:
        # Run apart from cloud-init so that waiting for the key never holds up the boot.
        cmds.append(["systemd-run", "--unit=attonix-chef-bootstrap", BOOTSTRAP])
    return cmds


def _chef_module(bp: Blueprint, host: Host, chef: Chef) -> dict[str, Any]:
    return {
        "install_type": "omnibus",
        "omnibus_version": chef.client_version,
        "force_install": False,
        "server_url": f"{chef.server_url.rstrip('/')}/organizations/{chef.organization}",
        "node_name": hosts.fqdn(bp, host),
        "validation_name": f"{chef.organization}-validator",
        "validation_key": hosts.CHEF_VALIDATION_KEY,
        # 'system' tells cloud-init to use the key file delivered out of band, never a value.
        "validation_cert": "system",
        # The node's policy (named after its Chef roles) and policy group, in the first-boot
        # JSON: Policyfiles replace run lists and environments.
        "initial_attributes": {
            "policy_name": "_".join(_chef_roles(host, chef)) or "base",
            "policy_group": chef.policy_group,
        },
        "chef_license": "accept",
        "ssl_verify_mode": ":verify_peer",
        "exec": False,
    }


def _chef_roles(host: Host, chef: Chef) -> list[str]:
    # The same naming as the chef target's Policyfiles (renderers do not import each other).
    wanted = {*host.roles, "all"}
    return [r.name for r in chef.roles if wanted & set(r.hosts_with)]


def _chef_files(chef: Chef) -> list[dict[str, str]]:
    key = hosts.CHEF_VALIDATION_KEY
    bootstrap = f"""\
#!/bin/sh
# Managed by attonix: register with Chef once the validation key (secret
# '{chef.validation_secret}') has been delivered to {key}, then converge on a timer.
set -eu
waited=0
while [ ! -s {key} ]; do
  if [ "$waited" -ge {_KEY_WAIT_SECONDS} ]; then
    echo "attonix: {key} was not delivered" >&2; exit 1
  fi
  sleep 10; waited=$((waited + 10))
done
chmod 0600 {key}
chef-client --once --json-attributes {FIRSTBOOT}
# Once registered the node uses its own client key; the validator key must not linger.
rm -f {key}
systemctl enable --now chef-client.timer
"""
    service = """\
[Unit]
Description=Chef Infra Client run (attonix)
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
ExecStart=/usr/bin/chef-client --once
"""
    timer = f"""\
[Unit]
Description=Chef Infra Client every {chef.interval_minutes} minutes (attonix)

[Timer]
OnBootSec=5min
OnUnitActiveSec={chef.interval_minutes}min
RandomizedDelaySec=120

[Install]
WantedBy=timers.target
"""
    return [
        _file(BOOTSTRAP, bootstrap, "0750"),
        _file("/etc/systemd/system/chef-client.service", service, "0644"),
        _file("/etc/systemd/system/chef-client.timer", timer, "0644"),
    ]
