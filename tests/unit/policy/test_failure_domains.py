"""Failure-domain analysis: what breaks when a host, rack or zone is lost."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from attonix.blueprint import Loaded, load_file
from attonix.blueprint.model import Host
from attonix.policy.failure_domains import analyze, resolve
from attonix.policy.placement import spread

D = dict[str, Any]
Build = Callable[[Callable[[D], object]], tuple[Loaded, list[str]]]
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "policy"


def _down(analysis: Any) -> dict[str, set[str]]:
    return {
        loss.name: {i.component for i in loss.impacts if i.state == "down"}
        for loss in analysis.losses
        if loss.state == "down"
    }


def test_spread_is_round_robin_with_max_skew_one() -> None:
    hosts = [
        Host(name=n, address=f"10.0.0.{i}", zone=z, rack=f"r-{n}")
        for i, (n, z) in enumerate([("a1", "a"), ("a2", "a"), ("b1", "b"), ("c1", "c")], 1)
    ]
    placed = [h.name for h in spread(hosts, 5, "zone")]
    assert placed == ["a1", "b1", "c1", "a2", "b1"]
    assert [h.name for h in spread(hosts, 3, "host")] == ["a1", "a2", "b1"]
    assert spread([], 3, "zone") == []


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


def test_database_quorum_and_synchronous_standbys(build: Build) -> None:
    def edit(d: D) -> None:
        d["databases"][0].update(replicas=3, synchronous_replicas=2)  # needs all three
        d["databases"][1].update(replicas=2, synchronous_replicas=0)  # no majority after one

    loaded, _ = build(edit)
    wk = next(
        loss for loss in analyze(loaded.blueprint, level="host").losses if loss.name == "wk-a1"
    )
    details = {i.component: (i.state, i.detail) for i in wk.impacts}
    assert details["database/pg-main"] == (
        "down",
        "2 of 3 instances left: writes block waiting for 2 synchronous standby(s)",
    )
    assert details["database/mysql-apps"] == ("down", "1 of 2 instances left: no majority")


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
