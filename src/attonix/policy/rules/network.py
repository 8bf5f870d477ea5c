"""Network rules: default-deny firewalls, what the internet may reach, TLS on exposed services."""

from __future__ import annotations

from collections.abc import Iterator

from attonix.blueprint.model import Blueprint, FirewallRule
from attonix.policy import firewall
from attonix.policy.components import workloads
from attonix.policy.findings import Area, Context, Issue, Rule, Severity

_FIREWALL = ("security", "firewall")

ADMIN_PORTS: dict[int, str] = {
    22: "SSH",
    23: "telnet",
    111: "rpcbind",
    2375: "Docker API",
    2376: "Docker API (TLS)",
    2377: "Swarm management",
    2379: "etcd",
    2380: "etcd peers",
    3300: "Ceph monitor",
    3389: "RDP",
    5900: "VNC",
    5985: "WinRM",
    5986: "WinRM (TLS)",
    6443: "Kubernetes API",
    6789: "Ceph monitor",
    10250: "kubelet",
    10257: "kube-controller-manager",
    10259: "kube-scheduler",
}
DATABASE_PORTS: dict[int, str] = {
    1433: "SQL Server",
    1521: "Oracle",
    3306: "MySQL",
    5432: "PostgreSQL",
    5984: "CouchDB",
    6379: "Redis",
    9042: "Cassandra",
    9200: "Elasticsearch",
    11211: "memcached",
    27017: "MongoDB",
    27018: "MongoDB",
    27019: "MongoDB",
}
_WIDE_RANGE = 100


def port_ranges(rule: FirewallRule) -> list[tuple[int, int]]:
    """The rule's ports as inclusive (low, high) ranges."""
    out: list[tuple[int, int]] = []
    for item in rule.ports:
        if isinstance(item, int):
            out.append((item, item))
        else:
            low, _, high = item.partition("-")
            out.append((int(low), int(high or low)))
    return out


def internet_zones(bp: Blueprint) -> set[str]:
    """'internet' and every zone whose address ranges cover any address."""
    open_cidrs = {"0.0.0.0/0", "::/0"}
    return {"internet"} | {z.name for z in bp.security.firewall.zones if open_cidrs & set(z.cidrs)}


def _public_rules(bp: Blueprint) -> Iterator[tuple[int, FirewallRule]]:
    public = internet_zones(bp)
    for i, r in enumerate(bp.security.firewall.rules):
        if r.action == "allow" and r.source in public:
            yield i, r


def _default_policy(ctx: Context) -> Iterator[Issue]:
    if ctx.blueprint.security.firewall.default_policy != "deny":
        yield Issue(
            (*_FIREWALL, "default_policy"),
            "security/firewall",
            "the firewall allows every flow not listed",
        )


def _exposed_ports(ctx: Context, table: dict[int, str], what: str) -> Iterator[Issue]:
    for i, r in _public_rules(ctx.blueprint):
        hits = sorted(
            {
                f"{port} ({name})"
                for port, name in table.items()
                for low, high in port_ranges(r)
                if low <= port <= high
            },
            key=lambda s: int(s.split()[0]),
        )
        if hits:
            yield Issue(
                (*_FIREWALL, "rules", i, "ports"),
                f"firewall-rule/{r.name}",
                f"rule {r.name!r} opens {what} port(s) {', '.join(hits)} to the internet",
            )


def _admin_ports(ctx: Context) -> Iterator[Issue]:
    return _exposed_ports(ctx, ADMIN_PORTS, "administration")


def _database_ports(ctx: Context) -> Iterator[Issue]:
    return _exposed_ports(ctx, DATABASE_PORTS, "database")


def _wide_ranges(ctx: Context) -> Iterator[Issue]:
    for i, r in _public_rules(ctx.blueprint):
        for j, (low, high) in enumerate(port_ranges(r)):
            if high - low + 1 > _WIDE_RANGE:
                yield Issue(
                    (*_FIREWALL, "rules", i, "ports", j),
                    f"firewall-rule/{r.name}",
                    f"rule {r.name!r} opens {high - low + 1} ports ({low}-{high}) to the internet",
                )


def _exposed_tls(ctx: Context) -> Iterator[Issue]:
    for path, component, w in workloads(ctx.blueprint):
        if w.expose is not None and not w.expose.tls:
            yield Issue(
                (*path, "expose", "tls"),
                component,
                f"{component} is published at {w.expose.host} without TLS",
            )


