"""Every rule fires on a blueprint that breaks it, at the right line, and stays quiet otherwise.

Each case edits the example blueprint, writes it as YAML, and asserts the rule id, the
blueprint path, and that the reported line really holds the offending text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from attonix.blueprint import Loaded, load_file
from attonix.policy import RULES, RULES_BY_ID, check

D = dict[str, Any]
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "attonixcorp.yaml"


def _example() -> D:
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def db(d: D, i: int) -> D:
    return d["databases"][i]  # type: ignore[no-any-return]


def svc(d: D, i: int) -> D:
    return d["services"]["backend"][i]  # type: ignore[no-any-return]


def ceph(d: D) -> D:
    return d["storage"]["ceph"][0]  # type: ignore[no-any-return]


def sec(d: D) -> D:
    return d["security"]  # type: ignore[no-any-return]


def fw_rule(d: D, source: str, dest: str, ports: list[Any]) -> None:
    sec(d)["firewall"]["rules"].append(
        {"name": "extra", "source": source, "destination": dest, "ports": ports}
    )


def k8s(d: D) -> D:
    return d["orchestration"]["clusters"][0]  # type: ignore[no-any-return]


def console_over_http(d: D) -> None:
    """The console's ingress sends no header; an haproxy http frontend for it does."""
    k8s(d).update(ingress_custom_headers=False)
    d["ha"]["load_balancers"][0]["frontends"].append(
        {"name": "console-http", "port": 80, "protocol": "http", "backend": "attonix-console"}
    )


def exception(d: D, rule: str, component: str, expires: str) -> None:
    d["policy"]["exceptions"].append(
        {
            "rule": rule,
            "component": component,
            "reason": "Accepted while the replacement is built.",
            "expires": dt.date.fromisoformat(expires),
        }
    )


Edit = Callable[[D], object]
SRV = ("services", "backend", 0)
DB0 = ("databases", 0)
CEPH = ("storage", "ceph", 0)
POOL0 = (*CEPH, "pools", 0)
# the rule ``fw_rule`` appends lands after the example's own rules
FW = ("security", "firewall", "rules", len(_example()["security"]["firewall"]["rules"]))
LB = ("ha", "load_balancers", 0)
PIPE = ("cicd", "pipelines")

