"""The nftables target: zone membership, rule order, sets, policies (content, not counts)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from attonix.blueprint.loader import load_file
from attonix.blueprint.model import Blueprint
from attonix.policy import firewall
from attonix.render.base import RenderError
from attonix.render.nftables import render


def blueprint(**overrides: Any) -> Blueprint:
    doc: dict[str, Any] = {
        "metadata": {"name": "lab", "domain": "lab.example.com"},
        "security": {
            "tls": {"ca": {"name": "ca", "common_name": "Lab CA"}},
            "firewall": {
                "default_policy": "deny",
                "zones": [
                    {"name": "client", "cidrs": ["10.200.0.0/26"]},
                    {"name": "server", "cidrs": ["10.200.0.128/25", "fd00:200::/64"]},
                    {"name": "ops", "cidrs": ["10.200.0.64/27"]},
                ],
                "rules": [
                    {"name": "web", "source": "client", "destination": "server", "ports": [8080]},
                    {
                        "name": "range",
                        "source": "ops",
                        "destination": "server",
                        "ports": ["9100-9199", 22],
                        "protocol": "udp",
                    },
                    {
                        "name": "no-ops",
                        "source": "ops",
                        "destination": "server",
                        "ports": [8080],
                        "action": "deny",
                    },
                    {
                        "name": "public",
                        "source": "internet",
                        "destination": "client",
                        "ports": [443],
                    },
                ],
            },
        },
        "hosts": [
            {"name": "srv", "address": "10.200.0.130", "zone": "z", "rack": "r"},
            {"name": "cli", "address": "10.200.0.10", "zone": "z", "rack": "r"},
            {"name": "lone", "address": "192.0.2.7", "zone": "z", "rack": "r"},
        ],
    }
    doc.update(overrides)
    return Blueprint.model_validate(doc)


def files(bp: Blueprint) -> dict[str, str]:
    return {a.path: a.text() for a in render(bp)}


def input_rules(text: str) -> list[str]:
    lines = [line.strip() for line in text.split("chain input {", 1)[1].splitlines()]
    return [line for line in lines[: lines.index("}")] if line]


def test_one_file_per_host_and_zone() -> None:
    out = files(blueprint())
    assert sorted(out) == [
        "nftables/cli.nft",
        "nftables/lone.nft",
        "nftables/srv.nft",
        "nftables/zones/client.nft",
        "nftables/zones/ops.nft",
        "nftables/zones/server.nft",
    ]


def test_host_gets_rules_of_zones_containing_its_address() -> None:
    text = files(blueprint())["nftables/srv.nft"]
    rules = input_rules(text)
    web = 'ip saddr @zone_client tcp dport { 8080 } counter accept comment "allow web: client -> '
    assert web + 'server"' in rules
    ops = "ip saddr @zone_ops udp dport { 9100-9199, 22 } counter accept comment "
    assert ops + '"allow range: ops -> server"' in rules
    # The client zone's internet rule is not for the server.
    assert not any("dport { 443 }" in r for r in rules)
    assert "elements = { 10.200.0.0/26 }" in text
    assert "zones: server" in text


def test_internet_source_matches_any_address() -> None:
    rules = input_rules(files(blueprint())["nftables/cli.nft"])
    assert 'tcp dport { 443 } counter accept comment "allow public: internet -> client"' in rules


def test_deny_rules_come_before_allows() -> None:
    rules = input_rules(files(blueprint())["nftables/srv.nft"])
    deny = rules.index(
        'ip saddr @zone_ops tcp dport { 8080 } counter drop comment "deny no-ops: ops -> server"'
    )
    first_allow = min(i for i, r in enumerate(rules) if 'comment "allow' in r)
    assert deny < first_allow
    # ... but after established traffic, loopback and ICMP.
    assert rules.index("ct state established,related accept") < deny


def test_default_deny_drops_counts_and_logs_at_a_limited_rate() -> None:
    text = files(blueprint())["nftables/srv.nft"]
    assert "type filter hook input priority filter; policy drop;" in text
    rules = input_rules(text)
    assert re.fullmatch(
        r'limit rate \d+/minute burst \d+ packets log prefix "attonix drop input: " level info',
        rules[-2],
    )
    assert rules[-1] == "counter drop"
    assert text.splitlines()[2] == "flush ruleset"


def test_default_allow_accepts_and_keeps_deny_rules() -> None:
    base = blueprint().security.model_dump()
    base["firewall"]["default_policy"] = "allow"
    text = files(blueprint(security=base))["nftables/srv.nft"]
    assert "type filter hook input priority filter; policy accept;" in text
    assert 'counter drop comment "deny no-ops' in text
    assert 'log prefix "attonix drop input' not in text


def test_host_outside_every_zone_gets_only_the_baseline() -> None:
    rules = input_rules(files(blueprint())["nftables/lone.nft"])
    assert not any("dport" in r for r in rules)
    assert "zones: none" in files(blueprint())["nftables/lone.nft"]


def test_icmp_is_rate_limited() -> None:
    rules = input_rules(files(blueprint())["nftables/srv.nft"])
    echo = [r for r in rules if "echo-request" in r]
    assert len(echo) == 2 and all("limit rate" in r for r in echo)


def test_zone_view_has_the_zone_rules_and_no_host_rules() -> None:
    text = files(blueprint())["nftables/zones/server.nft"]
    assert "@zone_client" in text and "@zone_ops" in text
    assert "bastion" not in text


def test_ipv6_cidrs_get_their_own_set() -> None:
    base = blueprint().security.model_dump()
    base["firewall"]["rules"].append(
        {
            "name": "v6",
            "source": "server",
            "destination": "client",
            "ports": [53],
            "protocol": "udp",
            "action": "allow",
        }
    )
    text = files(blueprint(security=base))["nftables/cli.nft"]
    assert "set zone_server_v6 {" in text and "type ipv6_addr" in text
    assert "ip6 saddr @zone_server_v6 udp dport { 53 }" in text
    assert "ip saddr @zone_server udp dport { 53 }" in text


def test_bastions_cluster_peers_and_vrrp() -> None:
    bp = blueprint(
        hosts=[
            {
                "name": "b1",
                "address": "10.200.0.70",
                "zone": "z",
                "rack": "r",
                "roles": ["bastion"],
            },
            {
                "name": "k1",
                "address": "10.200.0.131",
                "zone": "z",
                "rack": "r",
                "roles": ["compute"],
            },
            {
                "name": "k2",
                "address": "10.200.0.132",
                "zone": "z",
                "rack": "r",
                "roles": ["compute"],
            },
            {
                "name": "lb1",
                "address": "10.200.0.20",
                "zone": "z",
                "rack": "r",
                "roles": ["load-balancer"],
            },
            {
                "name": "lb2",
                "address": "10.200.0.21",
                "zone": "z",
                "rack": "r",
                "roles": ["load-balancer"],
            },
        ],
        orchestration={
            "clusters": [
                {
                    "name": "kube",
                    "kind": "kubernetes",
                    "version": "1.33",
                    "control_plane": ["k1"],
                    "workers": ["k1", "k2"],
                }
            ]
        },
        ha={
            "load_balancers": [
                {"name": "edge", "hosts": ["lb1", "lb2"], "virtual_ip": "10.200.0.140"}
            ]
        },
    )
    out = files(bp)
    k1 = out["nftables/k1.nft"]
    assert "set cluster_kube {" in k1 and "elements = { 10.200.0.132 }" in k1
    assert 'ip saddr @cluster_kube counter accept comment "kubernetes cluster kube peers"' in k1
    assert "ip saddr @role_bastion tcp dport { 22 } counter accept" in k1
    # Container hosts keep the engine's tables and forward its traffic.
    assert "flush ruleset" not in k1
    assert "table inet attonix\ndelete table inet attonix" in k1
    assert "hook forward priority filter; policy accept;" in k1
    lb1 = out["nftables/lb1.nft"]
    assert "ip saddr @lb_edge meta l4proto 112 counter accept" in lb1
    # Its address is in client; its virtual IP is in server, so it takes that zone's rules too.
    assert "zones: client, server" in lb1 and "@zone_client tcp dport { 8080 }" in lb1
    assert "hook forward priority filter; policy drop;" in lb1


def test_bad_port_range_is_an_error() -> None:
    base = blueprint().security.model_dump()
    base["firewall"]["rules"][0]["ports"] = ["9000-80"]
    with pytest.raises(RenderError, match="9000-80"):
        render(blueprint(security=base))


def test_render_is_deterministic_for_the_example(example_path: Any) -> None:
    bp = load_file(example_path).blueprint
    first = [(a.path, a.text()) for a in render(bp)]
    again = [(a.path, a.text()) for a in render(load_file(example_path).blueprint)]
    assert first == again
    assert firewall.host_zones(bp, bp.hosts_by_name["lb-a"])[0].name == "dmz"


def output_rules(text: str) -> list[str]:
    lines = [line.strip() for line in text.split("chain output {", 1)[1].splitlines()]
    return [line for line in lines[: lines.index("}")] if line]


def test_output_is_default_deny_with_the_declared_egress(example_path: Any) -> None:
    bp = load_file(example_path).blueprint
    out = files(bp)
    wk = output_rules(out["nftables/wk-a1.nft"])
    assert wk[0] == "type filter hook output priority filter; policy drop;"
    assert "ct state established,related accept" in wk
    joined = "\n".join(wk)
    # the blueprint's rules whose source zone holds the host: app -> data on the database ports
    assert "ip daddr @zone_data tcp dport { 5432, 3306, 27017 } counter accept" in joined
    # the zone's declared egress, DNS, NTP and the package mirrors
    assert "ip daddr @egress_app__registry tcp dport { 443 } counter accept" in joined
    assert "ip daddr @svc_dns udp dport { 53 } counter accept" in joined
    assert "ip daddr @svc_ntp udp dport { 123 } counter accept" in joined
    assert "ip daddr @mirror_ubuntu tcp dport { 80, 443 } counter accept" in joined
    assert "ip daddr @podnet_k8s_prod counter accept" in joined
    assert wk[-1] == "counter drop"
    # nothing undeclared: no rule without a destination but the fixed preamble
    free = [r for r in wk if "daddr" not in r and "oif" not in r]
    assert free == [
        "type filter hook output priority filter; policy drop;",
        "ct state invalid counter drop",
        "ct state established,related accept",
        "meta l4proto icmp accept",
        "meta l4proto ipv6-icmp accept",
        'limit rate 6/minute burst 10 packets log prefix "attonix drop output: " level info',
        "counter drop",
    ]
    # bastions open SSH to every other host; other hosts do not
    assert "ip daddr @managed_hosts tcp dport { 22 }" in out["nftables/bastion-a.nft"]
    assert "@managed_hosts" not in out["nftables/wk-a1.nft"]
    # swarm and podman engines name their bridges at run time
    assert 'oifname "docker0" counter accept' in out["nftables/sw-a.nft"]
    # machines the blueprint does not list get their zone's output policy
    app = "\n".join(output_rules(out["nftables/zones/app.nft"]))
    assert "hook output priority filter; policy drop;" in app
    assert "ip daddr @egress_app__registry tcp dport { 443 } counter accept" in app
    assert "ip daddr @zone_data tcp dport { 5432, 3306, 27017 } counter accept" in app
    assert "@managed_hosts" not in app and "@cluster_" not in app


def test_every_host_admits_ssh_from_the_management_zone(example_path: Any) -> None:
    bp = load_file(example_path).blueprint
    for path, text in files(bp).items():
        if "/zones/" in path:
            continue
        assert (
            'ip saddr @zone_mgmt tcp dport { 22 } counter accept comment "ssh from management '
            'zone mgmt"' in input_rules(text)
        ), path
    for host in bp.hosts:
        assert firewall.unreachable_for_management(bp, host) is None, host.name


def test_a_deny_before_the_management_flow_makes_a_host_unreachable() -> None:
    bp = blueprint()
    security = bp.security.model_dump()
    security["firewall"]["management_zone"] = "ops"
    assert firewall.unreachable_for_management(blueprint(security=security), bp.hosts[0]) is None
    security["firewall"]["rules"].insert(
        0,
        {
            "name": "no-ssh",
            "source": "ops",
            "destination": "server",
            "ports": [22],
            "action": "deny",
        },
    )
    bad = blueprint(security=security)
    why = firewall.unreachable_for_management(bad, bad.hosts_by_name["srv"])
    assert why is not None and "no-ssh" in why
    # the host outside the denied zone is still reachable
    assert firewall.unreachable_for_management(bad, bad.hosts_by_name["lone"]) is None
    # no management zone at all: every host is reported
    assert "no management zone" in (firewall.unreachable_for_management(bp, bp.hosts[0]) or "")


def forward_rules(text: str) -> list[str]:
    lines = [line.strip() for line in text.split("chain forward {", 1)[1].splitlines()]
    return [line for line in lines[: lines.index("}")] if line and not line.startswith("#")]


def engine_blueprint(*kinds: str, **overrides: Any) -> Blueprint:
    """srv and cli in one cluster of each kind."""
    clusters: list[dict[str, Any]] = []
    for kind in kinds:
        cluster: dict[str, Any] = {"name": f"{kind}-c", "kind": kind, "workers": ["srv", "cli"]}
        if kind != "podman":
            cluster["control_plane"] = ["srv"]
        if kind == "kubernetes":
            cluster["version"] = "1.33"
        clusters.append(cluster)
    return blueprint(orchestration={"clusters": clusters}, **overrides)


@pytest.mark.parametrize("kind", ["swarm", "podman"])
def test_engine_hosts_judge_published_ports_by_the_input_zone_rules(kind: str) -> None:
    text = files(engine_blueprint(kind))["nftables/srv.nft"]
    rules = forward_rules(text)
    assert rules[:3] == [
        "type filter hook forward priority filter; policy drop;",
        "ct state invalid counter drop",
        "ct state established,related accept",
    ]
    # Containers' own traffic (between them and out) comes from the engines' bridges ...
    bridges = [r for r in rules if r.startswith("iifname")]
    assert [r.split('"')[1] for r in bridges] == [
        "docker0",
        "docker_gwbridge",
        "br-*",
        "podman*",
        "cni-podman*",
    ], "never veth*: a host's uplink may be a veth"
    # ... and a published port (DNAT-ed, then forwarded) meets the input chain's zone rules,
    # matched on the port the client asked for, in the same order: denies first.
    assert [r for r in rules if r.startswith("ct status dnat")] == [
        "ct status dnat ip saddr @zone_ops meta l4proto tcp ct original proto-dst { 8080 } "
        'counter drop comment "deny no-ops: ops -> server"',
        "ct status dnat ip saddr @zone_client meta l4proto tcp ct original proto-dst { 8080 } "
        'counter accept comment "allow web: client -> server"',
        "ct status dnat ip saddr @zone_ops meta l4proto udp ct original proto-dst "
        '{ 9100-9199, 22 } counter accept comment "allow range: ops -> server"',
        f"ct status dnat ip saddr @cluster_{kind}_c counter accept comment "
        f'"{kind} cluster {kind}-c peers"',
    ]
    assert rules[-2] == (
        'limit rate 6/minute burst 10 packets log prefix "attonix drop forward: " level info'
    )
    assert rules[-1] == "counter drop"
    # The engine's own tables stay.
    assert "flush ruleset" not in text and "delete table inet attonix" in text


def test_published_ports_from_the_internet_and_under_default_allow() -> None:
    cli = forward_rules(files(engine_blueprint("podman"))["nftables/cli.nft"])
    assert (
        "ct status dnat meta l4proto tcp ct original proto-dst { 443 } counter accept "
        'comment "allow public: internet -> client"' in cli
    )
    security = blueprint().security.model_dump()
    security["firewall"]["default_policy"] = "allow"
    rules = forward_rules(files(engine_blueprint("swarm", security=security))["nftables/srv.nft"])
    assert rules[0] == "type filter hook forward priority filter; policy accept;"
    assert any('counter drop comment "deny no-ops' in r for r in rules)
    assert not any("attonix drop forward" in r for r in rules)


def test_kubernetes_nodes_leave_forwarding_to_kube_proxy_and_the_cni() -> None:
    for kinds in (("kubernetes",), ("kubernetes", "podman")):
        rules = forward_rules(files(engine_blueprint(*kinds))["nftables/srv.nft"])
        assert rules == ["type filter hook forward priority filter; policy accept;"], kinds
    plain = forward_rules(files(blueprint())["nftables/srv.nft"])
    assert plain[0] == "type filter hook forward priority filter; policy drop;"
    assert not any("ct status dnat" in r for r in plain)
