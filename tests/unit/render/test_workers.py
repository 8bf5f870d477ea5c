"""Workers: services without ports render without Service, Ingress, ports or network probes,
and nothing may be declared to call them."""

from __future__ import annotations

import pytest
from tests.unit.render._sites import load, site

from attonix.blueprint import BlueprintInvalid
from attonix.render import render

WORKERS = """
- {name: api, cluster: kube, image: "localhost/api:1", ports: [{name: http, port: 8000}]}
- {name: worker, cluster: kube, image: "localhost/worker:1"}
- {name: sworker, cluster: swarm, image: "localhost/worker:1"}
- {name: pworker, cluster: podman, image: "localhost/worker:1", replicas: 1}
"""


def test_a_worker_renders_on_every_engine_without_network_objects() -> None:
    bp = site(services=WORKERS)
    docs = [a.content for a in render(bp, "kubernetes")]
    mine = [
        d for d in docs if isinstance(d, dict) and d.get("metadata", {}).get("name") == "worker"
    ]
    kinds = sorted(d["kind"] for d in mine)
    assert kinds == ["Deployment", "NetworkPolicy", "PodDisruptionBudget", "ServiceAccount"]
    (deploy,) = (d for d in mine if d["kind"] == "Deployment")
    c = deploy["spec"]["template"]["spec"]["containers"][0]
    assert "ports" not in c and "readinessProbe" not in c and "livenessProbe" not in c
    (policy,) = (d for d in mine if d["kind"] == "NetworkPolicy")
    assert policy["spec"]["ingress"] == []  # no rule at all: nobody may connect
    (stack,) = render(bp, "swarm")
    s = stack.content["services"]["sworker"]
    assert "ports" not in s and s["healthcheck"] == {"disable": True}
    podman = {a.path: a.content for a in render(bp, "podman")}
    pc = podman["podman/podman/pworker.yaml"]["spec"]["template"]["spec"]["containers"][0]
    assert "ports" not in pc and "livenessProbe" not in pc


@pytest.mark.parametrize(
    ("services", "pointer", "message"),
    [
        (
            WORKERS + '- {name: caller, cluster: kube, image: "localhost/c:1", '
            "depends_on: [worker]}\n",
            "services.backend[4].depends_on[0]",
            "'worker' has no ports",
        ),
        (
            '- {name: w, cluster: kube, image: "localhost/w:1", '
            "expose: {host: w.site.example.com}}\n",
            "services.backend[0]",
            "'expose' needs a port",
        ),
        (
            '- {name: w, cluster: kube, image: "localhost/w:1", health: {check: tcp}}\n',
            "services.backend[0]",
            "health check tcp needs a port",
        ),
    ],
)
def test_what_a_worker_cannot_do_is_a_diagnostic(services: str, pointer: str, message: str) -> None:
    with pytest.raises(BlueprintInvalid) as info:
        load(services=services)
    found = [(d.pointer, d.message) for d in info.value.diagnostics]
    assert any(p == pointer and message in m for p, m in found), found
