"""The rendered example: schema-valid (core kinds and CRDs), builds with kustomize, passes
Checkov, is deterministic and carries no secret values."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.shared_data import shared
from typer.testing import CliRunner

from attonix.blueprint.loader import load_file
from attonix.blueprint.model import Blueprint
from attonix.cli import app
from attonix.render import RenderError, render, write_artifacts
from attonix.render.kubernetes import validation

from ._blueprints import small

ROOT = Path(__file__).resolve().parents[4]
EXAMPLE = ROOT / "examples" / "attonixcorp.yaml"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


@pytest.fixture(scope="module")
def bp() -> Blueprint:
    return load_file(EXAMPLE).blueprint


@pytest.fixture(scope="module")
def docs(bp: Blueprint) -> list[dict[str, Any]]:
    arts = render(bp, "kubernetes", single_file=True)
    assert [a.path for a in arts] == ["k8s-prod.yaml"]
    out: list[dict[str, Any]] = arts[0].content
    return out


@pytest.fixture(scope="module")
def tree(bp: Blueprint, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("k8s")
    write_artifacts(render(bp, "kubernetes"), out)
    return out


def _find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)}"
    return found[0]


def test_example_is_valid_for_core_kinds_and_every_crd(docs: list[dict[str, Any]]) -> None:
    crds = validation.load_crds([shared("crds")])
    problems = validation.problems(docs, version="1.35", crds=crds, require_crds=False)
    assert [str(p) for p in problems] == []
    kinds = {(d["apiVersion"], d["kind"]) for d in docs}
    custom = {k for k in kinds if validation._core_validator("1.35", *k) is None}
    # every custom resource kind has a CRD schema, and was therefore checked
    assert custom <= set(crds)
    assert {k for _, k in custom} == {
        "CephCluster",
        "CephBlockPool",
        "CephObjectStore",
        "CephFilesystem",
        "ObjectBucketClaim",
        "Cluster",
        "ScheduledBackup",
        "InnoDBCluster",
        "MongoDBCommunity",
        "Certificate",
        "ClusterIssuer",
    }


@pytest.mark.parametrize("version", ["1.35", "1.36", "1.37"])
def test_small_blueprint_renders_valid_for_newest_versions(version: str) -> None:
    arts = render(small(version), "kubernetes", crd_dir=str(shared("crds")))
    assert any(a.path == "kube/kustomization.yaml" for a in arts)
    assert set(validation.supported_versions()) >= {"1.35", "1.36", "1.37"}


def test_validation_names_object_field_and_message() -> None:
    doc = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x", "namespace": "ns"},
        "spec": {"replicas": "three", "selector": {}, "template": {}},
    }
    problems = validation.problems([doc], version="1.35")
    assert any(p.path == "spec.replicas" and "three" in p.message for p in problems)
    assert str(problems[0]).startswith("Deployment ns/x: ")


def test_crd_validation_rejects_unknown_fields() -> None:
    crds = validation.load_crds([shared("crds", "cloudnative-pg")])
    doc = {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Cluster",
        "metadata": {"name": "pg", "namespace": "db"},
        "spec": {"instances": 3, "storage": {"size": "1Gi", "storagClass": "typo"}},
    }
    problems = validation.problems([doc], version="1.35", crds=crds)
    assert [(p.path, "storagClass" in p.message) for p in problems] == [("spec.storage", True)]


def test_unsupported_version_is_a_clear_error() -> None:
    with pytest.raises(RenderError) as exc:
        render(small("1.12"), "kubernetes")
    assert "no Kubernetes schemas for version 1.12" in exc.value.message
    assert "1.37" in exc.value.hint


def test_kustomize_builds_every_cluster(tree: Path) -> None:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is required"
    clusters = [p.parent for p in tree.glob("*/kustomization.yaml")]
    assert [c.name for c in clusters] == ["k8s-prod"]
    for c in clusters:
        built = subprocess.run(
            [kubectl, "kustomize", str(c)], capture_output=True, text=True, check=True
        ).stdout
        kinds = {d["kind"] for d in yaml.safe_load_all(built) if d}
        assert {"Namespace", "Deployment", "StatefulSet", "NetworkPolicy", "CephCluster"} <= kinds


def test_output_is_deterministic_and_json_matches_yaml(bp: Blueprint) -> None:
    a = [(x.path, x.text()) for x in render(bp, "kubernetes")]
    b = [(x.path, x.text()) for x in render(bp, "kubernetes")]
    assert a == b
    js = {x.path: x for x in render(bp, "kubernetes", format="json")}
    dep = "k8s-prod/attonix/deployment-attonix-server"
    assert json.loads(js[dep + ".json"].text()) == yaml.safe_load(dict(a)[dep + ".yaml"])
    assert all("&id" not in text for _, text in a)


def test_no_secret_values_only_references(docs: list[dict[str, Any]]) -> None:
    assert not [d for d in docs if d["kind"] == "Secret"]
    text = yaml.safe_dump_all(docs)
    assert "stringData" not in text
    assert "secretKeyRef" not in text  # credentials are files, not env values
    server = _find(docs, "Deployment", "attonix-server")
    vols = {v["name"]: v for v in server["spec"]["template"]["spec"]["volumes"]}
    # The service's own login (``<database>.<service>``), never the owner's credentials.
    assert vols["db-pg-main"]["secret"] == {
        "secretName": "pg-main.attonix-server",
        "defaultMode": 288,
    }


def _pod_secrets(doc: dict[str, Any]) -> set[str]:
    return {
        v["secret"]["secretName"]
        for v in doc["spec"]["template"]["spec"]["volumes"]
        if "secret" in v
    }


def test_each_database_consumer_has_its_own_login(
    bp: Blueprint, docs: list[dict[str, Any]]
) -> None:
    owners = {db.credentials_secret for db in bp.databases}
    pods = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]
    consumers = [s for s in bp.services.backend if s.databases]
    assert consumers
    for svc in consumers:
        doc = _find(pods, "Deployment" if not svc.volumes else "StatefulSet", svc.name)
        mounted = _pod_secrets(doc)
        assert {f"{db}.{svc.name}" for db in svc.databases} <= mounted
        # only its own logins: no owner secret, no other service's login
        assert not mounted & owners
        assert not {m for m in mounted if "." in m and not m.endswith(f".{svc.name}")}
    # CloudNativePG: the rw group and one login role per consumer, none privileged.
    pg = _find(docs, "Cluster", "pg-main")["spec"]
    roles = {r["name"]: r for r in pg["managed"]["roles"]}
    group = roles.pop("attonix_rw")
    assert group["login"] is False and "passwordSecret" not in group
    users = [s.name for s in consumers if "pg-main" in s.databases]
    assert users
    assert {r["passwordSecret"]["name"] for r in roles.values()} == {f"pg-main.{u}" for u in users}
    for role in roles.values():
        assert role["login"] is True and role["inRoles"] == ["attonix_rw"]
        for attr in ("superuser", "createrole", "createdb", "replication", "bypassrls"):
            assert role[attr] is False, (role["name"], attr)
    assert pg["bootstrap"]["initdb"]["secret"] == {"name": "pg-main-credentials"}
    sql = "\n".join(pg["bootstrap"]["initdb"]["postInitApplicationSQL"])
    assert 'CREATE ROLE "attonix_rw" NOLOGIN' in sql
    assert 'FOR ROLE "attonix" IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE' in sql
    # MongoDB: one user per consumer, read/write on the one database, own password secret.
    mongo = _find(docs, "MongoDBCommunity", "mongo-events")["spec"]
    mongo_users = [s.name for s in consumers if "mongo-events" in s.databases]
    assert mongo_users
    for name in mongo_users:
        (user,) = [u for u in mongo["users"] if u["name"] == name]
        assert user["passwordSecretRef"] == {"name": f"mongo-events.{name}", "key": "password"}
        assert user["roles"] == [{"name": "readWrite", "db": mongo["users"][0]["roles"][0]["db"]}]


def test_consumer_logins_are_secret_objects_in_both_namespaces(bp: Blueprint) -> None:
    from attonix.render.kubernetes import rendered

    objs = set(rendered(bp).states["k8s-prod"].secret_objects)
    # the role's passwordSecret beside the Cluster, the mount beside the pods
    assert ("databases", "pg-main.attonix-server") in {(o.namespace, o.secret) for o in objs}
    assert ("attonix", "pg-main.attonix-server") in {(o.namespace, o.secret) for o in objs}


def test_workload_objects(bp: Blueprint, docs: list[dict[str, Any]]) -> None:
    ns = _find(docs, "Namespace", "attonix")["metadata"]["labels"]
    assert ns["pod-security.kubernetes.io/enforce"] == "restricted"
    assert ns["pod-security.kubernetes.io/warn"] == "restricted"
    sts = _find(docs, "StatefulSet", "analytics-api")
    claim = sts["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["storageClassName"] == "ceph-files"
    assert claim["spec"]["resources"]["requests"]["storage"] == "50Gi"
    hpa = _find(docs, "HorizontalPodAutoscaler", "orders-api")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 20)
    assert hpa["scaleTargetRef"]["kind"] == "Deployment"
    ing = _find(docs, "Ingress", "attonix-console")
    assert ing["spec"]["ingressClassName"] == "nginx"
    assert ing["spec"]["tls"] == [
        {"hosts": ["console.attonixcorp.com"], "secretName": "attonix-console-public-tls"}
    ]
    # The cluster's ingress allows the header: the console's Ingress sends its policy.
    headers = _find(docs, "ConfigMap", "attonix-console-response-headers")
    assert headers["metadata"]["namespace"] == ing["metadata"]["namespace"] == "attonix-web"
    assert headers["data"] == {
        "Content-Security-Policy": bp.services.frontend[0].content_security_policy
    }
    assert ing["metadata"]["annotations"]["nginx.ingress.kubernetes.io/custom-headers"] == (
        "attonix-web/attonix-console-response-headers"
    )
    # A backend service's Ingress sets no response headers.
    api = _find(docs, "Ingress", "attonix-server")["metadata"]["annotations"]
    assert "nginx.ingress.kubernetes.io/custom-headers" not in api
    cert = _find(docs, "Certificate", "attonix-console-public-tls")["spec"]
    assert cert["issuerRef"]["name"] == "acme" and cert["dnsNames"] == ["console.attonixcorp.com"]
    pdb = _find(docs, "PodDisruptionBudget", "attonix-worker")["spec"]
    assert pdb == {
        "maxUnavailable": 1,
        "selector": {
            "matchLabels": {
                "app.kubernetes.io/name": "attonix-worker",
                "app.kubernetes.io/instance": "attonixcorp-attonix-worker",
            }
        },
    }
    env = {
        e["name"]: e.get("value")
        for e in _find(docs, "Deployment", "orders-api")["spec"]["template"]["spec"]["containers"][
            0
        ]["env"]
    }
    assert env["MYSQL_APPS_HOST"] == "mysql-apps.databases.svc"
    assert env["MYSQL_APPS_PORT"] == "3306"
    assert env["MYSQL_APPS_DATABASE"] == "orders"


def test_storage_and_databases(docs: list[dict[str, Any]]) -> None:
    ceph = _find(docs, "CephCluster", "ceph-main")["spec"]
    assert ceph["mon"]["count"] == 3 and ceph["mgr"]["count"] == 2
    assert ceph["storage"]["config"] == {"encryptedDevice": "true"}
    assert ceph["storage"]["nodes"][0] == {
        "name": "wk-a1",
        "devices": [{"name": "sdb"}, {"name": "sdc"}],
    }
    assert ceph["network"]["connections"]["encryption"] == {"enabled": True}
    pool = _find(docs, "CephBlockPool", "ceph-block")["spec"]
    assert pool["failureDomain"] == "zone" and pool["replicated"]["size"] == 3
    sc = _find(docs, "StorageClass", "ceph-block")
    assert sc["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    pg = _find(docs, "Cluster", "pg-main")["spec"]
    assert pg["instances"] == 3
    assert pg["postgresql"]["synchronous"]["number"] == 1
    assert pg["storage"] == {"size": "200Gi", "storageClass": "ceph-block"}
    assert pg["affinity"]["topologyKey"] == "topology.kubernetes.io/zone"
    s3 = pg["backup"]["barmanObjectStore"]
    assert s3["s3Credentials"]["accessKeyId"] == {
        "name": "pg-main-backups",
        "key": "AWS_ACCESS_KEY_ID",
    }
    assert _find(docs, "ScheduledBackup", "pg-main")["spec"]["cluster"] == {"name": "pg-main"}
    my = _find(docs, "InnoDBCluster", "mysql-apps")["spec"]
    assert my["instances"] == 3 and my["version"] == "8.4.0"
    mongo = _find(docs, "MongoDBCommunity", "mongo-events")["spec"]
    assert mongo["members"] == 3 and mongo["security"]["tls"]["enabled"] is True
    ext = _find(docs, "Service", "analytics")
    assert ext["metadata"]["namespace"] == "analytics"
    assert ext["spec"]["externalName"] == "p-attonix-analytics.pg.biganimal.io"


def test_rbac_mapping() -> None:
    arts = render(small(), "kubernetes", single_file=True)
    docs = arts[0].content
    roles = {
        (d["metadata"]["namespace"], d["metadata"]["name"]) for d in docs if d["kind"] == "Role"
    }
    # only the binding for this environment (prod) applies; admin is for staging only
    assert roles == {(ns, "attonix-developer") for ns in ("app", "other", "web")}
    rb = _find(
        [d for d in docs if d["metadata"].get("namespace") == "app"],
        "RoleBinding",
        "attonix-developer",
    )
    assert rb["subjects"] == [
        {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "attonix:devs"},
        {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "erin"},
    ]
    role = _find(
        [d for d in docs if d["metadata"].get("namespace") == "app"], "Role", "attonix-developer"
    )
    verbs = {v for r in role["rules"] for v in r["verbs"]}
    assert verbs == {"get", "list", "watch"}
    assert all("secrets" not in r["resources"] for r in role["rules"])


@pytest.mark.integration
def test_checkov_finds_nothing(tree: Path) -> None:
    assert CHECKOV.exists(), "run scripts/setup.d/25-checkov.sh"
    proc = subprocess.run(
        [
            str(CHECKOV),
            "--config-file",
            str(ROOT / ".checkov.yaml"),
            "-d",
            str(tree),
            "-o",
            "json",
            "--compact",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=tree,
    )
    report = json.loads(proc.stdout)
    report = report[0] if isinstance(report, list) else report
    failed = [(f["check_id"], f["resource"]) for f in report["results"]["failed_checks"]]
    assert failed == []
    assert report["summary"]["passed"] > 500
    assert report["summary"]["parsing_errors"] == 0
    # skip-check drops a check entirely; the only one is documented in .checkov.yaml
    ran = {c["check_id"] for c in report["results"]["passed_checks"]}
    assert "CKV_K8S_43" not in ran and {"CKV_K8S_20", "CKV_K8S_22", "CKV_K8S_38"} <= ran


def test_cli_writes_tree_and_prunes(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "out"
    stale = out / "k8s-prod" / "old.yaml"
    res = runner.invoke(
        app, ["render", str(EXAMPLE), "--target", "kubernetes", "--output-dir", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "wrote 120 files" in res.output and "k8s-prod" in res.output
    res = runner.invoke(app, ["render", str(EXAMPLE), "-t", "k8s", "--output-dir", str(out)])
    assert res.exit_code == 0, res.output
    assert "wrote 0 of 120 files" in res.output and "(120 unchanged)" in res.output
    stale.write_text("x")
    manifest = json.loads((out / ".attonix-manifest.json").read_text())
    manifest["targets"]["kubernetes"].append("k8s-prod/old.yaml")
    (out / ".attonix-manifest.json").write_text(json.dumps(manifest))
    res = runner.invoke(app, ["render", str(EXAMPLE), "-t", "k8s", "--output-dir", str(out)])
    assert res.exit_code == 0 and not stale.exists()


def test_cli_stdout_and_errors() -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["render", str(EXAMPLE), "-t", "kubernetes", "--output-dir", "-"])
    assert res.exit_code == 0
    docs = [d for d in yaml.safe_load_all(res.stdout) if d]
    assert docs[0]["kind"] == "Namespace" and len(docs) == 118
    res = runner.invoke(app, ["render", str(EXAMPLE), "-t", "nope"])
    assert res.exit_code == 2  # a usage error
    assert "unknown target 'nope'" in res.output and "kubernetes" in res.output
