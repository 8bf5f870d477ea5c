"""A blueprint that deploys the Central Server itself renders it with every setting a
replicated server must be given (``Settings`` marks them), from mounted secrets and never a
secret value, so that the rendered server would really start."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from tests.unit.render._sites import site, text

from attonix.blueprint import BlueprintInvalid, load_file
from attonix.blueprint.loader import load_bytes
from attonix.render import render
from attonix.server.security.envelope import KeyRing
from attonix.server.settings import Settings

CREDS = "    - {name: db-creds, keys: [username, password]}\n"
MORE = "".join(f"    - {{name: {n}}}\n" for n in ("kek", "signing", "audit"))
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "attonixcorp.yaml"


def _deployed() -> list[str]:
    """The environment variables of every setting the server marks as deployed."""
    return [
        f"ATTONIX_{name.upper()}"
        for name, field in Settings.model_fields.items()
        if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("deployed")
    ]


def _kube_pod(name: str) -> dict[str, Any]:
    bp = load_file(EXAMPLE).blueprint
    for art in render(bp, "kubernetes"):
        doc = art.content
        kind = doc.get("kind") if isinstance(doc, dict) else None
        if kind in ("Deployment", "StatefulSet") and doc["metadata"]["name"] == name:
            return doc["spec"]["template"]["spec"]  # type: ignore[no-any-return]
    raise AssertionError(f"no workload {name}")


def _materialize(
    tmp: Path, env: dict[str, str], files: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Settings read from the rendered environment, as the server reads them, with each
    mounted file recreated under ``tmp`` (``files`` maps the rendered path to a value, as the
    engine would mount it)."""
    for path, value in files.items():
        target = tmp / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(value + "\n")
        target.chmod(0o440)  # as Kubernetes mounts a secret for a non-root pod (fsGroup)
    for name, value in env.items():
        if name.startswith("ATTONIX_"):
            moved = str(tmp / value.lstrip("/")) if value.startswith("/") else value
            monkeypatch.setenv(name, moved)
    return Settings(_env_file=None)


