"""The ``openstack`` target: one Heat (HOT) stack per ``storage.openstack`` entry.

``openstack/<cloud>/stack.yaml`` holds networks and subnets; one security group per network
(ingress: SSH from the management zone, and the firewall rules whose destination zone covers the
network; nothing else is open); a router wherever a network reaches outside (external, exposed
to the internet, or using egress, DNS, NTP or mirrors beyond its own range); a key pair per
person who may log into instances; an anti-affinity server group per instance group, and each
instance explicitly, round-robin over the group's availability zones, booting from an
encrypted Cinder volume, with a floating IP when its network is exposed to the internet and a
data volume when the group has the ``storage`` role. ``openstack/<cloud>/env.yaml`` carries
the parameter values.

Credentials never appear here: at apply time Attonix writes a private ``clouds.yaml`` from the
secret named by ``credentials_secret`` and passes it to the OpenStack client.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from attonix.blueprint.model import (
    Account,
    Blueprint,
    FirewallRule,
    OpenStack,
    OpenStackInstanceGroup,
    OpenStackNetwork,
)
from attonix.policy import firewall
from attonix.render.base import Artifact, RenderError
from attonix.render.labels import blueprint_labels

HEAT_VERSION = "2021-04-16"
#: A Cinder volume type the cloud operator configured with LUKS encryption.
ENCRYPTED_VOLUME_TYPE = "encrypted"
_ANY = ("0.0.0.0/0", "::/0")

__all__ = ["environment", "render", "stack"]


def _pname(name: str, what: str) -> str:
    return f"{name.replace('-', '_')}_{what}"


def _networks(ip: str) -> Any:
    return ipaddress.ip_network(ip, strict=False)


def _zones_of(bp: Blueprint, cidr: str) -> list[str]:
    """Firewall zones whose address ranges overlap ``cidr`` (where a network sits)."""
    net = _networks(cidr)
    out = []
    for zone in bp.security.firewall.zones:
        for zc in zone.cidrs:
            z = _networks(zc)
            if z.version == net.version and z.overlaps(net):
                out.append(zone.name)
                break
    return out


def _remote_prefixes(bp: Blueprint, rule: FirewallRule) -> list[str]:
    if rule.source == "internet":
        return list(_ANY)
    zones = {z.name: z for z in bp.security.firewall.zones}
    return list(zones[rule.source].cidrs) if rule.source in zones else []


def _port_range(port: int | str) -> tuple[int, int]:
    text = str(port)
    lo, _, hi = text.partition("-")
    return int(lo), int(hi or lo)


def management_prefixes(bp: Blueprint) -> list[str]:
    """Where operators manage instances from: the management zone's CIDRs, else the bastions."""
    zone = firewall.management_zone(bp)
    if zone is not None:
        return [str(n) for n in firewall.zone_networks(zone)]
    return [str(n) for n in firewall.host_networks([h for h in bp.hosts if "bastion" in h.roles])]


def security_rules(bp: Blueprint, cidr: str) -> list[dict[str, Any]]:
    """Ingress rules for instances on a network with ``cidr``: SSH from the management zone,
    then the firewall's allow rules whose destination zone covers the network.

    Security groups only allow; a ``deny`` rule is honoured by not rendering an allowance.
    """
    zones = set(_zones_of(bp, cidr))
    rules: list[dict[str, Any]] = [
        {
            "direction": "ingress",
            "ethertype": "IPv6" if ":" in prefix else "IPv4",
            "protocol": "tcp",
            "port_range_min": firewall.SSH_PORT,
            "port_range_max": firewall.SSH_PORT,
            "remote_ip_prefix": prefix,
        }
        for prefix in management_prefixes(bp)
    ]
    for rule in bp.security.firewall.rules:
        if rule.action != "allow" or rule.destination not in zones:
            continue
        for prefix in _remote_prefixes(bp, rule):
            for port in rule.ports:
                lo, hi = _port_range(port)
                entry = {
                    "direction": "ingress",
                    "ethertype": "IPv6" if ":" in prefix else "IPv4",
                    "protocol": rule.protocol,
                    "port_range_min": lo,
                    "port_range_max": hi,
                    "remote_ip_prefix": prefix,
                }
                if entry not in rules:
                    rules.append(entry)
    return rules


def exposed(bp: Blueprint, net: OpenStackNetwork) -> bool:
    """Whether the internet may reach the network (an allow rule from it to the net's zones)."""
    zones = set(_zones_of(bp, net.cidr))
    return any(
        r.action == "allow" and r.source == "internet" and r.destination in zones
        for r in bp.security.firewall.rules
    )


