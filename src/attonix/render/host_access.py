"""Who logs into which host: one login per person the blueprint declares, never a shared
account, with sudo only where ``users.host_access`` grants it (with the reason written next to
the rule), and the audit rules that record identity changes and privileged commands.

An account gets a login on a host when one of its access-control roles in this environment
(``security.access_control.bindings``, directly or through a group) has a
``users.host_access`` entry whose ``hosts_with`` names one of the host's roles (or ``all``).
cloud-init, Chef and the Heat key pairs all read these facts from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from attonix.blueprint.model import Account, Blueprint, Host, HostAccess

#: Every person's login is in this group; sshd admits nobody else (``AllowGroups``).
LOGIN_GROUP = "attonix-login"
SUDOERS_FILE = "/etc/sudoers.d/60-attonix"
AUDIT_RULES_FILE = "/etc/audit/rules.d/60-attonix.rules"


@dataclass(frozen=True)
class Login:
    """One person's login on one host: the roles that grant it, and the sudo grants."""

    account: Account
    roles: tuple[str, ...]
    #: ``(role, reason)`` for each ``host_access`` entry that grants sudo on this host.
    sudo: tuple[tuple[str, str], ...]


def _grants(entry: HostAccess, host: Host) -> bool:
    return "all" in entry.hosts_with or bool(set(entry.hosts_with) & set(host.roles))


def logins(bp: Blueprint, host: Host) -> list[Login]:
    """The people who log into ``host``, in the blueprint's account order."""
    entries = [e for e in bp.users.host_access if _grants(e, host)]
    roles_of: dict[str, list[HostAccess]] = {}
    for entry in entries:
        for account in bp.accounts_with_role(entry.role):
            roles_of.setdefault(account.name, []).append(entry)
    out = []
    for account in bp.users.accounts:
        granted = roles_of.get(account.name)
        if not granted:
            continue
        roles = tuple(dict.fromkeys(e.role for e in granted))
        sudo = tuple(dict.fromkeys((e.role, e.sudo_reason) for e in granted if e.sudo))
        out.append(Login(account, roles, sudo))
    return out


def sudoers_text(bp: Blueprint, host: Host) -> str | None:
    """``/etc/sudoers.d/60-attonix`` for the host, or None when nobody there may use sudo.

    Logins have no password (SSH keys only), so sudo cannot ask for one: each rule is NOPASSWD
    and is preceded by the role and the blueprint's reason that grant it.
    """
    lines = [
        "# Managed by attonix: sudo per person, only for roles whose host_access grants it.",
        "# Every use is logged by sudo and recorded by auditd (key privileged).",
        "Defaults use_pty",
        "Defaults logfile=/var/log/sudo.log",
    ]
    granted = False
    for login in logins(bp, host):
        if not login.sudo:
            continue
        granted = True
        for role, reason in login.sudo:
            lines.append(f"# {login.account.name}: role {role}: {reason}")
        lines.append(f"{login.account.name} ALL=(ALL:ALL) NOPASSWD: ALL")
    return "\n".join(lines) + "\n" if granted else None


_IDENTITY_FILES = (
    "/etc/passwd",
    "/etc/group",
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/security/opasswd",
)
_PRIVILEGE_FILES = ("/etc/sudoers", "/etc/sudoers.d/")
_SSH_FILES = ("/etc/ssh/sshd_config", "/etc/ssh/sshd_config.d/")
_PRIVILEGED_COMMANDS = (
    "/usr/bin/sudo",
    "/usr/bin/su",
    "/usr/bin/passwd",
    "/usr/bin/chsh",
    "/usr/bin/chfn",
    "/usr/bin/gpasswd",
    "/usr/bin/newgrp",
    "/usr/sbin/useradd",
    "/usr/sbin/userdel",
    "/usr/sbin/usermod",
    "/usr/sbin/groupadd",
    "/usr/sbin/groupdel",
    "/usr/sbin/groupmod",
    "/usr/sbin/visudo",
)


def audit_rules_text() -> str:
    """auditd rules: writes to identity, sudo and sshd files; privileged commands; every
    command a user runs as root. Not made immutable (``-e 2``), so Chef can converge them."""
    lines = ["## Managed by attonix: identity files, privileges and privileged commands."]
    lines += [f"-w {path} -p wa -k identity" for path in _IDENTITY_FILES]
    lines += [f"-w {path} -p wa -k privilege" for path in _PRIVILEGE_FILES]
    lines += [f"-w {path} -p wa -k sshd" for path in _SSH_FILES]
    lines += [f"-w {path} -p x -k privileged" for path in _PRIVILEGED_COMMANDS]
    for arch in ("b64", "b32"):
        # A command run by a person with root's rights (sudo, setuid programs).
        lines.append(
            f"-a always,exit -F arch={arch} -S execve -C uid!=euid -F euid=0 -k privileged-exec"
        )
    return "\n".join(lines) + "\n"
