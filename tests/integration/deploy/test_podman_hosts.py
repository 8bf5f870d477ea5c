"""The Podman driver on a cluster of two hosts (``_podman_hosts.py``: two Podman services,
each in its own network namespace with its own address, image store and libpod database).

What the driver did is observed on each host's engine directly, never through the driver.
The tests run in file order on one deployment: one connection for two hosts is refused;
apply places each host's share on that host (the exposed frontend once per host, the
backend's three replicas two and one) and a second apply plans nothing; a good update of the
frontend, under a request loop through HAProxy as rendered for the blueprint's load
balancer, fails no request and converges; an update whose new pods fail their check stops
at the first host, the second still serving the old spec; destroy removes everything from both
hosts.

A request may be slow, not lost: when Podman removes a container, a connection attempt to
its published port is sometimes left unanswered instead of refused (seen on Podman 4.3 with
netavark), and HAProxy retries it on the other host only after its connect timeout (5 s).
The driver takes a host out of the balancer before its pods go, so that happens only while
the balancer's checks have not yet noticed; the test prints the slow requests it saw.

What it proves: the driver talks to each host's own engine and replaces one host at a time,
waiting for the new pods' health check before the next. Both engines share this machine's
kernel and are reached over unix sockets (SSH is ``test_podman_ssh.py``'s).
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from _podman_hosts import PodmanHost, available, running
from tests.integration._loadbalancer import converge_under_load, haproxy_in_front

from attonix.blueprint import Blueprint, load_file
from attonix.deploy import converge, get_driver
from attonix.deploy.base import DeployError
from attonix.deploy.connections import parse
from attonix.deploy.podman import PodmanDriver
from attonix.deploy.secrets import EnvSecretSource

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).parents[2] / "fixtures" / "deploy" / "podman2.yaml"
CLUSTER = "podman-two"
PORT = 38495
LB_PORT = 38496
WEB = "attonix-pm2-web"
API = "attonix-pm2-api"
HOST_HEADER = "www.pm2.example.com"
CLIENT_TIMEOUT = 15.0


@pytest.fixture(scope="module")
def hosts() -> Iterator[list[PodmanHost]]:
    why = available()
    if why:
        pytest.fail(f"the two Podman hosts cannot run: {why}")
    with running() as started:
        yield started


@pytest.fixture(scope="module")
def blueprint() -> Blueprint:
    return load_file(FIXTURE).blueprint


@pytest.fixture(scope="module", autouse=True)
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("state")
    old = os.environ.get("ATTONIX_STATE_DIR")
    os.environ["ATTONIX_STATE_DIR"] = str(path)
    try:
        yield path
    finally:
        if old is None:
            os.environ.pop("ATTONIX_STATE_DIR", None)
        else:
            os.environ["ATTONIX_STATE_DIR"] = old


def _driver(bp: Blueprint, podman: dict[str, object]) -> PodmanDriver:
    text = yaml.safe_dump({"clusters": {CLUSTER: {"podman": podman}}})
    driver = get_driver(
        "podman",
        bp,
        secrets=EnvSecretSource(bp.security.secrets, environ={}),
        connections=parse(text, source="connections.yaml"),
    )
    assert isinstance(driver, PodmanDriver)
    return driver


def _per_host(hosts: list[PodmanHost]) -> dict[str, object]:
    return {"hosts": {h.name: {"url": h.url} for h in hosts}}


@pytest.fixture(scope="module")
def driver(hosts: list[PodmanHost], blueprint: Blueprint) -> PodmanDriver:
    return _driver(blueprint, _per_host(hosts))


def _pods(host: PodmanHost, deployment: str, *, every: bool = False) -> list[dict[str, object]]:
    """The deployment's containers on ``host``: running ones, or ``every`` one (a container
    the liveness probe is restarting is listed by ``ps -a`` only)."""
    out = host.podman(
        "ps",
        *(["-a"] if every else []),
        "--format",
        "json",
        "--filter",
        f"label=app.kubernetes.io/instance={deployment}",
    )
    return list(json.loads(out or "[]"))


def _get(url: str, *, host: str | None = None, timeout: float = 5) -> str:
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return str(resp.read().decode().strip())
    except OSError as exc:
        return f"error: {exc}"


def test_one_connection_for_two_hosts_is_refused(
    hosts: list[PodmanHost], blueprint: Blueprint
) -> None:
    one = _driver(blueprint, {"url": hosts[0].url})
    with pytest.raises(DeployError) as err:
        one.plan()
    assert "attx-pm1, attx-pm2" in str(err.value) and "one Podman connection" in str(err.value)
    # Nothing was created on either host.
    assert all(h.podman("pod", "ps", "-q") == "" for h in hosts)


def test_apply_places_each_hosts_share_on_that_host(
    hosts: list[PodmanHost], driver: PodmanDriver
) -> None:
    outcome = converge(driver)
    assert outcome.ok, outcome.error
    # The exposed frontend runs once per host and answers on each host's own address.
    assert [len(_pods(h, WEB)) for h in hosts] == [1, 1]
    assert [_get(f"http://{h.address}:{PORT}/version") for h in hosts] == ["1", "1"]
    # The backend's three replicas: two on the first host, one on the second.
    assert [len(_pods(h, API)) for h in hosts] == [2, 1]
    # Each host has its own network and runs only what the driver placed there.
    for h in hosts:
        assert "attonix-pm2-podman-two" in h.podman("network", "ls", "--format", "{{.Name}}")
    statuses = {s.name: (s.desired, s.running, s.healthy) for s in driver.status()}
    assert statuses == {WEB: (2, 2, 2), API: (3, 3, 3)}
    assert converge(driver).plan.is_empty


@pytest.fixture(scope="module")
def haproxy(blueprint: Blueprint, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """HAProxy with the blueprint's rendered configuration, in front of the two hosts."""
    with haproxy_in_front(blueprint, tmp_path_factory.mktemp("haproxy"), LB_PORT) as url:
        yield url


