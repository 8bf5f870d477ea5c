"""Derived names within Kubernetes' and operators' limits; names that cannot fit are
diagnostics at their line."""

from __future__ import annotations

import re

import pytest
from tests.unit.render._sites import load, site

from attonix.blueprint import BlueprintInvalid
from attonix.blueprint.naming import derived, fit, label_value
from attonix.render import render

# The API server's own expressions (k8s.io/apimachinery/pkg/util/validation).
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
N63 = "a" + "b" * 61 + "c"


def _labels(node: object) -> list[str]:
    out: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("labels", "matchLabels") and isinstance(v, dict):
                out.extend(str(x) for x in v.values())
            else:
                out.extend(_labels(v))
    elif isinstance(node, list):
        for item in node:
            out.extend(_labels(item))
    return out


def test_fit_and_derived_are_stable_short_and_distinct() -> None:
    assert fit("short") == "short"
    a, b = derived(N63, "internal-tls"), derived(N63[:-1] + "d", "internal-tls")
    assert len(a) == 63 and a.endswith("-internal-tls") and a != b
    assert a == derived(N63, "internal-tls")
    assert len(fit("x" * 100, 52)) == 52
    assert label_value("v1.2.3") == "v1.2.3"
    long_tag = "1.0-" + "x" * 100
    assert len(label_value(long_tag)) <= 63 and LABEL_VALUE.match(label_value(long_tag))


def test_names_at_the_limit_render_with_valid_names_and_label_values() -> None:
    bp = site(
        services=f"""
        - {{name: {N63}, cluster: kube, image: "localhost/api:1.0-{"x" * 90}",
           ports: [{{name: http, port: 8000}}], expose: {{host: api.site.example.com}}}}
        - {{name: {N63[:52]}, cluster: kube, image: "localhost/db:1", stateful: true,
           ports: [{{name: sql, port: 5432}}], volumes: [{{name: data, mount_path: /data}}]}}
        """,
        databases=f"""
        - {{name: {N63[:50]}, engine: postgresql, version: "16", cluster: kube,
           credentials_secret: db-creds, backup: {{object_pool: objects}}}}
        """,
    )
    docs = [a.content for a in render(bp, "kubernetes") if isinstance(a.content, dict)]
    for doc in docs:
        if "metadata" not in doc:
            continue
        name = doc["metadata"]["name"]
        assert SUBDOMAIN.match(name) and len(name) <= 253, name
        for value in _labels(doc):
            assert len(value) <= 63 and LABEL_VALUE.match(value), (doc["kind"], name, value)
        if doc["kind"] == "Certificate":  # cert-manager labels its requests with the name
            assert len(name) <= 63, name


@pytest.mark.parametrize(
    ("services", "databases", "pointer", "message"),
    [
        (
            f"""- {{name: {N63[:53]}, cluster: kube, image: "localhost/a:1", stateful: true,
                  ports: [{{name: http, port: 80}}]}}""",
            "",
            "services.backend[0].name",
            "a StatefulSet name may have at most 52",
        ),
        (
            """- {name: 9lives, cluster: kube, image: "localhost/a:1",
                  ports: [{name: http, port: 80}]}""",
            "",
            "services.backend[0].name",
            "must start with a letter",
        ),
        (
            "",
            f"""- {{name: {N63[:51]}, engine: postgresql, version: "16", cluster: kube,
                  credentials_secret: db-creds}}""",
            "databases[0].name",
            "a CloudNativePG Cluster name may have at most 50",
        ),
        (
            "",
            f"""- {{name: {N63[:29]}, engine: mysql, version: "8.4", cluster: kube,
                  credentials_secret: db-creds}}""",
            "databases[0].name",
            "InnoDBCluster name may have at most 28",
        ),
        (
            f"""- {{name: {N63[:53]}, cluster: swarm, image: "localhost/a:1"}}""",
            "",
            "services.backend[0].name",
            "at most 63",
        ),
    ],
)
def test_a_name_that_cannot_fit_is_a_diagnostic_at_its_line(
    services: str, databases: str, pointer: str, message: str
) -> None:
    with pytest.raises(BlueprintInvalid) as info:
        load(services=services, databases=databases)
    found = [(d.pointer, d.message, d.code, d.location.line) for d in info.value.diagnostics]
    assert any(p == pointer and message in m and c == "BP023" for p, m, c, _ in found), found
    assert all(line > 1 for *_, line in found)
