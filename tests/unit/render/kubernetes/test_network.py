"""Which pod may reach which port, computed FROM THE RENDERED NetworkPolicies by a small
evaluator of their semantics, must be exactly the flows the blueprint declares."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import pytest

from attonix.render.kubernetes import _context, cluster_objects
from attonix.render.kubernetes._context import Ctx

from ._blueprints import small


@dataclass(frozen=True)
class Endpoint:
    """A pod (namespace + labels + IP) or an address outside the cluster."""

    name: str
    namespace: str | None  # None: outside the cluster
    ip: str
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    ports: tuple[tuple[int, str], ...] = ()


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for k, v in selector.get("matchLabels", {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions", []):
        key, op, values = e["key"], e["operator"], e.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def _peer_matches(peer: dict[str, Any], policy_ns: str, other: Endpoint) -> bool:
    if "ipBlock" in peer:
        ip = ipaddress.ip_address(other.ip)
        block = peer["ipBlock"]
        if ip not in ipaddress.ip_network(block["cidr"]):
            return False
        return not any(ip in ipaddress.ip_network(c) for c in block.get("except", []))
    if other.namespace is None:
        return False  # selectors only ever match pods
    if "namespaceSelector" in peer:
        ns_labels = {"kubernetes.io/metadata.name": other.namespace}
        if not _selects(peer["namespaceSelector"], ns_labels):
            return False
    elif other.namespace != policy_ns:
        return False
    return _selects(peer.get("podSelector", {}), other.labels)


def _port_matches(rule: dict[str, Any], port: int, proto: str) -> bool:
    if "ports" not in rule:
        return True
    return any(
        p.get("protocol", "TCP") == proto and ("port" not in p or p["port"] == port)
        for p in rule["ports"]
    )


def _allowed_one_side(
    policies: list[dict[str, Any]],
    me: Endpoint,
    other: Endpoint,
    port: int,
    proto: str,
    *,
    way: str,
) -> bool:
    """Does ``me``'s side allow the connection (``way``: Ingress or Egress)?"""
    if me.namespace is None:
        return True
    mine = [
        p
        for p in policies
        if p["metadata"]["namespace"] == me.namespace
        and way in p["spec"]["policyTypes"]
        and _selects(p["spec"]["podSelector"], me.labels)
    ]
    if not mine:
        return True  # not isolated in this direction
    key, peers = ("ingress", "from") if way == "Ingress" else ("egress", "to")
    for pol in mine:
        for rule in pol["spec"].get(key, []):
            if not _port_matches(rule, port, proto):
                continue
            if peers not in rule or any(
                _peer_matches(peer, me.namespace, other) for peer in rule[peers]
            ):
                return True
    return False


def reachable(policies: list[dict[str, Any]], endpoints: list[Endpoint]) -> set[str]:
    """Every ``src -> dst:port/proto`` the policies allow where one side is governed by them."""
    governed = {p["metadata"]["namespace"] for p in policies}
    out = set()
    for src in endpoints:
        for dst in endpoints:
            if src == dst or not ({src.namespace, dst.namespace} & governed):
                continue
            for port, proto in dst.ports:
                if _allowed_one_side(
                    policies, src, dst, port, proto, way="Egress"
                ) and _allowed_one_side(policies, dst, src, port, proto, way="Ingress"):
                    out.add(f"{src.name} -> {dst.name}:{port}/{proto}")
    return out


def _pod(ctx: Ctx, kind: str, name: str, ip: str) -> Endpoint:
    for doc in cluster_objects(ctx):
        if doc["kind"] == kind and doc["metadata"]["name"] == name:
            tmpl = doc["spec"]["template"]
            ports = tuple(
                (p["containerPort"], p["protocol"]) for p in tmpl["spec"]["containers"][0]["ports"]
            )
            ns = doc["metadata"]["namespace"]
            return Endpoint(name, ns, ip, tmpl["metadata"]["labels"], (*ports, (22, "TCP")))
    raise AssertionError(f"no {kind} {name}")