def test_a_good_update_under_load_fails_no_request(
    hosts: list[PodmanHost], blueprint: Blueprint, haproxy: str
) -> None:
    data = blueprint.model_dump(by_alias=True)
    data["services"]["frontend"][0]["image"] = "localhost/attonix-test-httpd:2"
    updated = _driver(Blueprint.model_validate(data), _per_host(hosts))
    # A client that waits longer than HAProxy's connect timeout (5 s): a connection the host
    # being replaced leaves unanswered is retried elsewhere by HAProxy after it.
    run = converge_under_load(
        updated,
        lambda: _get(f"{haproxy}/version", host=HOST_HEADER, timeout=CLIENT_TIMEOUT),
        first="1",
    )
    outcome, seen, took = run.outcome, run.seen, run.took
    assert outcome.ok, outcome.error
    assert [c.key for c in outcome.plan.pending] == [f"service/{WEB}"]
    failed = [v for v in seen if v not in ("1", "2")]
    assert failed == [], f"{len(failed)} of {len(seen)} requests failed during the update"
    slow = sorted(round(t, 1) for t in took if t > 1)
    print(f"{len(seen)} requests, none failed; slower than 1 s: {slow}")
    assert seen.count("2") > 0 and seen[-1] == "2"
    # Each host runs the new image, as its own engine reports.
    for h in hosts:
        assert [p["Image"] for p in _pods(h, WEB)] == ["localhost/attonix-test-httpd:2"]
    assert all(s.converged for s in updated.status())
    assert converge(updated).plan.is_empty


def test_an_update_that_fails_its_check_stops_at_the_first_host(
    hosts: list[PodmanHost], blueprint: Blueprint
) -> None:
    data = blueprint.model_dump(by_alias=True)
    data["services"]["frontend"][0]["image"] = "localhost/attonix-test-httpd:1"
    data["services"]["frontend"][0]["health"]["path"] = "/never-healthy"
    bad = _driver(Blueprint.model_validate(data), _per_host(hosts))
    outcome = converge(bad, timeout=60)
    assert not outcome.ok
    assert f"service {WEB}: its health check fails" in outcome.error, outcome.error
    assert "404 Not Found" in outcome.error
    first, second = hosts
    # The first host holds the failing spec (its liveness probe may be restarting it); the
    # second was never touched and still serves.
    assert [p["Image"] for p in _pods(first, WEB, every=True)] == ["localhost/attonix-test-httpd:1"]
    assert [p["Image"] for p in _pods(second, WEB)] == ["localhost/attonix-test-httpd:2"]
    assert _get(f"http://{second.address}:{PORT}/version") == "2"


def test_destroy_removes_everything_from_both_hosts(
    hosts: list[PodmanHost], driver: PodmanDriver
) -> None:
    assert driver.destroy().ok
    for h in hosts:
        assert h.podman("pod", "ps", "-q") == ""
        assert "attonix-pm2" not in h.podman("network", "ls", "--format", "{{.Name}}")
