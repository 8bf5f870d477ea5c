"""The ``openstack`` target: one Heat (HOT) stack per ``storage.openstack`` entry.

``openstack/<cloud>/stack.yaml`` holds networks and subnets, one security group per instance
group (ingress derived from the firewall rules whose destination zone covers the group's
network; nothing else is open), an anti-affinity server group per instance group, and each
instance explicitly, round-robin over the group's availability zones, booting from an
encrypted Cinder volume. ``openstack/<cloud>/env.yaml`` carries the parameter values.

Credentials never appear here: at apply time Attonix writes a private ``clouds.yaml`` from the
secret named by ``credentials_secret`` and passes it to the OpenStack client.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from attonix.blueprint.model import Blueprint, FirewallRule, OpenStack, OpenStackInstanceGroup
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


def security_rules(bp: Blueprint, cidr: str) -> list[dict[str, Any]]:
    """Ingress rules for instances on a network with ``cidr``, from the firewall's allow rules.

    Security groups only allow; a ``deny`` rule is honoured by not rendering an allowance.
    """
    zones = set(_zones_of(bp, cidr))
    rules: list[dict[str, Any]] = []
    for rule in bp.security.firewall.rules:
        if rule.action != "allow" or rule.destination not in zones:
            continue
        for prefix in _remote_prefixes(bp, rule):
            for port in rule.ports:
                lo, hi = _port_range(port)
                rules.append(
                    {
                        "direction": "ingress",
                        "ethertype": "IPv6" if ":" in prefix else "IPv4",
                        "protocol": rule.protocol,
                        "port_range_min": lo,
                        "port_range_max": hi,
                        "remote_ip_prefix": prefix,
                    }
                )
    return rules


def _instance_resources(
    bp: Blueprint, group: OpenStackInstanceGroup, *, labels: dict[str, str]
) -> dict[str, Any]:
    res: dict[str, Any] = {}
    zones = group.availability_zones
    sg, srvgroup = f"{group.name}-secgroup", f"{group.name}-servers"
    res[sg] = {
        "type": "OS::Neutron::SecurityGroup",
        "properties": {
            "name": f"{bp.metadata.name}-{group.name}",
            "description": f"{group.name}: ingress allowed by the blueprint's firewall rules",
            "rules": security_rules(bp, _group_cidr(bp, group)),
        },
    }
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
        res[name] = {"type": "OS::Nova::Server", "properties": server}
    return res


def _group_cidr(bp: Blueprint, group: OpenStackInstanceGroup) -> str:
    for cloud in bp.storage.openstack:
        for net in cloud.networks:
            if net.name == group.network and group in cloud.instances:
                return net.cidr
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
    for net in cloud.networks:
        resources[f"{net.name}-net"] = {
            "type": "OS::Neutron::Net",
            "properties": {"name": f"{bp.metadata.name}-{net.name}"},
        }
        resources[f"{net.name}-subnet"] = {
            "type": "OS::Neutron::Subnet",
            "properties": {
                "network": {"get_resource": f"{net.name}-net"},
                "cidr": net.cidr,
                "ip_version": _networks(net.cidr).version,
            },
        }
        if net.external:
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