@pytest.mark.parametrize("name", ["attonix-server", "attonix-worker"])
def test_the_rendered_central_server_has_every_deployed_setting_and_would_start(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pod = _kube_pod(name)
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    wanted = _deployed()
    assert len(wanted) >= 5, wanted  # the marker is really on the settings
    for var in wanted:
        assert env.get(var), f"{name} lacks {var}"
    # No secret value: the URL has no password, every secret is a file on a secret volume.
    assert make_url(env["ATTONIX_DATABASE_URL"]).password is None
    assert not any("valueFrom" in e for e in container["env"] if e["name"] in wanted)
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
    for var in ("ATTONIX_KEK_FILE", "ATTONIX_SIGNING_KEY_FILE", "ATTONIX_AUDIT_KEY_FILE"):
        folder, _, key = env[var].rpartition("/")
        volume = mounts[folder]["secret"]
        assert key in {"value"} and volume["secretName"].startswith("attonix-"), (var, volume)
    folder = env["ATTONIX_DATABASE_CREDENTIALS_DIR"]
    assert mounts[folder]["secret"]["secretName"] == f"pg-main.{name}"  # its own login
    # The data directory is writable (the root filesystem is read-only).
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert "emptyDir" in mounts[env["ATTONIX_DATA_DIR"]]
    # The server reads its settings from those files.
    audit = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    files = {
        env["ATTONIX_KEK_FILE"]: KeyRing.generate_line(),
        env["ATTONIX_SIGNING_KEY_FILE"]: "signing-key-from-the-vault",
        env["ATTONIX_AUDIT_KEY_FILE"]: audit,
        f"{folder}/username": "attonix",
        f"{folder}/password": "p@ss/word:1",
    }
    settings = _materialize(tmp_path, env, files, monkeypatch)
    url = make_url(settings.effective_database_url())
    assert not settings.embedded and url.drivername == "postgresql+psycopg"
    assert (url.username, url.password, url.database) == ("attonix", "p@ss/word:1", "attonix")
    assert url.host == "pg-main-rw.databases.svc"
    assert settings.resolve_signing_key() == "signing-key-from-the-vault"
    assert settings.resolve_audit_key() == base64.urlsafe_b64decode(audit)
    assert KeyRing.from_settings(kek=None, kek_file=str(settings.kek_path())).ids
    if name == "attonix-server":
        # Behind the ingress: the console may call it, TLS at the edge. The console's
        # browsers call it through the ingress (calls_from: browser) and no pod may connect
        # directly, so the ingress pods' forwarded addresses are believed (see below).
        assert settings.cors_origins == ["https://console.attonixcorp.com"]
        assert settings.tls is True
        assert [str(p) for p in settings.trusted_proxies] == ["10.244.0.0/16"]


def test_a_central_server_on_swarm_gets_the_same_settings_from_swarm_secrets() -> None:
    source = text(
        services="""
        - {name: central, cluster: swarm, image: "localhost/attonix:1",
           ports: [{name: http, port: 8000}], databases: [state],
           secrets: [{secret: kek}, {secret: signing}, {secret: audit}],
           central_server: {database: state, kek_secret: kek, signing_key_secret: signing,
                            audit_key_secret: audit}}
        """,
        databases="""
        - {name: state, engine: postgresql, version: "16", cluster: swarm, replicas: 1,
           credentials_secret: db-creds, tls: false, backup: {enabled: false}}
        """,
    )
    bp = load_bytes(source.replace(CREDS, f"{CREDS}{MORE}"), file="site.yaml").blueprint
    (art,) = render(bp, "swarm")
    svc = art.content["services"]["central"]
    env = svc["environment"]
    for var in _deployed():
        assert env.get(var), f"central lacks {var}"
    targets = {s["target"] for s in svc["secrets"]}
    for var in ("ATTONIX_KEK_FILE", "ATTONIX_SIGNING_KEY_FILE", "ATTONIX_AUDIT_KEY_FILE"):
        assert env[var] in targets
    creds = env["ATTONIX_DATABASE_CREDENTIALS_DIR"]
    assert {f"{creds}/username", f"{creds}/password"} <= targets
    assert make_url(env["ATTONIX_DATABASE_URL"]).host == "state"
    assert {"type": "tmpfs", "target": env["ATTONIX_DATA_DIR"]}.items() <= next(
        v for v in svc["volumes"] if v["target"] == env["ATTONIX_DATA_DIR"]
    ).items()


def test_a_central_server_without_its_secrets_mounted_is_a_diagnostic() -> None:
    with pytest.raises(BlueprintInvalid) as info:
        site(
            services="""
            - {name: central, cluster: kube, image: "localhost/attonix:1",
               ports: [{name: http, port: 8000}], secrets: [{secret: kek}],
               central_server: {database: state, kek_secret: kek, signing_key_secret: signing,
                                audit_key_secret: audit}}
            """
        )
    found = {d.pointer: d.message for d in info.value.diagnostics if d.code == "BP024"}
    base = "services.backend[0].central_server"
    assert "not one of its databases" in found[f"{base}.database"]
    assert "not mounted" in found[f"{base}.signing_key_secret"]
    assert "not mounted" in found[f"{base}.audit_key_secret"]
    assert f"{base}.kek_secret" not in found


def _kube_central(*, caller: bool) -> tuple[dict[str, str | None], dict[str, Any]]:
    """The exposed Central Server on Kubernetes: its environment and its NetworkPolicy."""
    other = (
        """
        - {name: reporter, cluster: kube, image: "localhost/reporter:1",
           ports: [{name: http, port: 9000}], depends_on: [central]}
        """
        if caller
        else ""
    )
    source = text(
        services="""
        - {name: central, cluster: kube, image: "localhost/attonix:1",
           ports: [{name: http, port: 8000}], databases: [state],
           secrets: [{secret: kek}, {secret: signing}, {secret: audit}],
           central_server: {database: state, kek_secret: kek, signing_key_secret: signing,
                            audit_key_secret: audit},
           expose: {host: api.site.example.com}}
        """
        + other,
        databases="""
        - {name: state, engine: postgresql, version: "16", cluster: kube, replicas: 1,
           credentials_secret: db-creds, tls: false, backup: {enabled: false}}
        """,
    )
    bp = load_bytes(source.replace(CREDS, f"{CREDS}{MORE}"), file="site.yaml").blueprint
    env: dict[str, str | None] = {}
    policy: dict[str, Any] = {}
    for art in render(bp, "kubernetes"):
        doc = art.content
        if not isinstance(doc, dict) or doc.get("metadata", {}).get("name") != "central":
            continue
        if doc["kind"] == "Deployment":
            (container,) = doc["spec"]["template"]["spec"]["containers"]
            env = {e["name"]: e.get("value") for e in container["env"]}
        elif doc["kind"] == "NetworkPolicy":
            policy = doc["spec"]
    assert env and policy
    return env, policy


def test_the_pod_range_is_trusted_only_while_the_network_policy_admits_only_the_ingress() -> None:
    # X-Forwarded-For is believed from the whole pod range (the ingress controller's pods
    # have no fixed addresses): sound only because no other pod may connect at all.
    env, policy = _kube_central(caller=False)
    assert env["ATTONIX_TRUSTED_PROXIES"] == '["10.244.0.0/16"]'
    assert policy["policyTypes"][0] == "Ingress"
    assert policy["ingress"] == [
        {
            "from": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}
                    },
                    "podSelector": {},
                }
            ],
            "ports": [{"protocol": "TCP", "port": 8000}],
        }
    ]
    # A pod that may call it directly could name any client address, so nothing is trusted:
    # the clients share the ingress controller's sign-in budget instead.
    env, policy = _kube_central(caller=True)
    assert len(policy["ingress"]) == 2
    assert "ATTONIX_TRUSTED_PROXIES" not in env