# (rule, edit, expected path, text on the reported line)
FIRES: list[tuple[str, Edit, tuple[str | int, ...], str]] = [
    ("ATX001", lambda d: db(d, 1).update(replicas=2), ("databases", 1, "replicas"), "replicas: 2"),
    (
        "ATX002",
        lambda d: db(d, 0).update(synchronous_replicas=0),
        (*DB0, "synchronous_replicas"),
        "synchronous_replicas: 0",
    ),
    (
        "ATX003",
        lambda d: db(d, 0).update(encryption_at_rest=False),
        (*DB0, "encryption_at_rest"),
        "encryption_at_rest: false",
    ),
    ("ATX004", lambda d: db(d, 0).update(tls=False), (*DB0, "tls"), "tls: false"),
    (
        "ATX005",
        lambda d: db(d, 1)["backup"].update(enabled=False),
        ("databases", 1, "backup", "enabled"),
        "enabled: false",
    ),
    (
        "ATX006",
        lambda d: db(d, 1).update(backup={"retention_days": 30}),
        ("databases", 1, "backup", "object_pool"),
        "retention_days: 30",
    ),
    (
        "ATX007",
        lambda d: db(d, 0)["backup"].update(retention_days=3),
        (*DB0, "backup", "retention_days"),
        "retention_days: 3",
    ),
    (
        "ATX008",
        lambda d: db(d, 3)["managed"].update(high_availability=False),
        ("databases", 3, "managed", "high_availability"),
        "high_availability: false",
    ),
    ("ATX010", lambda d: ceph(d).update(monitors=4), (*CEPH, "monitors"), "monitors: 4"),
    (
        "ATX011",
        lambda d: ceph(d)["pools"][0].update(replicas=2),
        (*POOL0, "replicas"),
        "replicas: 2",
    ),
    (
        "ATX012",
        lambda d: ceph(d)["pools"][0].update(min_size=1),
        (*POOL0, "min_size"),
        "min_size: 1",
    ),
    (
        "ATX013",
        lambda d: ceph(d).update(hosts=["wk-a1", "wk-a2", "wk-b1", "wk-b2"]),
        (*POOL0, "replicas"),
        "replicas: 3",
    ),
    (
        "ATX014",
        lambda d: ceph(d).update(encryption=False),
        (*CEPH, "encryption"),
        "encryption: false",
    ),
    (
        "ATX015",
        lambda d: ceph(d).update(network_encryption=False),
        (*CEPH, "network_encryption"),
        "network_encryption: false",
    ),
    ("ATX016", lambda d: ceph(d).update(managers=1), (*CEPH, "managers"), "managers: 1"),
    (
        "ATX017",
        lambda d: d["storage"]["vsphere"][0].update(ha_enabled=False),
        ("storage", "vsphere", 0, "ha_enabled"),
        "ha_enabled: false",
    ),
    (
        "ATX018",
        lambda d: d["storage"]["openstack"][0]["instances"][0].update(
            availability_zones=["nova-a"]
        ),
        ("storage", "openstack", 0, "instances", 0, "availability_zones"),
        "nova-a",
    ),
    (
        "ATX020",
        lambda d: svc(d, 1).update(replicas=1),
        ("services", "backend", 1, "replicas"),
        "replicas: 1",
    ),
    (
        "ATX021",
        lambda d: svc(d, 0).update(placement={"zones": ["zone-a"]}),
        (*SRV, "placement"),
        "zones:",
    ),
    (
        "ATX022",
        lambda d: svc(d, 0).update(placement={"hosts": ["sw-a"]}),
        (*SRV, "placement"),
        "hosts:",
    ),
    (
        "ATX023",
        lambda d: svc(d, 0).update(min_available=3),
        (*SRV, "min_available"),
        "min_available: 3",
    ),
    (
        "ATX024",
        lambda d: svc(d, 0)["autoscaling"].update(max_replicas=3),
        (*SRV, "autoscaling", "max_replicas"),
        "max_replicas: 3",
    ),
    (
        "ATX025",
        lambda d: svc(d, 0).update(security={"privileged": True}),
        (*SRV, "security", "privileged"),
        "privileged: true",
    ),
    (
        "ATX026",
        lambda d: svc(d, 0).update(security={"run_as_root": True}),
        (*SRV, "security", "run_as_root"),
        "run_as_root: true",
    ),
    (
        "ATX027",
        lambda d: svc(d, 0).update(security={"capabilities_add": ["NET_ADMIN"]}),
        (*SRV, "security", "capabilities_add"),
        "NET_ADMIN",
    ),
    (
        "ATX028",
        lambda d: svc(d, 0).update(security={"read_only_root_filesystem": False}),
        (*SRV, "security", "read_only_root_filesystem"),
        "read_only_root_filesystem: false",
    ),
    (
        "ATX029",
        lambda d: svc(d, 0).update(image="registry.attonixcorp.internal/attonix/server"),
        (*SRV, "image"),
        "image: registry.attonixcorp.internal/attonix/server",
    ),
    ("ATX030", lambda d: svc(d, 0).update(health=None), (*SRV, "health"), "health: null"),
    (
        "ATX031",
        lambda d: svc(d, 0)["resources"].update(memory_limit=None),
        (*SRV, "resources", "memory_limit"),
        "memory_limit: null",
    ),
    (
        "ATX032",
        lambda d: svc(d, 0).update(replicas=0, autoscaling=None),
        (*SRV, "replicas"),
        "replicas: 0",
    ),
    (
        "ATX040",
        lambda d: sec(d)["tls"].update(min_version="1.1"),
        ("security", "tls", "min_version"),
        "min_version: '1.1'",
    ),
    (
        "ATX041",
        lambda d: sec(d)["tls"].update(min_version="1.2"),
        ("security", "tls", "min_version"),
        "min_version: '1.2'",
    ),
    (
        "ATX042",
        lambda d: sec(d)["tls"]["ca"].update(validity_days=60, renew_before_days=20),
        ("security", "tls", "ca", "certificate_validity_days"),
        "name: attonix-internal-ca",
    ),
    (
        "ATX043",
        lambda d: sec(d)["tls"]["ca"].update(renew_before_days=90),
        ("security", "tls", "ca", "renew_before_days"),
        "renew_before_days: 90",
    ),
    (
        "ATX044",
        lambda d: sec(d)["encryption"]["at_rest"].update(secrets=False),
        ("security", "encryption", "at_rest", "secrets"),
        "secrets: false",
    ),
    (
        "ATX045",
        lambda d: sec(d)["encryption"]["at_rest"].update(provider="aescbc"),
        ("security", "encryption", "at_rest", "provider"),
        "provider: aescbc",
    ),
    (
        "ATX046",
        lambda d: sec(d)["encryption"]["in_transit"].update(internal_tls=False),
        ("security", "encryption", "in_transit", "internal_tls"),
        "internal_tls: false",
    ),
    (
        "ATX047",
        lambda d: sec(d)["encryption"]["in_transit"].update(overlay_encryption=False),
        ("security", "encryption", "in_transit", "overlay_encryption"),
        "overlay_encryption: false",
    ),
    (
        "ATX048",
        lambda d: svc(d, 0).setdefault("env", {}).update(DB_PASSWORD="correct-horse-42"),
        (*SRV, "env", "DB_PASSWORD"),
        "DB_PASSWORD:",
    ),
    (
        "ATX049",
        lambda d: d["metadata"].update(description="key AKIAIOSFODNN7EXAMPLE here"),
        ("metadata", "description"),
        "description: key",
    ),
    (
        "ATX050",
        lambda d: sec(d)["secrets"][0].update(rotation_days=400),
        ("security", "secrets", 0, "rotation_days"),
        "rotation_days: 400",
    ),
    (
        "ATX051",
        lambda d: k8s(d).update(ingress_custom_headers=False),
        ("services", "frontend", 0, "content_security_policy"),
        "content_security_policy:",
    ),
    (
        "ATX055",
        lambda d: sec(d)["firewall"].update(default_policy="allow"),
        ("security", "firewall", "default_policy"),
        "default_policy: allow",
    ),
    ("ATX056", lambda d: fw_rule(d, "internet", "app", [443, 22]), (*FW, "ports"), "- 443"),
    ("ATX057", lambda d: fw_rule(d, "internet", "data", [5432]), (*FW, "ports"), "- 5432"),
    (
        "ATX058",
        lambda d: fw_rule(d, "internet", "web", ["8000-8999"]),
        (*FW, "ports", 0),
        "8000-8999",
    ),
    (
        "ATX059",
        lambda d: svc(d, 0)["expose"].update(tls=False),
        (*SRV, "expose", "tls"),
        "tls: false",
    ),
    (
        "ATX060",
        lambda d: sec(d)["firewall"]["rules"].pop(0),
        (*SRV, "expose"),
        "host: api.attonixcorp.com",
    ),
    (
        "ATX061",
        lambda d: d["ha"]["load_balancers"][0]["frontends"][0].update(protocol="http"),
        (*LB, "frontends", 0, "protocol"),
        "protocol: http",
    ),
    (
        "ATX062",
        lambda d: sec(d)["firewall"]["rules"].insert(
            0,
            {
                "name": "no-ssh",
                "source": "mgmt",
                "destination": "app",
                "ports": [22],
                "action": "deny",
            },
        ),
        ("hosts", 0),
        "name: cp-a",
    ),
    (
        "ATX065",
        lambda d: sec(d)["access_control"].update(mfa_required_for=["operator"]),
        ("security", "access_control", "mfa_required_for"),
        "- operator",
    ),
    (
        "ATX066",
        lambda d: d["users"].update(
            identity_provider={
                "kind": "oidc",
                "issuer": "https://id.attonixcorp.com",
                "client_id": "attonix",
            }
        ),
        ("users", "identity_provider", "client_id"),
        "client_id: attonix",
    ),
    (
        "ATX067",
        lambda d: d["users"]["password_policy"].update(min_length=8),
        ("users", "password_policy", "min_length"),
        "min_length: 8",
    ),
    (
        "ATX068",
        lambda d: sec(d)["access_control"].update(session_minutes=120),
        ("security", "access_control", "session_minutes"),
        "session_minutes: 120",
    ),
    (
        "ATX069",
        lambda d: d["users"]["accounts"][1].update(disabled=True),
        ("security", "access_control", "bindings", 1, "users", 0),
        "- bob",
    ),
    (
        "ATX070",
        lambda d: d["cicd"]["pipelines"][1].update(stages=["lint", "test", "build"]),
        (*PIPE, 1, "stages"),
        "- lint",
    ),
    (
        "ATX072",
        lambda d: d["cicd"]["pipelines"][2].update(stages=["lint", "check", "render", "deploy"]),
        (*PIPE, 2, "stages"),
        "- lint",
    ),
    (
        "ATX073",
        lambda d: d["cicd"]["zuul"].update(pipelines=["check", "post"]),
        ("cicd", "zuul", "pipelines"),
        "- check",
    ),
    (
        "ATX080",
        lambda d: d["ha"]["load_balancers"][0].update(hosts=["lb-a"]),
        (*LB, "hosts"),
        "- lb-a",
    ),
    ("ATX081", lambda d: d["ha"]["load_balancers"][0].pop("virtual_ip"), (*LB, "hosts"), "- lb-a"),
    (
        "ATX082",
        lambda d: svc(d, 0).update(placement={"hosts": ["wk-a1"]}),
        (*SRV, "placement"),
        "hosts:",
    ),
    (
        "ATX083",
        lambda d: d["orchestration"]["clusters"][1].update(control_plane=["sw-a", "sw-b"]),
        ("orchestration", "clusters", 1, "control_plane"),
        "- sw-a",
    ),
    (
        "ATX090",
        lambda d: svc(d, 0).update(placement={"racks": ["rack-a1"]}),
        SRV,
        "name: attonix-server",
    ),
    (
        "ATX091",
        lambda d: db(d, 1).update(replicas=1, synchronous_replicas=0),
        ("databases", 1),
        "name: mysql-apps",
    ),
    ("ATX092", lambda d: ceph(d).update(monitors=2), (*CEPH, "monitors"), "monitors: 2"),
    (
        "ATX093",
        lambda d: ceph(d)["pools"][0].update(failure_domain="host"),
        POOL0,
        "name: ceph-block",
    ),
    ("ATX094", lambda d: d["ha"]["load_balancers"][0].update(hosts=["lb-a"]), LB, "name: lb-edge"),
    (
        "ATX095",
        lambda d: d["orchestration"]["clusters"][0].update(control_plane=["cp-a", "cp-b"]),
        ("orchestration", "clusters", 0, "control_plane"),
        "- cp-a",
    ),
    (
        "ATX098",
        lambda d: exception(d, "ATX020", "service/docs", "2026-05-31"),
        ("policy", "exceptions", 0, "expires"),
        "expires: 2026-05-31",
    ),
    (
        "ATX099",
        lambda d: exception(d, "ATX777", "service/docs", "2027-01-01"),
        ("policy", "exceptions", 0, "rule"),
        "rule: ATX777",
    ),
]