@pytest.fixture(scope="module")
def world() -> tuple[list[dict[str, Any]], list[Endpoint]]:
    ctx = Ctx(small(), small().orchestration.clusters[0])
    docs = cluster_objects(ctx)
    policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
    tcp = "TCP"
    endpoints = [
        _pod(ctx, "Deployment", "api", "10.244.1.1"),
        _pod(ctx, "Deployment", "worker", "10.244.1.2"),
        _pod(ctx, "StatefulSet", "lonely", "10.244.1.3"),
        _pod(ctx, "Deployment", "web", "10.244.1.4"),
        # What the operators and cluster add-ons run, with the labels they really carry.
        Endpoint(
            "pg-1",
            "databases",
            "10.244.2.1",
            {"cnpg.io/cluster": "pg", "cnpg.io/instanceRole": "primary"},
            ((5432, tcp), (8000, tcp), (22, tcp)),
        ),
        Endpoint(
            "pg-2", "databases", "10.244.2.2", {"cnpg.io/cluster": "pg"}, ((5432, tcp), (8000, tcp))
        ),
        Endpoint("cnpg-operator", "cnpg-system", "10.244.3.1", {"app": "cnpg"}, ((9443, tcp),)),
        Endpoint(
            "ingress-controller",
            "ingress-nginx",
            "10.244.3.2",
            {"app.kubernetes.io/name": "ingress-nginx"},
            ((443, tcp),),
        ),
        Endpoint(
            "kube-dns",
            "kube-system",
            "10.244.3.3",
            {"k8s-app": "kube-dns"},
            ((53, "UDP"), (53, tcp)),
        ),
        Endpoint(
            "rgw", "rook-ceph", "10.244.3.4", {"app": "rook-ceph-rgw"}, ((443, tcp), (80, tcp))
        ),
        Endpoint("apiserver", None, "10.0.0.10", {}, ((6443, tcp),)),
        Endpoint("biganimal", None, "203.0.113.7", {}, ((5432, tcp), (22, tcp))),
    ]
    return policies, endpoints


def expected_flows() -> set[str]:
    """The flows the small blueprint declares, written out by hand."""
    flows = {
        # exposed service and frontend, from the ingress controller's namespace
        "ingress-controller -> api:8000/TCP",
        "ingress-controller -> web:8080/TCP",
        # frontend -> backend
        "web -> api:8000/TCP",
        # depends_on
        "api -> worker:9000/TCP",
        # service -> its databases (operator-run and managed)
        "api -> pg-1:5432/TCP",
        "api -> pg-2:5432/TCP",
        "api -> biganimal:5432/TCP",
        # the database's own replication and instance-manager traffic, and its operator
        "pg-1 -> pg-2:5432/TCP",
        "pg-1 -> pg-2:8000/TCP",
        "pg-2 -> pg-1:5432/TCP",
        "pg-2 -> pg-1:8000/TCP",
        "cnpg-operator -> pg-1:8000/TCP",
        "cnpg-operator -> pg-2:8000/TCP",
        # instance managers talk to the API server; backups go to the object gateway
        "pg-1 -> apiserver:6443/TCP",
        "pg-2 -> apiserver:6443/TCP",
        "pg-1 -> rgw:443/TCP",
        "pg-2 -> rgw:443/TCP",
    }
    for pod in ("api", "worker", "lonely", "web", "pg-1", "pg-2"):
        flows |= {f"{pod} -> kube-dns:53/UDP", f"{pod} -> kube-dns:53/TCP"}
    return flows


def test_policies_allow_exactly_the_declared_flows(
    world: tuple[list[dict[str, Any]], list[Endpoint]],
) -> None:
    policies, endpoints = world
    got = reachable(policies, endpoints)
    want = expected_flows()
    assert sorted(got - want) == [], "allowed but not declared"
    assert sorted(want - got) == [], "declared but not allowed"


def test_every_namespace_denies_by_default(
    world: tuple[list[dict[str, Any]], list[Endpoint]],
) -> None:
    policies, _ = world
    deny = {
        p["metadata"]["namespace"]
        for p in policies
        if p["spec"]["podSelector"] == {}
        and p["spec"]["policyTypes"] == ["Ingress", "Egress"]
        and p["spec"]["ingress"] == []
        and p["spec"]["egress"] == []
    }
    assert deny == {"app", "other", "web", _context.DATABASES_NAMESPACE}


def test_evaluator_sees_a_removed_rule(
    world: tuple[list[dict[str, Any]], list[Endpoint]],
) -> None:
    """The evaluator is not vacuous: dropping the worker's ingress rule cuts api -> worker."""
    policies, endpoints = world
    cut = []
    for p in policies:
        if p["metadata"]["name"] == "worker":
            p = {**p, "spec": {**p["spec"], "ingress": []}}
        cut.append(p)
    got = reachable(cut, endpoints)
    assert "api -> worker:9000/TCP" not in got
    assert expected_flows() - got == {"api -> worker:9000/TCP"}
