"""The Swarm driver against three Docker engines in network namespaces forming one Swarm of
three managers, reached over TCP with mutual TLS (``_nodes.py`` builds and removes it).

What the driver did is observed on the nodes themselves (each engine's own containers, each
node's zone label, each node's published port), never through the driver. The tests run in
file order on one cluster: a wrong client certificate is refused; apply over mutual TLS; the
tasks spread one per zone; the leader is lost while requests keep being served by the others,
and the next ``status`` names the lost node. A good update runs under a request loop through
HAProxy as rendered for the blueprint's load balancer, without one failed request.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))

from _nodes import Swarm, available, running
from tests.integration._loadbalancer import converge_under_load, haproxy_in_front

from attonix.blueprint import Blueprint, load_file
from attonix.deploy import converge, get_driver
from attonix.deploy.connections import ConnectionError_, parse
from attonix.deploy.converging import check_connection
from attonix.deploy.secrets import EnvSecretSource
from attonix.deploy.swarm import SwarmDriver

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).parents[2] / "fixtures" / "deploy" / "swarm3.yaml"
PORT = 38481
LB_PORT = 38490
SERVICE = "attonix-sw3-swarm-3_web"
CLUSTER = "swarm-3"


@pytest.fixture(scope="module")
def swarm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Swarm]:
    why = available()
    if why:
        pytest.fail(f"the three-node swarm cannot run: {why}")
    with running(tmp_path_factory.mktemp("swarm3")) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def blueprint() -> Blueprint:
    return load_file(FIXTURE).blueprint


def _connections(swarm: Swarm, *, cert: Path, key: Path, tmp: Path) -> Path:
    """A connections file reaching the swarm through its second node (not the leader)."""
    path = tmp / "connections.yaml"
    tls = {"ca": str(swarm.ca), "cert": str(cert), "key": str(key)}
    doc = {"clusters": {CLUSTER: {"docker": {"host": swarm.nodes[1].tcp, "tls": tls}}}}
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def connections(swarm: Swarm, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _connections(swarm, cert=swarm.cert, key=swarm.key, tmp=tmp_path_factory.mktemp("conn"))


@pytest.fixture(scope="module")
def driver(
    swarm: Swarm,
    blueprint: Blueprint,
    connections: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[SwarmDriver]:
    state = tmp_path_factory.mktemp("state")
    old = os.environ.get("ATTONIX_STATE_DIR")
    os.environ["ATTONIX_STATE_DIR"] = str(state)
    try:
        driver = get_driver(
            "swarm",
            blueprint,
            secrets=EnvSecretSource(blueprint.security.secrets, environ={}),
            connections=parse(connections.read_text(), source=str(connections)),
        )
        assert isinstance(driver, SwarmDriver)
        yield driver
    finally:
        if old is None:
            os.environ.pop("ATTONIX_STATE_DIR", None)
        else:
            os.environ["ATTONIX_STATE_DIR"] = old


@pytest.fixture(scope="module")
def haproxy(
    swarm: Swarm, blueprint: Blueprint, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """HAProxy with the blueprint's rendered configuration, in front of the three nodes."""
    with haproxy_in_front(blueprint, tmp_path_factory.mktemp("haproxy"), LB_PORT) as url:
        yield url


def _get(address: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{address}:{PORT}/healthz", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def test_a_wrong_client_certificate_is_refused_naming_the_cluster(
    swarm: Swarm, blueprint: Blueprint, tmp_path: Path
) -> None:
    from attonix.server.security.pki import create_ca, issue_certificate

    stranger = create_ca(common_name="Another CA", key_algorithm="ecdsa-p256", validity_days=1)
    pair = issue_certificate(stranger, common_name="x", dns_names=["x"], validity_days=1)
    (tmp_path / "c.pem").write_bytes(pair.cert_pem)
    (tmp_path / "k.pem").write_bytes(pair.key_pem)
    path = _connections(swarm, cert=tmp_path / "c.pem", key=tmp_path / "k.pem", tmp=tmp_path)
    driver = get_driver(
        "swarm",
        blueprint,
        secrets=EnvSecretSource(blueprint.security.secrets, environ={}),
        connections=parse(path.read_text(), source=str(path)),
    )
    with pytest.raises(ConnectionError_) as err:
        check_connection(driver)
    assert err.value.message.startswith(
        f"cluster '{CLUSTER}': the engine at {swarm.nodes[1].tcp} refused the client "
        f"certificate {tmp_path / 'c.pem'}"
    )


