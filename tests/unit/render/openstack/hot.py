"""A structural checker for Heat Orchestration Templates, for tests: heat itself cannot run
here. It checks what Heat checks before it talks to any service: the template version, the
top-level sections, parameter types, resource types against an allow-list of real ``OS::*``
types with their required and known properties (from Heat's resource reference), and that
every ``get_param``/``get_resource``/``get_attr`` names something the template declares."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

VERSIONS = {
    "2013-05-23",
    "2014-10-16",
    "2015-04-30",
    "2015-10-15",
    "2016-04-08",
    "2016-10-14",
    "2017-02-24",
    "2017-09-01",
    "2018-03-02",
    "2018-08-31",
    "2021-04-16",
    "newton",
    "ocata",
    "pike",
    "queens",
    "rocky",
    "wallaby",
}
SECTIONS = {
    "heat_template_version",
    "description",
    "parameter_groups",
    "parameters",
    "resources",
    "outputs",
    "conditions",
}
PARAM_TYPES = {"string", "number", "json", "comma_delimited_list", "boolean"}
PARAM_KEYS = {
    "type",
    "label",
    "description",
    "default",
    "hidden",
    "constraints",
    "immutable",
    "tags",
}
#: type -> (required properties, known properties)
TYPES: dict[str, tuple[set[str], set[str]]] = {
    "OS::Neutron::Net": (
        set(),
        {
            "name",
            "admin_state_up",
            "shared",
            "port_security_enabled",
            "value_specs",
            "tags",
            "dns_domain",
            "qos_policy",
        },
    ),
    "OS::Neutron::Subnet": (
        {"network"},
        {
            "network",
            "cidr",
            "ip_version",
            "name",
            "enable_dhcp",
            "dns_nameservers",
            "gateway_ip",
            "allocation_pools",
            "host_routes",
            "subnetpool",
            "prefixlen",
            "tags",
            "value_specs",
        },
    ),
    "OS::Neutron::Router": (
        set(),
        {
            "name",
            "external_gateway_info",
            "admin_state_up",
            "distributed",
            "ha",
            "value_specs",
            "tags",
        },
    ),
    "OS::Neutron::RouterInterface": ({"router"}, {"router", "subnet", "port"}),
    "OS::Neutron::SecurityGroup": (set(), {"name", "description", "rules", "tags"}),
    "OS::Neutron::Port": (
        {"network"},
        {
            "network",
            "fixed_ips",
            "security_groups",
            "name",
            "admin_state_up",
            "allowed_address_pairs",
            "port_security_enabled",
            "mac_address",
            "tags",
            "binding:vnic_type",
            "value_specs",
        },
    ),
    "OS::Nova::ServerGroup": (set(), {"name", "policies", "policy", "rules"}),
    "OS::Nova::Server": (
        {"flavor"},
        {
            "name",
            "flavor",
            "image",
            "block_device_mapping",
            "block_device_mapping_v2",
            "networks",
            "key_name",
            "availability_zone",
            "scheduler_hints",
            "user_data",
            "user_data_format",
            "config_drive",
            "metadata",
            "security_groups",
            "admin_pass",
            "software_config_transport",
            "tags",
            "personality",
            "flavor_update_policy",
            "image_update_policy",
            "deployment_swift_data",
        },
    ),
    "OS::Cinder::Volume": (
        {"size"},
        {
            "size",
            "image",
            "volume_type",
            "name",
            "description",
            "availability_zone",
            "metadata",
            "source_volid",
            "snapshot_id",
            "backup_id",
            "multiattach",
            "read_only",
            "scheduler_hints",
        },
    ),
    "OS::Cinder::VolumeAttachment": (
        {"instance_uuid", "volume_id"},
        {"instance_uuid", "volume_id", "mountpoint"},
    ),
    "OS::Nova::KeyPair": (
        {"name"},
        {"name", "public_key", "save_private_key", "type", "user"},
    ),
    "OS::Neutron::FloatingIP": (
        {"floating_network"},
        {
            "floating_network",
            "port_id",
            "fixed_ip_address",
            "floating_ip_address",
            "floating_subnet",
            "dns_name",
            "dns_domain",
            "value_specs",
        },
    ),
    "OS::Heat::ResourceGroup": (
        {"resource_def"},
        {"count", "resource_def", "index_var", "removal_policies"},
    ),
}
RULE_KEYS = {
    "direction",
    "ethertype",
    "protocol",
    "port_range_min",
    "port_range_max",
    "remote_ip_prefix",
    "remote_group_id",
    "remote_mode",
}
SERVER_GROUP_POLICIES = {"anti-affinity", "affinity", "soft-anti-affinity", "soft-affinity"}


def _intrinsics(node: Any, path: str) -> Iterator[tuple[str, Any, str]]:
    if isinstance(node, dict):
        if len(node) == 1:
            ((k, v),) = node.items()
            if k in ("get_param", "get_resource", "get_attr"):
                yield k, v, path
                return
        for k, v in node.items():
            yield from _intrinsics(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _intrinsics(v, f"{path}[{i}]")


def problems(tpl: dict[str, Any]) -> list[str]:
    """Every structural problem of ``tpl`` (empty when it would pass Heat's checks)."""
    out: list[str] = []
    if str(tpl.get("heat_template_version")) not in VERSIONS:
        out.append(f"heat_template_version {tpl.get('heat_template_version')!r} is unknown")
    out += [f"unknown section {k!r}" for k in tpl if k not in SECTIONS]
    params = tpl.get("parameters") or {}
    resources = tpl.get("resources") or {}
    if not resources:
        out.append("no resources")
    for name, p in params.items():
        if p.get("type") not in PARAM_TYPES:
            out.append(f"parameter {name}: type {p.get('type')!r}")
        out += [f"parameter {name}: unknown key {k!r}" for k in p if k not in PARAM_KEYS]
    for name, res in resources.items():
        rtype = res.get("type")
        if rtype not in TYPES:
            out.append(f"resource {name}: type {rtype!r} is not allowed")
            continue
        required, known = TYPES[rtype]
        props = res.get("properties") or {}
        out += [f"resource {name}: missing property {r!r}" for r in sorted(required - set(props))]
        out += [f"resource {name}: unknown property {k!r}" for k in props if k not in known]
        if rtype == "OS::Nova::Server" and not (
            "image" in props or props.get("block_device_mapping_v2")
        ):
            out.append(f"resource {name}: a server needs an image or a boot volume")
        if rtype == "OS::Neutron::RouterInterface" and not ({"subnet", "port"} & set(props)):
            out.append(f"resource {name}: needs a subnet or a port")
        if rtype == "OS::Neutron::SecurityGroup":
            for i, rule in enumerate(props.get("rules", [])):
                out += [
                    f"resource {name}.rules[{i}]: unknown key {k!r}"
                    for k in rule
                    if k not in RULE_KEYS
                ]
        if rtype == "OS::Nova::ServerGroup":
            out += [
                f"resource {name}: policy {p!r}"
                for p in props.get("policies", [])
                if p not in SERVER_GROUP_POLICIES
            ]
        out += [
            f"resource {name}: unknown key {k!r}"
            for k in res
            if k not in {"type", "properties", "depends_on", "metadata", "deletion_policy"}
        ]
        out += [
            f"resource {name}: depends_on {d!r} names no resource"
            for d in res.get("depends_on", [])
            if d not in resources
        ]
    used: set[str] = set()
    for fn, arg, path in _intrinsics({"resources": resources, "outputs": tpl.get("outputs")}, ""):
        target = arg[0] if isinstance(arg, list) else arg
        table = params if fn == "get_param" else resources
        if fn == "get_param":
            used.add(target)
        if target not in table:
            out.append(f"{path}: {fn} {target!r} names nothing in the template")
    out += [f"parameter {p!r} is declared but never used" for p in params if p not in used]
    return out
