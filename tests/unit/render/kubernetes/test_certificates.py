"""Certificates name every host a client or a member dials: the members of a StatefulSet and of
an operator's database cluster reach each other at their pods' names under a headless Service,
so TLS between them verifies only if those names are in the certificate."""

from __future__ import annotations

from typing import Any

from tests.unit.render._sites import text

from attonix.blueprint.loader import load_bytes
from attonix.render import render

SERVICES = """
- {name: ledger, cluster: kube, namespace: books, image: "localhost/ledger:1", stateful: true,
   replicas: 3, ports: [{name: http, port: 8000}],
   autoscaling: {min_replicas: 3, max_replicas: 7}}
- {name: api, cluster: kube, namespace: books, image: "localhost/api:1",
   ports: [{name: http, port: 8000}]}
"""
DATABASES = """
- {name: pg, engine: postgresql, version: "16", cluster: kube, credentials_secret: db-creds,
   backup: {enabled: false}}
- {name: my, engine: mysql, version: "8.4", cluster: kube, credentials_secret: db-creds,
   backup: {enabled: false}}
- {name: mongo, engine: mongodb, version: "7.0", cluster: kube, credentials_secret: db-creds,
   backup: {enabled: false}}
"""


def _docs() -> list[dict[str, Any]]:
    bp = load_bytes(text(services=SERVICES, databases=DATABASES), file="site.yaml").blueprint
    return [
        a.content
        for a in render(bp, "kubernetes")
        if isinstance(a.content, dict) and "kind" in a.content
    ]


def _covers(names: list[str], host: str) -> bool:
    """RFC 6125 matching: exact, or a wildcard standing for exactly the leftmost label."""
    head, _, rest = host.partition(".")
    return host in names or (bool(head) and f"*.{rest}" in names)


def _certificate(docs: list[dict[str, Any]], secret: str) -> list[str]:
    (cert,) = [d for d in docs if d["kind"] == "Certificate" and d["spec"]["secretName"] == secret]
    names: list[str] = cert["spec"]["dnsNames"]
    return names


def test_a_statefulsets_certificate_names_every_pod_under_its_headless_service() -> None:
    docs = _docs()
    (sts,) = [d for d in docs if d["kind"] == "StatefulSet"]
    ns, headless = sts["metadata"]["namespace"], sts["spec"]["serviceName"]
    (hpa,) = [
        d
        for d in docs
        if d["kind"] == "HorizontalPodAutoscaler"
        and d["spec"]["scaleTargetRef"]["name"] == sts["metadata"]["name"]
    ]
    assert any(
        d["kind"] == "Service"
        and d["metadata"]["name"] == headless
        and d["spec"].get("clusterIP") == "None"
        for d in docs
    )
    (volume,) = [
        v for v in sts["spec"]["template"]["spec"]["volumes"] if v["name"] == "internal-tls"
    ]
    names = _certificate(docs, volume["secret"]["secretName"])
    # Every pod the autoscaler may create, by both of its in-cluster names.
    for ordinal in range(hpa["spec"]["maxReplicas"]):
        pod = f"{sts['metadata']['name']}-{ordinal}"
        for host in (f"{pod}.{headless}.{ns}.svc", f"{pod}.{headless}.{ns}.svc.cluster.local"):
            assert _covers(names, host), (host, names)
    # Clients keep reaching it through the ClusterIP Service.
    assert _covers(names, f"ledger.{ns}.svc")


def test_a_deployments_certificate_names_only_its_service() -> None:
    names = _certificate(_docs(), "api-internal-tls")
    assert not any("headless" in n or n.startswith("*") for n in names), names


def test_database_certificates_name_the_members_of_mysql_and_mongodb_clusters() -> None:
    docs = _docs()
    my = _certificate(docs, "my-server-tls")
    mongo = _certificate(docs, "mongo-server-tls")
    for pod in ("my-0", "my-2"):
        assert _covers(my, f"{pod}.my-instances.databases.svc.cluster.local"), my
        assert _covers(my, f"{pod}.my-instances.databases.svc"), my
    assert _covers(my, "my.databases.svc")  # the router, which clients use
    for pod in ("mongo-0", "mongo-2"):
        assert _covers(mongo, f"{pod}.mongo-svc.databases.svc.cluster.local"), mongo
        assert _covers(mongo, f"{pod}.mongo-svc.databases.svc"), mongo
    pg = _certificate(docs, "pg-server-tls")
    assert _covers(pg, "pg-rw.databases.svc") and _covers(pg, "pg-ro.databases.svc")
