"""The ``chef`` target: the ``attonix_base`` cookbook, roles, nodes and the environment.

Layout under ``chef/``::

    cookbooks/attonix_base/   metadata.rb, attributes/, recipes/, templates/, files/
    roles/<role>.json         one per ``configuration.chef.roles`` entry (its run_list)
    nodes/<host>.json         run_list = the roles whose ``hosts_with`` match the host's roles
                              (or ``all``), plus the host's attributes
    environments/<group>.json ``configuration.chef.policy_group``, pinning the cookbook version

Nothing secret is rendered: the validation key (``configuration.chef.validation_secret``) is
delivered to the node out of band and never appears here.
"""

from __future__ import annotations

from typing import Any

from attonix.blueprint.model import Blueprint, Chef, Host
from attonix.render import host_access, hosts
from attonix.render.base import Artifact
from attonix.render.chef import cookbook, haproxy, policyfiles
from attonix.render.nftables import ruleset

TARGET = "chef"
_CB = f"chef/cookbooks/{cookbook.COOKBOOK}"


def render(bp: Blueprint) -> list[Artifact]:
    """Every Chef file for ``bp``; nothing when the blueprint configures no Chef."""
    chef = bp.configuration.chef
    if chef is None:
        return []
    out = _cookbook(bp, chef)
    for role in sorted(chef.roles, key=lambda r: r.name):
        doc = {
            "name": role.name,
            "description": f"Hosts with: {', '.join(role.hosts_with)} (managed by attonix)",
            "json_class": "Chef::Role",
            "chef_type": "role",
            "default_attributes": {},
            "override_attributes": {},
            "run_list": list(role.run_list),
        }
        out.append(Artifact(TARGET, f"chef/roles/{role.name}.json", doc, "json"))
    for host in sorted(bp.hosts, key=lambda h: h.name):
        out.append(Artifact(TARGET, f"chef/nodes/{host.name}.json", node(bp, host, chef), "json"))
    for name, members in sorted(policyfiles.policies(bp, chef).items()):
        text = policyfiles.policyfile(
            bp, chef, name, members, attributes=lambda h: attributes(bp, h)
        )
        out.append(Artifact(TARGET, f"chef/policyfiles/{name}.rb", text, "text"))
    env = {
        "name": chef.policy_group,
        "description": f"{bp.metadata.name} {bp.metadata.environment} (managed by attonix)",
        "json_class": "Chef::Environment",
        "chef_type": "environment",
        "cookbook_versions": {cookbook.COOKBOOK: f"= {cookbook.VERSION}"},
        "default_attributes": {},
        "override_attributes": {},
    }
    out.append(Artifact(TARGET, f"chef/environments/{chef.policy_group}.json", env, "json"))
    return out


def node(bp: Blueprint, host: Host, chef: Chef) -> dict[str, Any]:
    """The node object for ``host``: its run_list, environment and attonix attributes."""
    return {
        "name": hosts.fqdn(bp, host),
        "chef_environment": chef.policy_group,
        "json_class": "Chef::Node",
        "chef_type": "node",
        "run_list": hosts.chef_run_list(host, chef),
        "normal": {"attonix": attributes(bp, host)},
    }


def attributes(bp: Blueprint, host: Host) -> dict[str, Any]:
    """The ``attonix`` attributes of ``host`` (in its policy and its node file)."""
    return {
        "packages": hosts.packages(bp, host),
        "sysctl": hosts.sysctl_settings(bp, host),
        "load_balancers": haproxy.keepalived_attributes(bp, host),
        "zones": [z.name for z in hosts.host_zones(bp, host)],
        "logins": [
            {
                "name": login.account.name,
                "comment": login.account.full_name or login.account.email,
                "ssh_keys": list(login.account.ssh_keys),
                "sudo": bool(login.sudo),
            }
            for login in host_access.logins(bp, host)
        ],
    }


def _cookbook(bp: Blueprint, chef: Chef) -> list[Artifact]:
    def text(path: str, content: str) -> Artifact:
        return Artifact(TARGET, f"{_CB}/{path}", content, "text")

    out = [
        text("metadata.rb", cookbook.metadata_rb(description=f"Hosts of {bp.metadata.name}")),
        text("attributes/default.rb", cookbook.ATTRIBUTES_RB),
        text("recipes/default.rb", cookbook.DEFAULT_RB),
        text("recipes/hardening.rb", cookbook.HARDENING_RB),
        text("recipes/firewall.rb", cookbook.FIREWALL_RB),
        text("recipes/haproxy.rb", cookbook.HAPROXY_RB),
        text("templates/haproxy.cfg.erb", haproxy.haproxy_template(bp)),
        text("templates/keepalived.conf.erb", haproxy.KEEPALIVED_TEMPLATE),
        text("templates/sysctl.conf.erb", cookbook.SYSCTL_TEMPLATE),
        text("files/default/sshd-hardening.conf", hosts.sshd_text()),
        text(
            "README.md",
            cookbook.readme(
                bp.metadata.name,
                policy_group=chef.policy_group,
                policies=sorted(policyfiles.policies(bp, chef)),
            ),
        ),
    ]
    for host in sorted(bp.hosts, key=lambda h: h.name):
        # Chef serves files/host-<fqdn>/ before files/default/ to the node with that FQDN.
        path = f"files/host-{hosts.fqdn(bp, host)}/attonix.nft"
        out.append(text(path, ruleset.host_ruleset(bp, host)))
    return out