def reaches_outside(bp: Blueprint, net: OpenStackNetwork) -> bool:
    """Whether the network needs a router: external, exposed, or using anything beyond its range
    (its zones' egress, DNS and NTP servers, package mirrors)."""
    if net.external or exposed(bp, net):
        return True
    own = _networks(net.cidr)
    zones = set(_zones_of(bp, net.cidr))
    targets = [
        c for z in bp.security.firewall.zones if z.name in zones for e in z.egress for c in e.cidrs
    ]
    targets += [str(a) for a in (*bp.network.dns_servers, *bp.network.time_servers)]
    targets += [c for m in bp.network.package_mirrors for c in m.cidrs]
    for target in targets:
        t = _networks(target)
        if t.version != own.version or not t.subnet_of(own):
            return True
    return False


def login_accounts(bp: Blueprint, group: OpenStackInstanceGroup) -> list[Account]:
    """People whose roles' ``users.host_access`` reaches the group's instances (by its roles,
    ``compute`` when it declares none), in blueprint order; the first with sudo comes first."""
    roles = set(group.roles or ["compute"]) | {"all"}
    entries = [e for e in bp.users.host_access if roles & set(e.hosts_with)]
    names: dict[str, bool] = {}
    for entry in entries:
        for account in bp.accounts_with_role(entry.role):
            names[account.name] = names.get(account.name, False) or entry.sudo
    people = [a for a in bp.users.accounts if a.name in names and a.ssh_keys]
    return sorted(people, key=lambda a: not names[a.name])


def _instance_resources(
    bp: Blueprint, group: OpenStackInstanceGroup, *, labels: dict[str, str]
) -> dict[str, Any]:
    res: dict[str, Any] = {}
    zones = group.availability_zones
    sg, srvgroup = f"{group.network}-secgroup", f"{group.name}-servers"
    net = _group_network(bp, group)
    public = exposed(bp, net)
    people = login_accounts(bp, group)
    # Hard anti-affinity: two instances of a group never share a hypervisor.
    res[srvgroup] = {
        "type": "OS::Nova::ServerGroup",
        "properties": {"name": f"{bp.metadata.name}-{group.name}", "policies": ["anti-affinity"]},
    }
    width = max(2, len(str(group.count)))
    for i in range(group.count):
        name = f"{group.name}-{i + 1:0{width}d}"
        zone = zones[i % len(zones)] if zones else None
        volume: dict[str, Any] = {
            "name": f"{name}-boot",
            "size": group.volume_gib,
            "image": {"get_param": _pname(group.name, "image")},
            "volume_type": {"get_param": "volume_type"},
            "metadata": dict(labels),
        }
        res[f"{name}-boot"] = {"type": "OS::Cinder::Volume", "properties": volume}
        res[f"{name}-port"] = {
            "type": "OS::Neutron::Port",
            "properties": {
                "network": {"get_resource": f"{group.network}-net"},
                "fixed_ips": [{"subnet": {"get_resource": f"{group.network}-subnet"}}],
                "security_groups": [{"get_resource": sg}],
            },
        }
        if public:
            res[f"{name}-fip"] = {
                "type": "OS::Neutron::FloatingIP",
                "depends_on": [f"{group.network}-router-interface"],
                "properties": {
                    "floating_network": {"get_param": "external_network"},
                    "port_id": {"get_resource": f"{name}-port"},
                },
            }
        if "storage" in group.roles:
            res[f"{name}-data"] = {
                "type": "OS::Cinder::Volume",
                "properties": {
                    "name": f"{name}-data",
                    "size": group.data_volume_gib,
                    "volume_type": {"get_param": "volume_type"},
                    "metadata": dict(labels),
                },
            }
            res[f"{name}-data-attachment"] = {
                "type": "OS::Cinder::VolumeAttachment",
                "properties": {
                    "instance_uuid": {"get_resource": name},
                    "volume_id": {"get_resource": f"{name}-data"},
                },
            }
        server: dict[str, Any] = {
            "name": name,
            "flavor": {"get_param": _pname(group.name, "flavor")},
            "block_device_mapping_v2": [
                {
                    "boot_index": 0,
                    "volume_id": {"get_resource": f"{name}-boot"},
                    # Keep the data if the server is replaced; volumes are deleted explicitly.
                    "delete_on_termination": False,
                }
            ],
            "networks": [{"port": {"get_resource": f"{name}-port"}}],
            "scheduler_hints": {"group": {"get_resource": srvgroup}},
            "user_data_format": "RAW",
            "user_data": {"get_param": "user_data"},
            "config_drive": True,
            "metadata": dict(labels),
        }
        if zone:
            server["availability_zone"] = zone
        if people:
            # The image's first login gets this key; cloud-init's user data adds one login per
            # person (users.host_access) with their own keys.
            server["key_name"] = {"get_resource": f"{people[0].name}-keypair"}
        res[name] = {"type": "OS::Nova::Server", "properties": server}
    return res