DIGEST = "sha256:" + "0123456789abcdef" * 4

# (rule, edit that goes right up to the limit without breaking the rule)
QUIET: list[tuple[str, Edit]] = [
    ("ATX001", lambda d: db(d, 1).update(replicas=5)),
    ("ATX002", lambda d: db(d, 1).update(synchronous_replicas=0)),  # not the primary
    ("ATX006", lambda d: db(d, 3).update(backup={"retention_days": 30})),  # managed
    ("ATX010", lambda d: ceph(d).update(monitors=5)),
    ("ATX013", lambda d: ceph(d).update(failure_domain="host", hosts=["wk-a1", "wk-a2", "wk-b1"])),
    ("ATX020", lambda d: svc(d, 1).update(replicas=2)),
    ("ATX020", lambda d: svc(d, 1).update(replicas=0)),  # switched off
    ("ATX021", lambda d: svc(d, 0).update(placement={"zones": ["zone-a", "zone-b"]})),
    ("ATX023", lambda d: svc(d, 0).update(min_available=2)),
    (
        "ATX024",
        lambda d: svc(d, 0).update(replicas=2, autoscaling={"min_replicas": 2, "max_replicas": 3}),
    ),
    ("ATX029", lambda d: svc(d, 0).update(image=f"registry.attonixcorp.internal/a/b@{DIGEST}")),
    ("ATX049", lambda d: svc(d, 0).update(image=f"registry.attonixcorp.internal/a/b@{DIGEST}")),
    ("ATX041", lambda d: sec(d)["tls"].update(min_version="1.3")),
    ("ATX043", lambda d: sec(d)["tls"]["ca"].update(renew_before_days=89)),
    (
        "ATX048",
        lambda d: (
            svc(d, 0).setdefault("env", {}).update(DB_PASSWORD_FILE="/run/secrets/db/password")
        ),
    ),
    (
        "ATX048",
        lambda d: (
            svc(d, 0).setdefault("env", {}).update(API_TOKEN="${API_TOKEN}", TOKEN_TTL="3600")
        ),
    ),
    ("ATX049", lambda d: d["metadata"].update(description="Attonixcorp data cloud " * 20)),
    (
        "ATX049",
        lambda d: d["users"]["accounts"][1].update(
            ssh_keys=["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHb7Qz9XkLm2Pq4Rt8Vw1Yx3Zn6Cd0Ef bob@x"]
        ),
    ),
    ("ATX056", lambda d: fw_rule(d, "mgmt", "app", [22, 3389])),
    ("ATX057", lambda d: fw_rule(d, "app", "data", [6379])),
    ("ATX058", lambda d: fw_rule(d, "internet", "dmz", ["8000-8099"])),
    ("ATX067", lambda d: d["users"]["password_policy"].update(min_length=12)),
    ("ATX070", lambda d: d["cicd"]["pipelines"][1].update(stages=["check"])),
    (
        "ATX083",
        lambda d: d["orchestration"]["clusters"][1].update(
            control_plane=["sw-a", "sw-b", "sw-c", "cp-a", "cp-b"]
        ),
    ),
    ("ATX051", console_over_http),
    ("ATX090", lambda d: svc(d, 0).update(placement={"zones": ["zone-a", "zone-b"]})),
    ("ATX091", lambda d: db(d, 1).update(replicas=5, synchronous_replicas=2)),
    ("ATX098", lambda d: exception(d, "ATX020", "service/docs", "2026-06-01")),  # last valid day
    ("ATX099", lambda d: exception(d, "ATX020", "*", "2027-01-01")),
]


