"""Where the Podman driver places replicas on a cluster of several hosts: one engine per host
from the connections file, replicas spread evenly over the candidate hosts (what the
placement contract says), a database on its node, and one connection for several hosts
refused. No engine is called: placement is decided before anything runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from attonix.blueprint import Blueprint, load_file
from attonix.blueprint.diagnostics import BlueprintInvalid
from attonix.blueprint.loader import load_bytes
from attonix.deploy import EnvSecretSource, get_driver
from attonix.deploy.base import DeployError
from attonix.deploy.connections import describe, parse
from attonix.deploy.podman import PodmanDriver
from attonix.policy.placement import workload_rule

FIXTURE = Path(__file__).parents[2] / "fixtures" / "deploy" / "podman2.yaml"
HOSTS = {"attx-pm1": {"url": "unix:///run/a.sock"}, "attx-pm2": {"url": "unix:///run/b.sock"}}


def _bp(change: Any = None) -> Blueprint:
    bp = load_file(FIXTURE).blueprint
    if change is None:
        return bp
    data = bp.model_dump(by_alias=True)
    change(data)
    return Blueprint.model_validate(data)


def _driver(bp: Blueprint, podman: dict[str, Any]) -> PodmanDriver:
    text = yaml.safe_dump({"clusters": {"podman-two": {"podman": podman}}})
    driver = get_driver(
        "podman",
        bp,
        secrets=EnvSecretSource(bp.security.secrets, environ={}),
        connections=parse(text, source="c.yaml"),
    )
    assert isinstance(driver, PodmanDriver)
    return driver


def test_each_host_gets_its_own_engine_and_the_endpoint_names_them() -> None:
    driver = _driver(_bp(), {"hosts": HOSTS})
    assert [(e.host, e.argv[-1]) for e in driver.engines] == [
        ("attx-pm1", "unix:///run/a.sock"),
        ("attx-pm2", "unix:///run/b.sock"),
    ]
    assert driver.endpoint == "attx-pm1: unix:///run/a.sock, attx-pm2: unix:///run/b.sock"
    assert driver.engines[1].tag("net") == "net@attx-pm2"
    assert describe(None, target="podman") == "the local Podman (this machine)"


@pytest.mark.parametrize(
    ("replicas", "shares"),
    [(1, [1, 0]), (2, [1, 1]), (3, [2, 1]), (5, [3, 2])],
)
def test_replicas_spread_evenly_in_blueprint_order(replicas: int, shares: list[int]) -> None:
    driver = _driver(_bp(), {"hosts": HOSTS})
    assert list(driver.shares("api", replicas).values()) == shares
    # What the analysis assumes: even over both hosts.
    rule = workload_rule(driver.bp, driver.bp.workloads_by_name["api"])
    assert rule.guarantee == "even" and [h.name for h in rule.hosts] == list(HOSTS)
    assert max(shares) - min(shares) <= 1


def test_a_placement_pin_keeps_replicas_on_the_hosts_it_allows() -> None:
    def pin(data: dict[str, Any]) -> None:
        data["services"]["backend"][0]["placement"] = {"zones": ["zone-2"]}

    driver = _driver(_bp(pin), {"hosts": HOSTS})
    assert driver.shares("api", 3) == {"attx-pm1": 0, "attx-pm2": 3}


def test_one_engine_runs_everything_on_a_cluster_of_one_host() -> None:
    def one_host(data: dict[str, Any]) -> None:
        data["orchestration"]["clusters"][0]["workers"] = ["attx-pm1"]
        data["services"]["frontend"][0]["replicas"] = 1

    driver = _driver(_bp(one_host), {"url": "unix:///run/a.sock"})
    driver._check_engines()
    assert driver.shares("api", 3) == {None: 3}


def test_one_connection_for_several_hosts_is_refused_before_anything_runs() -> None:
    driver = _driver(_bp(), {"url": "unix:///run/a.sock"})
    with pytest.raises(DeployError) as err:
        driver.plan()
    assert "2 hosts (attx-pm1, attx-pm2) but one Podman connection" in str(err.value)
    assert "podman: {hosts:" in (err.value.hint or "")


def test_without_a_connection_the_local_podman_stands_in_and_every_plan_says_so() -> None:
    bp = _bp()
    driver = get_driver("podman", bp, secrets=EnvSecretSource(bp.security.secrets, environ={}))
    assert isinstance(driver, PodmanDriver)
    driver._check_engines()
    assert driver.endpoint == (
        "the local Podman (this machine), standing in for all 2 hosts (attx-pm1, attx-pm2)"
    )
    assert driver.shares("api", 3) == {None: 3}


def test_connections_must_name_exactly_the_clusters_hosts() -> None:
    driver = _driver(
        _bp(), {"hosts": {"attx-pm1": HOSTS["attx-pm1"], "elsewhere": HOSTS["attx-pm2"]}}
    )
    with pytest.raises(DeployError) as err:
        driver.plan()
    assert "hosts not in the cluster (elsewhere)" in str(err.value)
    assert "no engine for attx-pm2" in str(err.value)


def test_an_exposed_workload_runs_at_most_one_replica_per_host() -> None:
    text = FIXTURE.read_text()
    assert "      replicas: 2\n      ports: [{name: http, port: 38495}]" in text
    with pytest.raises(BlueprintInvalid) as err:
        load_bytes(text.replace("replicas: 2\n", "replicas: 3\n"), file="podman2.yaml")
    (problem,) = err.value.diagnostics
    assert problem.format().startswith(
        "podman2.yaml:54:17: error[BP024]: services.frontend[0].replicas:"
    )
    assert "one replica per host of attx-pm1, attx-pm2, not 3" in problem.message