def _exposed_unreachable(ctx: Context) -> Iterator[Issue]:
    bp = ctx.blueprint
    port = 443
    reachable = any(
        low <= port <= high for _, r in _public_rules(bp) for low, high in port_ranges(r)
    )
    if reachable:
        return
    for path, component, w in workloads(bp):
        if w.expose is not None:
            yield Issue(
                (*path, "expose"),
                component,
                f"{component} is published at {w.expose.host} but no firewall rule lets the "
                "internet reach port 443",
            )


def _lb_plain_http(ctx: Context) -> Iterator[Issue]:
    for i, lb in enumerate(ctx.blueprint.ha.load_balancers):
        for j, fe in enumerate(lb.frontends):
            if fe.protocol == "http":
                yield Issue(
                    ("ha", "load_balancers", i, "frontends", j, "protocol"),
                    f"load-balancer/{lb.name}",
                    f"listener {fe.name!r} of load balancer {lb.name!r} serves plain HTTP "
                    f"on port {fe.port}",
                )


def _management_reach(ctx: Context) -> Iterator[Issue]:
    bp = ctx.blueprint
    for i, host in enumerate(bp.hosts):
        why = firewall.unreachable_for_management(bp, host)
        if why is not None:
            yield Issue(
                ("hosts", i),
                f"host/{host.name}",
                f"operators cannot reach host {host.name!r} ({host.address}) over SSH from the "
                f"management zone: {why}",
            )


RULES: tuple[Rule, ...] = (
    Rule(
        id="ATX055",
        title="Firewall does not deny by default",
        severity=Severity.high,
        area=Area.network,
        rationale="With default allow, every port a process happens to open is reachable; "
        "only a default-deny firewall makes the rule list the whole truth.",
        fix="Set 'security.firewall.default_policy: deny' and list the flows needed.",
        check=_default_policy,
    ),
    Rule(
        id="ATX056",
        title="Administration port open to the internet",
        severity=Severity.critical,
        area=Area.network,
        rationale="SSH, RDP, the Kubernetes API, etcd and similar ports are the first targets "
        "of scanners; they must be reachable only from a management zone or bastion.",
        fix="Change the rule's source to the management zone (reach it through a bastion/VPN).",
        check=_admin_ports,
    ),
    Rule(
        id="ATX057",
        title="Database port open to the internet",
        severity=Severity.critical,
        area=Area.network,
        rationale="Databases exposed to the internet are brute-forced and exploited within "
        "hours; only application zones should reach them.",
        fix="Change the rule's source to the application zone.",
        check=_database_ports,
    ),
    Rule(
        id="ATX058",
        title="Wide port range open to the internet",
        severity=Severity.medium,
        area=Area.network,
        rationale="A large public range exposes services nobody meant to publish.",
        fix="List the exact ports that must be public.",
        check=_wide_ranges,
    ),
    Rule(
        id="ATX059",
        title="Exposed service without TLS",
        severity=Severity.high,
        area=Area.network,
        rationale="A public endpoint without TLS sends sessions and credentials in clear text.",
        fix="Remove 'expose.tls: false'; certificates come from ACME or the internal CA.",
        check=_exposed_tls,
    ),
    Rule(
        id="ATX060",
        title="Exposed service with no firewall rule from the internet",
        severity=Severity.medium,
        area=Area.network,
        rationale="A service is published but the default-deny firewall blocks the traffic: "
        "the exposure is either a mistake or the service is broken.",
        fix="Add a firewall rule from 'internet' to the ingress zone on port 443, or remove "
        "'expose'.",
        check=_exposed_unreachable,
    ),
    Rule(
        id="ATX061",
        title="Load balancer listener without TLS",
        severity=Severity.medium,
        area=Area.network,
        rationale="A plain HTTP listener carries cookies and tokens unencrypted.",
        fix="Use 'protocol: https' (or tcp passthrough to a TLS backend).",
        check=_lb_plain_http,
    ),
    Rule(
        id="ATX062",
        title="Host unreachable for management",
        severity=Severity.high,
        area=Area.network,
        rationale="A host whose firewall drops SSH from the management zone locks its operators "
        "out: the next fix needs console access. Evaluated on the same flows the host's "
        "nftables ruleset is rendered from.",
        fix="Declare 'security.firewall.management_zone' (the bastion/VPN zone with cidrs) and "
        "remove deny rules that drop SSH from it.",
        check=_management_reach,
    ),
)
