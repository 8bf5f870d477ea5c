"""Health by protocol: one declaration, the same check on Kubernetes, Swarm and Podman.

A cache on 6379 must not get HTTP probes (its pods would never become ready and would restart
forever); a worker without ports gets no network probe at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.unit.render._sites import load, site

from attonix.blueprint import BlueprintInvalid
from attonix.blueprint.loader import load_file
from attonix.render import render

CACHE = """
- {name: cache, cluster: CLUSTER, image: "localhost/cache:1", replicas: 1,
   ports: [{name: redis, port: 6379}]}
"""


def _k8s_container(bp: Any, name: str) -> dict[str, Any]:
    for art in render(bp, "kubernetes"):
        doc = art.content
        kind = doc.get("kind") if isinstance(doc, dict) else None
        if kind in ("Deployment", "StatefulSet") and doc["metadata"]["name"] == name:
            return doc["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]
    raise AssertionError(f"no workload {name}")


def _swarm_service(bp: Any, name: str) -> dict[str, Any]:
    (art,) = render(bp, "swarm")
    return art.content["services"][name]  # type: ignore[no-any-return]


def _podman_container(bp: Any, name: str) -> dict[str, Any]:
    for art in render(bp, "podman"):
        if art.path == f"podman/podman/{name}.yaml":
            return art.content["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]
    raise AssertionError(f"no podman workload {name}")


def test_non_http_port_is_checked_by_tcp_on_every_engine() -> None:
    services = "".join(
        CACHE.replace("CLUSTER", c).replace("cache,", f"cache-{c},")
        for c in ("kube", "swarm", "podman")
    )
    bp = site(services=services)
    c = _k8s_container(bp, "cache-kube")
    assert c["readinessProbe"]["tcpSocket"] == {"port": 6379}
    assert c["livenessProbe"]["tcpSocket"] == {"port": 6379}
    assert "httpGet" not in c["readinessProbe"]
    test = _swarm_service(bp, "cache-swarm")["healthcheck"]["test"]
    assert "http" not in " ".join(test)
    # A listening socket on the port, read from /proc with shell built-ins (6379 = 0x18EB),
    # with the dollars escaped from the CLI's variable substitution.
    assert test[0] == "CMD-SHELL" and ":18EB:0A)" in test[1] and "/proc/net/tcp6" in test[1]
    assert "$$a:$$s" in test[1] and "nc " not in test[1]
    p = _podman_container(bp, "cache-podman")
    # Podman's own tcpSocket probe is `nc -z` inside the image: the same shell check instead.
    (script,) = p["livenessProbe"]["exec"]["command"]
    assert ":18EB:0A)" in script and "$a:$s" in script and "nc " not in script


def test_http_port_name_or_path_gives_an_http_check() -> None:
    bp = site(
        services="""
        - {name: api, cluster: kube, image: "localhost/api:1",
           ports: [{name: http, port: 8000}]}
        - {name: admin, cluster: swarm, image: "localhost/admin:1",
           ports: [{name: admin, port: 9000}], health: {path: /ready}}
        """
    )
    assert _k8s_container(bp, "api")["readinessProbe"]["httpGet"] == {
        "path": "/healthz",
        "port": 8000,
        "scheme": "HTTP",
    }
    assert "http://127.0.0.1:9000/ready" in _swarm_service(bp, "admin")["healthcheck"]["test"][1]


def test_command_check_and_no_check() -> None:
    bp = site(
        services="""
        - {name: worker, cluster: kube, image: "localhost/worker:1",
           health: {command: [/bin/worker, --check]}}
        - {name: sworker, cluster: swarm, image: "localhost/worker:1",
           health: {command: [/bin/worker, --check]}}
        - {name: quiet, cluster: kube, image: "localhost/quiet:1",
           ports: [{name: http, port: 8000}], health: {check: none}}
        """
    )
    c = _k8s_container(bp, "worker")
    assert c["readinessProbe"]["exec"] == {"command": ["/bin/worker", "--check"]}
    assert "ports" not in c
    assert _swarm_service(bp, "sworker")["healthcheck"]["test"] == [
        "CMD",
        "/bin/worker",
        "--check",
    ]
    q = _k8s_container(bp, "quiet")
    assert "readinessProbe" not in q and "livenessProbe" not in q


@pytest.mark.parametrize(
    ("health", "message"),
    [
        ("{check: tcp, path: /x}", "'path' is only for check http"),
        ("{check: command}", "check command needs 'command'"),
        ("{path: /x, command: [a]}", "either 'path'"),
    ],
)
def test_inconsistent_health_is_a_diagnostic_at_its_line(health: str, message: str) -> None:
    with pytest.raises(BlueprintInvalid) as info:
        load(
            services=f"""
            - {{name: api, cluster: kube, image: "localhost/api:1",
               ports: [{{name: http, port: 8000}}], health: {health}}}
            """
        )
    (d,) = info.value.diagnostics
    assert message in d.message
    assert d.pointer.startswith("services.backend[0].health")


def test_the_example_worker_serves_the_health_check_it_declares() -> None:
    """`attonix worker` listens only when given --health-port; the example's rendered command
    must pass the port its probes ask (the path it serves is /healthz), or on a cluster its pods
    are never ready and restart forever (tests/unit/server/test_worker_health.py runs it)."""
    example = Path(__file__).resolve().parents[3] / "examples" / "attonixcorp.yaml"
    c = _k8s_container(load_file(example).blueprint, "attonix-worker")
    command = [*c.get("command", []), *c.get("args", [])]
    assert command[:2] == ["attonix", "worker"]
    port = command[command.index("--health-port") + 1]
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["path"] == "/healthz"
        assert str(c[probe]["httpGet"]["port"]) == port or (
            c[probe]["httpGet"]["port"]
            == next(p["name"] for p in c["ports"] if str(p["containerPort"]) == port)
        )
