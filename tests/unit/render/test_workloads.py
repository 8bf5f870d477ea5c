"""The shared container/pod/Deployment builders: hardened by default, secrets by reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from attonix.blueprint.loader import load_file
from attonix.blueprint.model import Blueprint, Placement
from attonix.render import render
from attonix.render.base import dump_yaml
from attonix.render.workloads import (
    container,
    deployment,
    pod_spec,
    replicas_of,
    selector_labels,
)

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "attonixcorp.yaml"


@pytest.fixture(scope="module")
def bp() -> Blueprint:
    return load_file(EXAMPLE).blueprint


def test_container_is_hardened(bp: Blueprint) -> None:
    c = container(bp, bp.workloads_by_name["attonix-server"])
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["runAsUser"] == 10001
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert c["resources"] == {
        "requests": {"cpu": "500m", "memory": "512Mi"},
        "limits": {"cpu": "2", "memory": "1Gi"},
    }
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 8000, "scheme": "HTTP"}
    assert c["livenessProbe"]["httpGet"]["path"] == "/readyz"


def test_capabilities_added_are_explicit(bp: Blueprint) -> None:
    w = bp.workloads_by_name["orders-api"]
    w = w.model_copy(
        update={
            "security": w.security.model_copy(update={"capabilities_add": ["NET_BIND_SERVICE"]})
        }
    )
    caps = container(bp, w)["securityContext"]["capabilities"]
    assert caps == {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}


def test_secrets_are_mounted_files_never_values(bp: Blueprint) -> None:
    w = bp.workloads_by_name["attonix-server"]
    c = container(bp, w, database_hosts={"pg-main": "pg-main-rw.attonix.svc"})
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    assert mounts["/run/secrets/attonix-kek"]["readOnly"] is True
    assert mounts["/run/secrets/databases/pg-main"]["readOnly"] is True
    env = {e["name"]: e for e in c["env"]}
    assert env["PG_MAIN_HOST"]["value"] == "pg-main-rw.attonix.svc"
    assert env["PG_MAIN_PORT"]["value"] == "5432"
    assert env["PG_MAIN_DATABASE"]["value"] == "attonix"
    assert env["PG_MAIN_CREDENTIALS_DIR"]["value"] == "/run/secrets/databases/pg-main"
    assert all("valueFrom" not in e for e in c["env"])
    vols = {v["name"]: v for v in pod_spec(bp, w, labels={})["volumes"]}
    assert vols["secret-attonix-kek"]["secret"]["secretName"] == "attonix-kek"
    # the service's own login, never the owner's credentials
    assert vols["db-pg-main"]["secret"]["secretName"] == "pg-main.attonix-server"
    assert vols["tmp"] == {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}


def test_token_only_for_api_access(bp: Blueprint) -> None:
    w = bp.workloads_by_name["attonix-worker"]
    assert pod_spec(bp, w, labels={})["automountServiceAccountToken"] is False
    w2 = w.model_copy(update={"kubernetes_api_access": True})
    assert pod_spec(bp, w2, labels={})["automountServiceAccountToken"] is True


def test_spread_and_placement(bp: Blueprint) -> None:
    w = bp.workloads_by_name["orders-api"]
    spec = pod_spec(bp, w, labels=selector_labels(bp, w.name))
    hard = spec["topologySpreadConstraints"][0]
    assert hard["topologyKey"] == "topology.kubernetes.io/zone"
    assert hard["whenUnsatisfiable"] == "DoNotSchedule"
    assert hard["labelSelector"]["matchLabels"]["app.kubernetes.io/name"] == "orders-api"
    assert "affinity" not in spec
    pinned = w.model_copy(
        update={"spread": "rack", "placement": Placement(zones=["zone-b", "zone-a"])}
    )
    spec = pod_spec(bp, pinned, labels={})
    assert spec["topologySpreadConstraints"][0]["topologyKey"] == "topology.rook.io/rack"
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"] == [
        {
            "matchExpressions": [
                {
                    "key": "topology.kubernetes.io/zone",
                    "operator": "In",
                    "values": ["zone-a", "zone-b"],
                }
            ]
        }
    ]


def test_deployment_has_no_yaml_anchors_and_autoscaler_minimum(bp: Blueprint) -> None:
    w = bp.workloads_by_name["orders-api"]
    w = w.model_copy(update={"replicas": 1})
    d = deployment(bp, w)
    assert d["spec"]["replicas"] == 3 == replicas_of(w)
    assert d["metadata"]["namespace"] == "commerce"
    assert (
        d["spec"]["selector"]["matchLabels"].items()
        <= d["spec"]["template"]["metadata"]["labels"].items()
    )
    text = dump_yaml(d)
    assert "&id" not in text and "*id" not in text


def test_each_statefulset_is_governed_by_a_headless_service(bp: Blueprint) -> None:
    """A StatefulSet's serviceName must be a headless Service (clusterIP: None) in its namespace,
    selecting its pods: only that gives each pod its stable DNS name."""
    docs = [a.content for a in render(bp, "kubernetes") if isinstance(a.content, dict)]
    services = {
        (d["metadata"]["namespace"], d["metadata"]["name"]): d
        for d in docs
        if d.get("kind") == "Service"
    }
    sets = [d for d in docs if d.get("kind") == "StatefulSet"]
    assert sets, "the example has stateful services"
    for s in sets:
        key = (s["metadata"]["namespace"], s["spec"]["serviceName"])
        assert key in services, key
        svc = services[key]["spec"]
        assert svc["clusterIP"] == "None"
        assert svc["selector"] == s["spec"]["selector"]["matchLabels"]
        # Clients keep their ClusterIP Service under the workload's own name.
        plain = services.get((key[0], s["metadata"]["name"]))
        assert plain is None or plain["spec"]["type"] == "ClusterIP"
