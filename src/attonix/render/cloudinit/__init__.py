"""The ``cloud-init`` target: first-boot configuration for every Ubuntu host.

Per host, ``cloud-init/<host>/user-data`` (a ``#cloud-config`` document) and ``meta-data``.
The user-data names the host, creates the ``attonix`` administrator (SSH keys only, password
locked), installs packages by role, writes the SSH and kernel hardening, the host's nftables
ruleset and, when the blueprint configures Chef, prepares the Chef client and registers it once
the validation key has been delivered out of band. No secret value is ever written here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from attonix.blueprint.model import Blueprint, Chef, Host
from attonix.render import hosts
from attonix.render.base import Artifact, RenderError
from attonix.render.nftables import ruleset

TARGET = "cloud-init"
BOOTSTRAP = "/usr/local/sbin/attonix-chef-bootstrap"
FIRSTBOOT = "/etc/chef/firstboot.json"
_KEY_TYPES = (
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-rsa",
)
# How long the bootstrap waits for the validation key before giving up (seconds).
_KEY_WAIT_SECONDS = 1800


def render(bp: Blueprint, *, admin_ssh_keys: Sequence[str] = ()) -> list[Artifact]:
    """user-data and meta-data for every host.

    The ``attonix`` administrator gets the SSH keys of the accounts bound to the admin role in
    this environment, plus ``admin_ssh_keys`` (OpenSSH public keys) given here.
    """
    declared = [k for a in bp.accounts_with_role("admin") for k in a.ssh_keys]
    keys = _check_keys(list(dict.fromkeys([*declared, *admin_ssh_keys])))
    out: list[Artifact] = []
    for host in sorted(bp.hosts, key=lambda h: h.name):
        text = user_data(bp, host, keys=keys)
        out.append(Artifact(TARGET, f"cloud-init/{host.name}/user-data", text, "text"))
        out.append(Artifact(TARGET, f"cloud-init/{host.name}/meta-data", meta_data(bp, host)))
    return out


def meta_data(bp: Blueprint, host: Host) -> dict[str, str]:
    """The NoCloud meta-data: a stable instance id and the host name."""
    return {"instance-id": f"{bp.metadata.name}-{host.name}", "local-hostname": host.name}


def user_data(bp: Blueprint, host: Host, *, keys: Sequence[str] = ()) -> str:
    """The ``#cloud-config`` user-data text for ``host``."""
    doc = cloud_config(bp, host, keys=keys)
    release = f"Ubuntu {host.os.release} ({hosts.codename(host)})"
    header = (
        "#cloud-config\n"
        f"# Managed by attonix from blueprint {bp.metadata.name}: host {host.name}, {release}.\n"
    )
    return header + _dump(doc)


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings (the files cloud-init writes) as readable literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _dump(doc: dict[str, Any]) -> str:
    return str(
        yaml.dump(doc, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=4096)
    )


def cloud_config(bp: Blueprint, host: Host, *, keys: Sequence[str] = ()) -> dict[str, Any]:
    """The user-data as a mapping (what ``user_data`` serialises)."""
    chef = bp.configuration.chef
    files = [
        _file(hosts.SSHD_DROP_IN, hosts.sshd_text(), "0644"),
        _file(hosts.SYSCTL_DROP_IN, hosts.sysctl_text(bp, host), "0644"),
        _file(hosts.NFT_CONF, ruleset.host_ruleset(bp, host), "0755"),
    ]
    if chef is not None:
        files += _chef_files(chef)
    doc: dict[str, Any] = {
        "hostname": host.name,
        "fqdn": hosts.fqdn(bp, host),
        "prefer_fqdn_over_hostname": False,
        "manage_etc_hosts": True,
        "timezone": "Etc/UTC",
        "disable_root": True,
        "ssh_pwauth": False,
        "users": [
            {
                "name": hosts.ADMIN_USER,
                "gecos": "Attonix administrator",
                "groups": ["sudo"],
                "shell": "/bin/bash",
                # Without a password sudo can only work passwordless; SSH keys guard the door.
                "sudo": "ALL=(ALL) NOPASSWD:ALL",
                "lock_passwd": True,
            }
        ],
        "package_update": True,
        "package_upgrade": True,
        "packages": hosts.packages(bp, host),
        "ntp": {"enabled": True, "ntp_client": "chrony"},
        "write_files": files,
        "runcmd": _runcmd(host, chef),
    }
    if keys:
        # cloud-init's schema wants at least one key; without any the account has no way in.
        doc["users"][0]["ssh_authorized_keys"] = list(keys)
    if chef is not None:
        doc["chef"] = _chef_module(bp, host, chef)
    return doc


def _file(path: str, content: str, permissions: str) -> dict[str, str]:
    return {"path": path, "owner": "root:root", "permissions": permissions, "content": content}


def _runcmd(host: Host, chef: Chef | None) -> list[str | list[str]]:
    release = host.os.release
    cmds: list[str | list[str]] = [
        # The image must match the blueprint's release; say so loudly in the log if it does not.
        f'. /etc/os-release; [ "$VERSION_ID" = "{release}" ] || '
        f'echo "attonix: expected Ubuntu {release}, found $VERSION_ID" >&2',
        ["sysctl", "--system"],
        ["nft", "-f", hosts.NFT_CONF],
        ["systemctl", "enable", "--now", "nftables.service"],
        ["systemctl", "enable", "--now", "auditd.service", "chrony.service"],
        ["systemctl", "reload-or-restart", "ssh.service"],
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
        "environment": chef.policy_group,
        "validation_name": f"{chef.organization}-validator",
        "validation_key": hosts.CHEF_VALIDATION_KEY,
        # 'system' tells cloud-init to use the key file delivered out of band, never a value.
        "validation_cert": "system",
        "run_list": hosts.chef_run_list(host, chef),
        "chef_license": "accept",
        "ssl_verify_mode": ":verify_peer",
        "exec": False,
    }


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
chef-client --once --environment {chef.policy_group} --json-attributes {FIRSTBOOT}
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


def _check_keys(keys: Sequence[str]) -> list[str]:
    checked = []
    for key in keys:
        text = key.strip()
        if "PRIVATE KEY" in text or not text.startswith(_KEY_TYPES) or "\n" in text:
            raise RenderError(
                "admin SSH keys must be single-line OpenSSH public keys "
                f"(starting with one of {', '.join(_KEY_TYPES[:3])}, ...)",
                hint="Pass the contents of a .pub file; never a private key.",
            )
        checked.append(text)
    return checked
