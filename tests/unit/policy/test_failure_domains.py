"""Failure-domain analysis: what breaks when a host, rack or zone is lost."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from attonix.blueprint import Loaded, load_file
from attonix.blueprint.model import Host
from attonix.policy.failure_domains import analyze, resolve
from attonix.policy.placement import Rule

D = dict[str, Any]
Build = Callable[[Callable[[D], object]], tuple[Loaded, list[str]]]
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "policy"


def _down(analysis: Any) -> dict[str, set[str]]:
    return {
        loss.name: {i.component for i in loss.impacts if i.state == "down"}
        for loss in analysis.losses
        if loss.state == "down"
    }


def test_rules_take_the_worst_placement_they_allow() -> None:
    hosts = tuple(
        Host(name=n, address=f"10.0.0.{i}", zone=z, rack=f"r-{n}")
        for i, (n, z) in enumerate([("a1", "a"), ("a2", "a"), ("b1", "b"), ("c1", "c")], 1)
    )
    even = Rule(hosts, 5, "zone", "even")
    # 5 over 3 zones: two zones hold 2; nothing keeps both of zone a's off host a1.
    assert even.worst_lost(frozenset({"a1"})) == 2
    assert even.worst_lost(frozenset({"a1", "b1"})) == 4
    assert even.allows({"a1": 2, "b1": 2, "c1": 1})
    assert not even.allows({"a1": 3, "b1": 1, "c1": 1})
    one = Rule(hosts, 4, "zone", "at-most")
    assert one.running == 3  # one per zone: the fourth instance stays pending
    assert one.worst_lost(frozenset({"a1", "a2"})) == 1
    assert Rule((), 3, "zone", "even").running == 0


def test_example_survives_the_loss_of_any_host_rack_or_zone(example_path: Path) -> None:
    bp = load_file(example_path).blueprint
    for level in ("host", "rack", "zone"):
        analysis = analyze(bp, level=level)
        assert analysis.survives, _down(analysis)
    hosts = analyze(bp, level="host")
    assert len(hosts.losses) == len(bp.hosts)
    # Losing a worker degrades the services with a replica on it, but nothing goes down.
    wk = next(loss for loss in hosts.losses if loss.name == "wk-a1")
    states = {i.component: i.state for i in wk.impacts}
    assert states["service/attonix-server"] == "degraded"
    assert states["database/pg-main"] == "degraded"
    assert "database/analytics" not in states  # managed: outside the failure domains


def test_fragile_blueprint_names_what_breaks() -> None:
    bp = load_file(FIXTURES / "fragile.yaml").blueprint
    hosts = _down(analyze(bp, level="host"))
    assert hosts == {
        "lb-1": {"load-balancer/edge"},
        "node-1": {"ceph/ceph", "service/web"},
        "node-2": {"ceph/ceph"},
        "node-3": {"ceph/ceph"},  # either monitor may be on any node: Rook keeps one per zone
    }
    racks = analyze(bp, level="rack")
    assert _down(racks)["r1"] == {"load-balancer/edge", "ceph/ceph", "service/web"}
    web = next(i for loss in racks.losses for i in loss.impacts if i.component == "service/web")
    assert web.detail == "all 2 replicas lost"


def test_a_named_domain_is_analysed_alone() -> None:
    bp = load_file(FIXTURES / "fragile.yaml").blueprint
    assert resolve(bp, "r2") == ("rack", "r2")
    assert resolve(bp, "node-3") == ("host", "node-3")
    assert resolve(bp, "zone") == ("zone", None)
    assert resolve(bp, "nowhere") is None
    only = analyze(bp, level="rack", only="r2")
    assert [loss.name for loss in only.losses] == ["r2"]
    impacts = {i["component"]: i for i in only.to_dict()["losses"][0]["impacts"]}
    assert impacts["ceph/ceph"]["detail"] == "1 of 2 monitors left: no majority"
    assert impacts["ceph/ceph"]["state"] == "down"


def _impacts(loaded: Loaded, level: str, name: str) -> dict[str, tuple[str, str]]:
    loss = analyze(loaded.blueprint, level=level, only=name).losses[0]  # type: ignore[arg-type]
    return {i.component: (i.state, i.detail) for i in loss.impacts}


def test_postgresql_with_synchronous_standbys_blocks_writes(build: Build) -> None:
    loaded, _ = build(lambda d: d["databases"][0].update(replicas=3, synchronous_replicas=2))
    assert _impacts(loaded, "host", "wk-a1")["database/pg-main"] == (
        "down",
        "2 of 3 instances left: writes block until 2 synchronous standby(s) are back "
        "(only 1 left beside the primary); reads continue",
    )


def test_asynchronous_postgresql_fails_over_to_any_survivor(build: Build) -> None:
    # Not a majority system: CloudNativePG promotes a standby even when only one survives.
    loaded, _ = build(lambda d: d["databases"][0].update(replicas=2, synchronous_replicas=0))
    state, detail = _impacts(loaded, "zone", "zone-a")["database/pg-main"]
    assert state == "degraded"
    assert detail.startswith("1 of 2 instances left: if the primary was lost, CloudNativePG")
    assert "writes not yet replicated to it are lost" in detail


def test_synchronous_replicas_mean_nothing_to_group_replication(build: Build) -> None:
    loaded, _ = build(lambda d: d["databases"][1].update(replicas=3, synchronous_replicas=2))
    assert _impacts(loaded, "zone", "zone-a")["database/mysql-apps"] == (
        "degraded",
        "2 of 3 Group Replication members left (a new primary is elected if the primary was lost)",
    )
    loaded, _ = build(lambda d: d["databases"][1].update(replicas=2, synchronous_replicas=0))
    assert _impacts(loaded, "zone", "zone-a")["database/mysql-apps"][0] == "down"


def test_mongodb_needs_a_majority(build: Build) -> None:
    loaded, _ = build(lambda d: d["databases"][2].update(replicas=2, synchronous_replicas=0))
    state, detail = _impacts(loaded, "zone", "zone-b")["database/mongo-events"]
    assert state == "down"
    assert "no primary can be elected" in detail


def test_database_instances_beyond_one_per_domain_never_run(build: Build) -> None:
    # Required anti-affinity per zone: with two zones the third instance stays pending, so the
    # group has two members, and losing a zone leaves no majority.
    def edit(d: D) -> None:
        d["orchestration"]["clusters"][0]["workers"] = ["wk-a1", "wk-a2", "wk-b1", "wk-b2"]

    loaded, _ = build(edit)
    state, detail = _impacts(loaded, "zone", "zone-a")["database/mysql-apps"]
    assert state == "down"
    assert detail.startswith("1 of 2 Group Replication members left: no majority")
    assert detail.endswith("(1 of 3 cannot be scheduled: at most 1 per zone)")


def test_replicas_inside_a_domain_may_share_a_host(build: Build) -> None:
    # Spread over zones says nothing about hosts: both replicas pinned to zone-a may land on
    # wk-a1 (blueprint order does not place them on wk-a1 and wk-a2).
    def edit(d: D) -> None:
        d["services"]["backend"][1].update(placement={"zones": ["zone-a"]})

    loaded, _ = build(edit)
    assert _impacts(loaded, "host", "wk-a1")["service/attonix-worker"] == (
        "down",
        "all 2 replicas lost",
    )


def test_swarm_tasks_may_run_on_managers(build: Build) -> None:
    # The stack does not keep tasks off managers: a swarm with one worker spreads over all
    # four nodes (one task per node), so losing the worker loses one task, not all.
    def edit(d: D) -> None:
        d["orchestration"]["clusters"][1]["workers"] = ["wk-c2"]
        d["services"]["backend"][5].update(spread="host", replicas=2)

    loaded, _ = build(edit)
    assert _impacts(loaded, "host", "wk-c2")["service/status-page"] == (
        "degraded",
        "1 of 2 replicas left (minimum 2)",
    )


def test_pool_below_min_size_when_a_zone_holds_two_copies(build: Build) -> None:
    loaded, _ = build(lambda d: d["storage"]["ceph"][0]["pools"][0].update(failure_domain="host"))
    zone_a = analyze(loaded.blueprint, level="zone", only="zone-a").losses[0]
    pool = next(i for i in zone_a.impacts if i.component == "pool/ceph-block")
    assert pool.state == "down"
    assert "keeps 1 of 3 copies, below min_size 2" in pool.detail
    other = next(i for i in zone_a.impacts if i.component == "pool/ceph-objects")
    assert other.state == "degraded"


def test_swarm_with_two_managers_loses_quorum(build: Build) -> None:
    loaded, _ = build(
        lambda d: d["orchestration"]["clusters"][1].update(control_plane=["sw-a", "sw-b"])
    )
    down = _down(analyze(loaded.blueprint, level="zone"))
    assert "cluster/swarm-edge" in down["zone-a"]
    assert "cluster/swarm-edge" in down["zone-b"]
    assert "zone-c" not in down