def test_the_registry_has_thirty_documented_rules_with_unique_ids() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) >= 30
    assert ids == sorted(set(ids))
    for r in RULES:
        assert r.rationale.endswith(".") and r.fix, r.id
        assert r.title and not r.title.endswith("."), r.id


def test_every_rule_has_a_firing_case() -> None:
    assert {r for r, *_ in FIRES} == set(RULES_BY_ID)


@pytest.mark.parametrize(("rule", "edit", "path", "needle"), FIRES, ids=[c[0] for c in FIRES])
def test_rule_fires_at_the_offending_line(
    build: Callable[[Edit], tuple[Loaded, list[str]]],
    today: dt.date,
    rule: str,
    edit: Edit,
    path: tuple[str | int, ...],
    needle: str,
) -> None:
    loaded, lines = build(edit)
    hits = [f for f in check(loaded, rules=[RULES_BY_ID[rule]], today=today) if f.path == path]
    assert hits, f"{rule} did not fire at {path}"
    finding = hits[0]
    assert finding.rule == rule
    assert finding.location.file == loaded.file
    assert needle in lines[finding.location.line - 1]
    assert finding.hint and finding.message
    assert finding.severity == RULES_BY_ID[rule].severity


@pytest.mark.parametrize(("rule", "edit"), QUIET, ids=[c[0] for c in QUIET])
def test_rule_stays_quiet_at_the_limit(
    build: Callable[[Edit], tuple[Loaded, list[str]]], today: dt.date, rule: str, edit: Edit
) -> None:
    loaded, _ = build(edit)
    assert check(loaded, rules=[RULES_BY_ID[rule]], today=today) == []


