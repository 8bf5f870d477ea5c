"""Swarm as it would work when applied: services reach exactly what they declare, and a
stateful service's local volume stays on the node that holds it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from tests.unit.render._sites import load, site, text

from attonix.blueprint import BlueprintInvalid
from attonix.render import render

SERVICES = """
- {name: api, cluster: swarm, image: "localhost/api:1", ports: [{name: http, port: 8000}],
   depends_on: [db]}
- {name: db, cluster: swarm, image: "localhost/db:1", replicas: 1,
   ports: [{name: sql, port: 5432}], volumes: [{name: data, mount_path: /var/lib/db}]}
- {name: other, cluster: swarm, image: "localhost/other:1", ports: [{name: http, port: 9000}]}
"""


def _stack(services: str) -> dict[str, Any]:
    (art,) = render(site(services=services), "swarm")
    return art.content  # type: ignore[no-any-return]


def test_a_service_and_what_it_declares_share_an_overlay_and_nothing_else() -> None:
    s = _stack(SERVICES)["services"]
    assert set(s["api"]["networks"]) & set(s["db"]["networks"]) == {"api_db"}
    assert not set(s["other"]["networks"]) & (set(s["api"]["networks"]) | set(s["db"]["networks"]))


def test_a_local_volume_pins_its_service_to_one_node() -> None:
    s = _stack(SERVICES)["services"]
    assert s["db"]["deploy"]["placement"]["constraints"] == ["node.hostname==s-1"]
    assert "constraints" not in s["api"]["deploy"]["placement"]


def test_more_than_one_replica_on_a_local_volume_is_a_diagnostic() -> None:
    with pytest.raises(BlueprintInvalid) as info:
        load(services=SERVICES.replace("replicas: 1,", "replicas: 2,"))
    (d,) = [d for d in info.value.diagnostics if d.code == "BP024"]
    assert d.pointer == "services.backend[1].replicas" and "one node" in d.message


def test_an_exposed_host_without_a_load_balancer_to_route_it_is_a_diagnostic() -> None:
    exposed = """
- {name: web, cluster: swarm, image: "localhost/web:1", ports: [{name: http, port: 8000}],
   expose: {host: web.site.example.com}}
"""
    with pytest.raises(BlueprintInvalid) as info:
        load(services=exposed)
    (d,) = [d for d in info.value.diagnostics if d.code == "BP024"]
    assert d.pointer == "services.backend[0].expose"
    assert "web.site.example.com" in d.message and "haproxy" in d.message


def test_callers_of_one_service_cannot_reach_each_other_through_it() -> None:
    s = _stack(
        """
- {name: c, cluster: swarm, image: "localhost/c:1", ports: [{name: sql, port: 5432}], zone: data}
- {name: a, cluster: swarm, image: "localhost/a:1", ports: [{name: http, port: 8000}],
   depends_on: [c], zone: app}
- {name: b, cluster: swarm, image: "localhost/b:1", ports: [{name: http, port: 8001}],
   depends_on: [c], zone: app}
- {name: d, cluster: swarm, image: "localhost/d:1", zone: data}
"""
    )["services"]
    assert s["c"]["networks"] == ["a_c", "b_c"]
    assert not set(s["a"]["networks"]) & set(s["b"]["networks"])
    assert s["d"]["networks"] == ["isolated-d"]  # it calls nothing and nothing calls it


def test_a_call_the_firewall_forbids_is_a_diagnostic_with_the_other_problems() -> None:
    # d -> a is declared, but no rule lets zone data open connections to zone app: the
    # stack would give the call no network, so validate says so at its line.
    services = """
- {name: a, cluster: swarm, image: "localhost/a:1", ports: [{name: http, port: 8000}],
   zone: app}
- {name: d, cluster: swarm, image: "localhost/d:1", depends_on: [a], zone: data,
   volumes: [{name: data, mount_path: /data}], replicas: 2}
"""
    with pytest.raises(BlueprintInvalid) as info:
        load(services=services)
    found = {d.pointer: d for d in info.value.diagnostics if d.code == "BP024"}
    assert set(found) == {"services.backend[1].depends_on[0]", "services.backend[1].replicas"}
    d = found["services.backend[1].depends_on[0]"]
    assert "zone data to zone app" in d.message and "security.firewall.rules" in d.hint
    assert "depends_on: [a]" in text(services=services).splitlines()[d.location.line - 1]


def test_network_names_stay_dns_labels_with_long_service_names() -> None:
    a, c = "a" * 50, "c" * 50
    stack = _stack(
        f"""
- {{name: {c}, cluster: swarm, image: "localhost/c:1", ports: [{{name: http, port: 80}}]}}
- {{name: {a}, cluster: swarm, image: "localhost/a:1", depends_on: [{c}]}}
- {{name: {"i" * 50}, cluster: swarm, image: "localhost/i:1"}}
"""
    )
    assert len(stack["networks"]) == 2
    for key in stack["networks"]:
        # Swarm refuses a network whose name is not a DNS label ("site-swarm" is the stack).
        assert re.fullmatch(r"[a-z0-9](?:[-_]*[a-z0-9]+)*", f"site-swarm_{key}")
        assert len(f"site-swarm_{key}") <= 63


def test_values_with_dollars_are_escaped_from_substitution_and_compared_as_the_engine_sees() -> (
    None
):
    from attonix.deploy.swarm.views import service_view
    from attonix.render.swarm import rendered

    bp = site(
        services="""
- {name: a, cluster: swarm, image: "localhost/a:1", ports: [{name: redis, port: 6379}],
   env: {PRICE: "$5", TEMPLATE: "${HOME}/x"}, command: [sh, -c, "echo $PRICE"]}
"""
    )
    state = rendered(bp).of("swarm", "swarm")
    (w,) = state.workloads
    (stack,) = state.files
    svc = stack.content["services"]["a"]
    assert svc["environment"] == {"PRICE": "$$5", "TEMPLATE": "$${HOME}/x"}
    assert svc["command"] == ["sh", "-c", "echo $$PRICE"]
    # The typed desired state holds what the engine receives.
    assert w.container is not None and w.container.command == ("sh", "-c", "echo $PRICE")
    view = service_view(w, secret_names={})
    # What drift detection compares with the live spec: the values the engine received.
    assert view["env"] == {"PRICE": "$5", "TEMPLATE": "${HOME}/x"}
    assert view["command"] == ["sh", "-c", "echo $PRICE"]
    assert "case $a:$s in *:18EB:0A)" in view["healthcheck"]["test"][1]
