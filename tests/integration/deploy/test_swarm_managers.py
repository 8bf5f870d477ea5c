"""A Swarm cluster reached through several manager endpoints, against this machine's real
Docker Swarm (scripts/setup.d/21-docker.sh): the endpoints are tried in the stated order, an
unreachable one is passed over, and a manager that goes away mid-run is replaced by the next.
Read-only: only plans and status reads, nothing is deployed."""

from __future__ import annotations

from pathlib import Path

import pytest

from attonix.blueprint import load_file
from attonix.deploy import EngineUnavailable, EnvSecretSource
from attonix.deploy.connections import Connection, DockerEndpoint
from attonix.deploy.swarm import SwarmDriver

from .test_swarm import SECRETS, swarm_ready

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).parents[2] / "fixtures" / "deploy" / "shop.yaml"
LIVE = "unix:///var/run/docker.sock"


@pytest.fixture(autouse=True)
def _swarm() -> None:
    if not swarm_ready():
        pytest.fail("Docker Swarm is not active here: run scripts/setup.d/21-docker.sh")


def _driver(tmp_path: Path, *hosts: str) -> SwarmDriver:
    bp = load_file(FIXTURE).blueprint
    endpoint = DockerEndpoint(host=hosts[0], fallback_hosts=hosts[1:])
    return SwarmDriver(
        bp,
        cluster="swarm-test",
        secrets=EnvSecretSource(bp.security.secrets, environ=SECRETS),
        state=tmp_path,
        connection=Connection(docker=endpoint),
    )


def test_the_first_manager_that_answers_is_used(tmp_path: Path) -> None:
    gone = f"unix://{tmp_path}/manager-1.sock"
    drv = _driver(tmp_path, gone, LIVE)
    assert drv.endpoint == f"{gone}, then {LIVE}"
    drv.check_connection()
    assert drv.host == LIVE
    plan = drv.plan()
    assert plan.cluster == "swarm-test"


def test_a_manager_that_is_gone_mid_run_is_replaced_by_the_next(tmp_path: Path) -> None:
    gone = f"unix://{tmp_path}/manager-1.sock"
    drv = _driver(tmp_path, gone, LIVE)
    assert drv.host == gone  # nothing probed yet: the first in the stated order
    drv.status()  # the first engine call finds it unreachable and moves on
    assert drv.host == LIVE


def test_when_no_manager_answers_every_one_is_named(tmp_path: Path) -> None:
    hosts = [f"unix://{tmp_path}/manager-{i}.sock" for i in (1, 2)]
    drv = _driver(tmp_path, *hosts)
    with pytest.raises(EngineUnavailable) as info:
        drv.status()
    assert info.value.message.startswith(
        "cluster 'swarm-test': none of its 2 manager endpoints answers: "
    )
    for host in hosts:
        assert host in info.value.message
