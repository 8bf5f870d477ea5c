"""validate covers render: every precondition a renderer checks is a diagnostic at its line,
reported together with the other problems of the blueprint in one run."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tests.unit.render._sites import text

from attonix.blueprint import BlueprintInvalid
from attonix.blueprint.diagnostics import Diagnostic
from attonix.blueprint.loader import load_bytes
from attonix.blueprint.model import Blueprint
from attonix.render import RenderError, render

FIXTURES = Path(__file__).parents[2] / "fixtures"

BROKEN = (
    text(
        services="""
        - {name: web, cluster: podman, image: "localhost/web:1", replicas: 2,
           ports: [{name: http, port: 8080}], expose: {host: web.site.example.com},
           zone: data, depends_on: [files]}
        - {name: files, cluster: kube, image: "localhost/f:1", stateful: true, zone: app,
           ports: [{name: http, port: 8000}],
           volumes: [{name: data, mount_path: /data}]}
        """,
        databases="""
        - {name: pg, engine: postgresql, version: "16", cluster: kube,
           credentials_secret: db-creds}
        """,
    )
    .replace("ports: [5432, 6379]", "ports: [5432, 6379, 70000-70001]")
    .replace("cidrs: [10.60.3.0/24]", "cidrs: [10.60.3.0/33]")
    .replace("        - {name: block, type: block, default: true}\n", "")
    + """
cicd:
  github: {organization: site}
  pipelines:
    - {name: app, provider: github, repository: site/app, stages: [build, deploy, check]}
"""
)

EXPECTED = [
    ("services.backend[0].replicas", "one replica per host"),
    ("services.backend[1].volumes[0].pool", "needs a Ceph block pool"),
    ("databases[0].storage.pool", "needs a Ceph block pool"),
    ("security.firewall.rules[0].ports[2]", "not a port or a LOW-HIGH range"),
    ("security.firewall.zones[1].cidrs[0]", "is not a CIDR"),
    ("cicd.pipelines[0].stages[1]", "lists 'deploy' before the policy gate"),
    ("services.backend[0].depends_on[0]", "firewall does not allow connections from zone data"),
    ("services.backend[0].depends_on[0]", "cannot reach (its name resolves only inside kube"),
]


def test_every_renderer_precondition_is_reported_in_one_run_at_its_line() -> None:
    with pytest.raises(BlueprintInvalid) as info:
        load_bytes(BROKEN, file="site.yaml")
    found: dict[str, list[Diagnostic]] = {}
    for d in info.value.diagnostics:
        found.setdefault(d.pointer, []).append(d)
    for pointer, message in EXPECTED:
        assert pointer in found, (pointer, sorted(found))
        (d,) = [d for d in found[pointer] if message in d.message]
        assert d.code == "BP024"
        line = BROKEN.splitlines()[d.location.line - 1]
        assert line.strip(), d  # points at a real line of the file


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("podman", "one replica per host"),
        ("kubernetes", "needs a Ceph block pool"),
        ("nftables", "is not a CIDR"),
        ("cicd", "lists 'deploy' before the policy gate"),
    ],
)
def test_the_renderers_would_have_refused_the_same_blueprint(target: str, message: str) -> None:
    bp = Blueprint.model_validate(yaml.safe_load(BROKEN))  # the model alone: no preconditions
    with pytest.raises(RenderError, match=message.replace("(", r"\(")):
        render(bp, target, **({"validate": False} if target == "kubernetes" else {}))


def test_replicas_zero_is_a_finding_at_its_line() -> None:
    from attonix.policy import check

    source = text(
        services="""
        - {name: idle, cluster: kube, image: "localhost/idle:1", replicas: 0,
           ports: [{name: http, port: 8000}]}
        """
    )
    loaded = load_bytes(source, file="site.yaml")
    found = [f for f in check(loaded) if f.rule == "ATX032"]
    assert [f.component for f in found] == ["service/idle"]
    assert found[0].pointer == "services.backend[0].replicas"
    assert "replicas: 0" in source.splitlines()[found[0].location.line - 1]


def test_two_volumes_stored_under_one_ceph_name_are_refused_at_the_second() -> None:
    """On Ceph on hosts a volume is the image or subvolume ``<service>-<volume>``: service
    ``orders-x`` with volume ``data`` and service ``orders`` with volume ``x-data`` would share
    one, and each service's key would reach the other's data."""
    source = (FIXTURES / "ceph" / "store.yaml").read_text(encoding="utf-8")
    source = (
        source.replace("    - name: billing\n", "    - name: orders-x\n")
        .replace("{name: data, pool: billing-rbd", "{name: data, pool: orders-rbd")
        .replace(
            "{name: data, pool: orders-rbd, size: 16Mi",
            "{name: x-data, pool: orders-rbd, size: 16Mi",
        )
    )
    with pytest.raises(BlueprintInvalid) as info:
        load_bytes(source, file="store.yaml")
    (d,) = [d for d in info.value.diagnostics if "both stored as" in d.message]
    assert d.code == "BP024" and d.pointer == "services.backend[1].volumes[0].name"
    assert "'orders-x-data' in Ceph pool orders-rbd" in d.message and "one image" in d.message
    assert "{name: data, pool: orders-rbd" in source.splitlines()[d.location.line - 1]
    # The fixture as written stores every volume under a name of its own.
    load_bytes((FIXTURES / "ceph" / "store.yaml").read_bytes(), file="store.yaml")