def test_the_example_is_clean_under_every_rule(example_path: Any, today: dt.date) -> None:
    findings = check(load_file(example_path), today=today)
    assert [f"{f.location} {f.rule} {f.message}" for f in findings] == []


def test_secret_values_never_appear_in_findings(
    build: Callable[[Edit], tuple[Loaded, list[str]]], today: dt.date
) -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhdHRvbml4In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END"
    values = {
        "DB_PASSWORD": "correct-horse-42",
        "SESSION": jwt,
        "DEPLOY": key,
        "BLOB": "Zk9xR2h3VjJ0WmQ4cEw1bk1hUXk3c0JlVDF1",
    }

    def edit(d: D) -> None:
        svc(d, 0).setdefault("env", {}).update(values)

    loaded, _ = build(edit)
    findings = check(loaded, today=today)
    fired = {(f.rule, f.pointer) for f in findings}
    assert ("ATX048", "services.backend[0].env.DB_PASSWORD") in fired
    for name in ("SESSION", "DEPLOY", "BLOB"):
        assert ("ATX049", f"services.backend[0].env.{name}") in fired
    text = repr([f.to_dict() for f in findings])
    for value in values.values():
        assert value not in text
        assert value[:12] not in text


def test_findings_are_sorted_by_position_and_deterministic(
    build: Callable[[Edit], tuple[Loaded, list[str]]], today: dt.date
) -> None:
    def edit(d: D) -> None:
        sec(d)["firewall"].update(default_policy="allow")
        db(d, 0).update(tls=False)
        svc(d, 1).update(replicas=1)

    loaded, _ = build(edit)
    first = check(loaded, today=today)
    lines = [f.location.line for f in first]
    assert lines == sorted(lines)
    assert [f.to_dict() for f in check(loaded, today=today)] == [f.to_dict() for f in first]
    assert {"ATX055", "ATX004", "ATX020"} <= {f.rule for f in first}
