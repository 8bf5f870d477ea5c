"""Policyfiles: how teams run Chef Infra today (``chef install`` / ``chef push <group>``).

Chef gives a node exactly one policy, so each distinct combination of Chef roles among the
hosts becomes one Policyfile, named after its roles (``base_firewall``), with their run lists in
blueprint order. The policy carries the attributes of every host that uses it, keyed by FQDN
(``node['attonix']['nodes'][fqdn]``); the cookbook's attribute file lifts the node's own entry
into ``node['attonix']``, so the attributes live in the policy, versioned and pushed with it,
not only in node files. The policy group is ``configuration.chef.policy_group``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from attonix.blueprint.model import Blueprint, Chef, Host
from attonix.render import hosts
from attonix.render.chef.cookbook import COOKBOOK


def role_names(host: Host, chef: Chef) -> list[str]:
    """The Chef roles that apply to ``host``, in blueprint order."""
    wanted = {*host.roles, "all"}
    return [r.name for r in chef.roles if wanted & set(r.hosts_with)]


def policy_name(host: Host, chef: Chef) -> str:
    """The name of the host's policy: its Chef roles joined with ``_`` (``base`` if none)."""
    return "_".join(role_names(host, chef)) or "base"


def policies(bp: Blueprint, chef: Chef) -> dict[str, list[Host]]:
    """Policy name -> the hosts that use it, both in blueprint order."""
    out: dict[str, list[Host]] = {}
    for host in bp.hosts:
        out.setdefault(policy_name(host, chef), []).append(host)
    return out


def _ruby(value: Any) -> str:
    # JSON literals are valid Ruby for strings, numbers, arrays and hashes (with "=>" keys).
    if isinstance(value, dict):
        inner = ", ".join(f"{json.dumps(k)} => {_ruby(v)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_ruby(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nil"
    return json.dumps(value)


def policyfile(
    bp: Blueprint,
    chef: Chef,
    name: str,
    members: list[Host],
    *,
    attributes: Callable[[Host], dict[str, Any]],
) -> str:
    """``policyfiles/<name>.rb``."""
    roles = {r.name: r for r in chef.roles}
    run_list = [item for role in name.split("_") if role in roles for item in roles[role].run_list]
    if not run_list:
        run_list = [f"recipe[{COOKBOOK}]"]
    items = ", ".join(f"'{item}'" for item in run_list)
    lines = [
        f"# Managed by attonix from blueprint {bp.metadata.name}: policy {name}, for",
        f"# {', '.join(h.name for h in members)}.",
        f"#   chef install policyfiles/{name}.rb",
        f"#   chef push {chef.policy_group} policyfiles/{name}.rb",
        f"name '{name}'",
        "default_source :supermarket",
        f"run_list {items}",
        f"cookbook '{COOKBOOK}', path: '../cookbooks/{COOKBOOK}'",
        "",
        "# Each host's attributes, keyed by FQDN; attributes/default.rb lifts the node's own.",
    ]
    for host in members:
        fqdn = hosts.fqdn(bp, host)
        lines.append(f"default['attonix']['nodes']['{fqdn}'] = {_ruby(attributes(host))}")
    return "\n".join(lines) + "\n"


def firstboot(host: Host, chef: Chef) -> dict[str, str]:
    """The first-boot JSON keys that bind the node to its policy and policy group."""
    return {"policy_name": policy_name(host, chef), "policy_group": chef.policy_group}