def test_apply_over_mutual_tls_spreads_one_task_per_zone(swarm: Swarm, driver: SwarmDriver) -> None:
    outcome = converge(driver)
    assert outcome.ok, outcome.error
    # Observed on each engine: its own running containers of the service, and its zone.
    per_node = {}
    for node in swarm.nodes:
        ids = swarm.docker(
            node, "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={SERVICE}"
        ).split()
        labels = json.loads(swarm.docker(swarm.nodes[1], "node", "inspect", node.name))
        per_node[labels[0]["Spec"]["Labels"]["zone"]] = len(ids)
    assert per_node == {"zone-1": 1, "zone-2": 1, "zone-3": 1}
    assert all(_get(node.address) for node in swarm.nodes)
    # A second apply plans nothing.
    assert converge(driver).plan.is_empty


def test_a_good_update_under_load_fails_no_request(
    swarm: Swarm, blueprint: Blueprint, connections: Path, driver: SwarmDriver, haproxy: str
) -> None:
    data = blueprint.model_dump(by_alias=True)
    data["services"]["frontend"][0]["image"] = "localhost/attonix-test-httpd:2"
    updated = get_driver(
        "swarm",
        Blueprint.model_validate(data),
        secrets=EnvSecretSource(blueprint.security.secrets, environ={}),
        connections=parse(connections.read_text(), source=str(connections)),
    )
    run = converge_under_load(updated, lambda: _version(haproxy), first="1")
    outcome, seen = run.outcome, run.seen
    assert outcome.ok, outcome.error
    assert [c.key for c in outcome.plan.pending] == [f"service/{SERVICE}"]
    failed = [v for v in seen if v not in ("1", "2")]
    assert failed == [], f"{len(failed)} of {len(seen)} requests failed during the update"
    assert seen.count("2") > 0 and seen[-1] == "2"
    # Every node runs the new image, as each engine reports its own containers.
    for node in swarm.nodes:
        images = swarm.docker(
            node, "ps", "--format", "{{.Image}}",
            "--filter", f"label=com.docker.swarm.service.name={SERVICE}",
        ).split()  # fmt: skip
        assert images == ["localhost/attonix-test-httpd:2"], (node.name, images)


def _version(base: str) -> str:
    try:
        with urllib.request.urlopen(f"{base}/version", timeout=5) as resp:
            return str(resp.read().decode().strip())
    except OSError as exc:
        return f"error: {exc}"


def test_losing_the_leader_keeps_serving_and_status_names_the_lost_node(
    swarm: Swarm, driver: SwarmDriver, connections: Path, tmp_path: Path
) -> None:
    leader = swarm.leader(via=swarm.nodes[1])
    assert leader == swarm.nodes[0]
    survivors = swarm.nodes[1:]
    failures: list[str] = []
    served = [0]
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            for node in survivors:
                if _get(node.address):
                    served[0] += 1
                else:
                    failures.append(node.name)
            time.sleep(0.05)

    loop = threading.Thread(target=load)
    loop.start()
    try:
        time.sleep(0.5)
        swarm.kill(leader)
        # Swarm elects a new leader among the survivors and marks the lost node down.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = swarm.docker(survivors[0], "node", "ls", "--format", "{{json .}}", check=False)
            states = {r["Hostname"]: r for r in map(json.loads, rows.splitlines())}
            if states.get(leader.name, {}).get("Status") == "Down" and any(
                s.get("ManagerStatus") == "Leader" for s in states.values()
            ):
                break
            time.sleep(1)
        else:
            pytest.fail(f"the swarm did not mark {leader.name} down: {rows}")
    finally:
        stop.set()
        loop.join(timeout=30)
    assert failures == [], f"{len(failures)} failed requests to the surviving nodes"
    assert served[0] > 20

    statuses = {s.name: s for s in driver.status()}
    lost = statuses[f"node/{leader.name}"]
    assert not lost.converged
    assert "zone=zone-1" in lost.message and "is down" in lost.message
    assert "manager unreachable" in lost.message
    # The CLI says the same and exits non-zero.
    env = {**os.environ, "COLUMNS": "400"}
    done = subprocess.run(
        [sys.executable, "-m", "attonix", "status", str(FIXTURE), "-t", "swarm",
         "--connections", str(connections)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"node/{leader.name}" in done.stdout
    assert f"node {leader.name} (" in " ".join(done.stdout.split())