def _group_network(bp: Blueprint, group: OpenStackInstanceGroup) -> OpenStackNetwork:
    for cloud in bp.storage.openstack:
        for net in cloud.networks:
            if net.name == group.network and group in cloud.instances:
                return net
    raise RenderError(
        f"instance group {group.name!r} uses network {group.network!r}, which its cloud does "
        "not declare",
        hint="Add the network under storage.openstack[].networks, or fix the name.",
    )


def stack(bp: Blueprint, cloud: OpenStack) -> dict[str, Any]:
    """The HOT template of one cloud."""
    labels = blueprint_labels(bp)
    params: dict[str, Any] = {
        "external_network": {
            "type": "string",
            "description": "The provider network routers use as their gateway.",
            "default": "public",
        },
        "volume_type": {
            "type": "string",
            "description": "A Cinder volume type with encryption (LUKS) configured by the "
            "cloud operator; every boot volume uses it.",
            "default": ENCRYPTED_VOLUME_TYPE,
        },
        "user_data": {
            "type": "string",
            "description": "cloud-init user-data for the instances (the cloud-init target's "
            "output), passed at apply time. It may hold bootstrap tokens, so it is hidden.",
            "default": "",
            "hidden": True,
        },
    }
    resources: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    routed = False
    people = {a.name: a for g in cloud.instances for a in login_accounts(bp, g)}
    for account in sorted(people.values(), key=lambda a: a.name):
        resources[f"{account.name}-keypair"] = {
            "type": "OS::Nova::KeyPair",
            "properties": {
                "name": f"{bp.metadata.name}-{account.name}",
                "public_key": account.ssh_keys[0],
            },
        }
    for net in cloud.networks:
        resources[f"{net.name}-net"] = {
            "type": "OS::Neutron::Net",
            "properties": {"name": f"{bp.metadata.name}-{net.name}"},
        }
        resources[f"{net.name}-secgroup"] = {
            "type": "OS::Neutron::SecurityGroup",
            "properties": {
                "name": f"{bp.metadata.name}-{net.name}",
                "description": f"{net.name}: SSH from the management zone and the ingress the "
                "blueprint's firewall rules allow; nothing else",
                "rules": security_rules(bp, net.cidr),
            },
        }
        resources[f"{net.name}-subnet"] = {
            "type": "OS::Neutron::Subnet",
            "properties": {
                "network": {"get_resource": f"{net.name}-net"},
                "cidr": net.cidr,
                "ip_version": _networks(net.cidr).version,
            },
        }
        if reaches_outside(bp, net):
            routed = True
            resources[f"{net.name}-router"] = {
                "type": "OS::Neutron::Router",
                "properties": {
                    "external_gateway_info": {"network": {"get_param": "external_network"}}
                },
            }
            resources[f"{net.name}-router-interface"] = {
                "type": "OS::Neutron::RouterInterface",
                "properties": {
                    "router": {"get_resource": f"{net.name}-router"},
                    "subnet": {"get_resource": f"{net.name}-subnet"},
                },
            }
    for group in cloud.instances:
        params[_pname(group.name, "image")] = {
            "type": "string",
            "description": f"Glance image the {group.name} boot volumes are created from.",
            "constraints": [{"custom_constraint": "glance.image"}],
        }
        params[_pname(group.name, "flavor")] = {
            "type": "string",
            "description": f"Nova flavor of the {group.name} instances.",
            "constraints": [{"custom_constraint": "nova.flavor"}],
        }
        resources.update(_instance_resources(bp, group, labels=labels))
        outputs[_pname(group.name, "servers")] = {
            "description": f"IDs of the {group.name} instances.",
            "value": [
                {"get_resource": f"{group.name}-{i + 1:0{max(2, len(str(group.count)))}d}"}
                for i in range(group.count)
            ],
        }
    if not routed:
        # Nothing reaches outside: no router, so no gateway network to name.
        del params["external_network"]
    return {
        "heat_template_version": HEAT_VERSION,
        "description": f"{bp.metadata.name} on OpenStack cloud {cloud.name} "
        f"(project {cloud.project}, region {cloud.region}); rendered by Attonix.",
        "parameters": params,
        "resources": resources,
        "outputs": outputs,
    }


def environment(cloud: OpenStack) -> dict[str, Any]:
    """The Heat environment of one cloud: non-secret parameter values."""
    values: dict[str, Any] = {"volume_type": ENCRYPTED_VOLUME_TYPE}
    for group in cloud.instances:
        values[_pname(group.name, "image")] = group.image
        values[_pname(group.name, "flavor")] = group.flavor
    return {"parameters": values}


def render(bp: Blueprint) -> list[Artifact]:
    """A stack and an environment per OpenStack cloud of ``bp``."""
    out: list[Artifact] = []
    for cloud in bp.storage.openstack:
        out.append(Artifact("openstack", f"openstack/{cloud.name}/stack.yaml", stack(bp, cloud)))
        out.append(Artifact("openstack", f"openstack/{cloud.name}/env.yaml", environment(cloud)))
    return out
