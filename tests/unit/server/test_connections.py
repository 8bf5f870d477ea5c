"""Cluster connections on the Central Server: stored per environment, credentials sealed in the
vault and never returned, logged or audited; opened for one job into a private directory; a
deployment without one is not planned (never the server's local engine by default)."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi.testclient import TestClient
from sqlalchemy import select

from attonix.server import connections, jobs, vault
from attonix.server.audit import Actor
from attonix.server.context import ServerContext
from attonix.server.db.models import AuditEntry, ClusterConnection
from attonix.server.security import pki
from attonix.server.security.envelope import KeyRing

V = "/api/v1"
SHOP = Path(__file__).resolve().parents[2] / "fixtures" / "deploy" / "shop.yaml"


def _tls() -> dict[str, str]:
    ca = pki.create_ca(common_name="engines", key_algorithm="ecdsa-p256", validity_days=30)
    client = pki.issue_certificate(
        ca, common_name="attonix", dns_names=["127.0.0.1"], validity_days=30
    )
    return {
        "ca": ca.cert_pem.decode(),
        "cert": client.cert_pem.decode(),
        "key": client.key_pem.decode(),
    }


@pytest.fixture
def env(client: TestClient, admin: Any) -> str:
    r = client.post(f"{V}/environments", headers=admin.headers, json={"name": "prod"})
    assert r.status_code == 201, r.text
    return "prod"


def test_credentials_are_sealed_and_never_returned_logged_or_audited(
    ctx: ServerContext,
    client: TestClient,
    admin: Any,
    env: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tls = _tls()
    caplog.set_level(logging.DEBUG)
    url = f"{V}/environments/{env}/connections/swarm-edge"
    body = {"kind": "docker", "host": "tcp://10.77.0.11:2376", "tls": tls}
    r = client.put(url, headers=admin.headers, json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["endpoint"] == "tcp://10.77.0.11:2376 (mutual TLS)"
    assert out["credential_keys"] == ["tls.ca", "tls.cert", "tls.key"] and out["version"] == 1
    assert out["settings"] == {"host": "tcp://10.77.0.11:2376", "tls": True}
    again = client.put(url, headers=admin.headers, json=body).json()
    assert again["version"] == 2
    listed = client.get(f"{V}/environments/{env}/connections", headers=admin.headers)
    one = client.get(url, headers=admin.headers)
    key_body = tls["key"].splitlines()[1]  # a line of the private key's base64
    for text in (r.text, listed.text, one.text, caplog.text):
        assert key_body not in text and "PRIVATE KEY" not in text
    with ctx.db.session() as s:
        row = s.execute(select(ClusterConnection)).scalar_one()
        assert key_body.encode() not in row.sealed and b"PRIVATE" not in row.sealed
        details = [json.dumps(a.detail) for a in s.execute(select(AuditEntry)).scalars()]
        actions = [a.action for a in s.execute(select(AuditEntry)).scalars()]
    assert actions.count("connection.put") == 2
    assert not [d for d in details if key_body in d or "BEGIN" in d]
    gone = client.delete(url, headers=admin.headers)
    assert gone.status_code == 204
    assert client.get(url, headers=admin.headers).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "docker", "host": "tcp://10.0.0.1:2376"}, "a TCP endpoint needs mutual TLS"),
        ({"kind": "docker", "host": "ssh://root@10.0.0.1"}, "must start with unix:// or tcp://"),
        (
            {
                "kind": "docker",
                "host": "tcp://10.0.0.1:2376",
                "tls": {"ca": "x", "cert": "y", "key": "z"},
            },
            "tls.ca: not a PEM certificate",
        ),
        (
            {"kind": "podman", "url": "ssh://root@10.0.0.5:22/run/podman/podman.sock"},
            "an SSH endpoint needs a private key",
        ),
        (
            {
                "kind": "kubernetes",
                "kubeconfig": "contexts: [{name: a, context: {}}]",
                "context": "b",
            },
            "no context 'b' in the kubeconfig",
        ),
    ],
)
def test_a_connection_that_cannot_work_is_refused_naming_the_field(
    client: TestClient, admin: Any, env: str, body: dict[str, Any], field: str
) -> None:
    r = client.put(f"{V}/environments/{env}/connections/c1", headers=admin.headers, json=body)
    assert r.status_code == 422, r.text
    assert field in r.json()["detail"] and "'c1'" in r.json()["detail"]


def test_an_opened_connection_lives_in_a_private_directory_for_one_block(
    ctx: ServerContext, env: str
) -> None:
    tls = _tls()
    connections.put_connection(
        ctx,
        environment=env,
        cluster="swarm-edge",
        body=connections.DockerIn(
            kind="docker", host="tcp://10.77.0.11:2376", tls=connections.TlsIn(**tls)
        ),
        actor=Actor("test"),
    )
    with connections.opened(ctx, environment=env, cluster="swarm-edge", target="swarm") as conn:
        files = conn.connection.docker.tls  # type: ignore[union-attr]
        assert files is not None and conn.version == 1
        assert files.key.read_text() == tls["key"] and files.ca.read_text() == tls["ca"]
        assert stat.S_IMODE(files.key.stat().st_mode) == 0o600
        assert stat.S_IMODE(files.key.parent.stat().st_mode) == 0o700
        assert conn.endpoint == "tcp://10.77.0.11:2376 (mutual TLS)"
    assert not files.key.exists() and not files.key.parent.exists()
    wrong_kind = connections.opened(ctx, environment=env, cluster="swarm-edge", target="podman")
    with pytest.raises(connections.NoConnection, match="is a podman cluster, but its stored"):
        wrong_kind.__enter__()
    missing = connections.opened(ctx, environment=env, cluster="other", target="swarm")
    with pytest.raises(connections.NoConnection, match="'other' has no connection in environment"):
        missing.__enter__()


def test_key_rotation_rewraps_connection_credentials(ctx: ServerContext, env: str) -> None:
    connections.put_connection(
        ctx,
        environment=env,
        cluster="tools",
        body=connections.KubernetesIn(
            kind="kubernetes",
            kubeconfig="current-context: a\ncontexts: [{name: a, context: {cluster: k}}]\n"
            "clusters: [{name: k, cluster: {server: 'https://10.0.0.9:6443'}}]\n",
        ),
        actor=Actor("test"),
    )
    new_line = KeyRing.generate_line("next")
    path = ctx.settings.data_dir / "keys"
    path.write_text(ctx.settings.kek.get_secret_value() + "\n" + new_line + "\n")  # type: ignore[union-attr]
    path.chmod(0o600)
    ring = KeyRing.from_settings(kek=None, kek_file=str(path))
    result = vault.rotate(ctx, actor=Actor("test"), keyring=ring)
    assert result.rewrapped == 1 and result.active_kek == "next"
    ctx.__dict__["keyring"] = KeyRing.from_settings(kek=new_line, kek_file=None)  # new key only
    with connections.opened(ctx, environment=env, cluster="tools", target="kubernetes") as conn:
        kube = conn.connection.kubernetes
        assert kube is not None and kube.context == "a"
        assert "10.0.0.9:6443" in kube.kubeconfig.read_text()  # type: ignore[union-attr]
        assert conn.endpoint == "https://10.0.0.9:6443 (kubeconfig context a)"


def test_a_deployment_without_a_connection_fails_its_plan_naming_the_cluster(
    ctx: ServerContext, client: TestClient, admin: Any, env: str
) -> None:
    up = client.post(
        f"{V}/environments/{env}/blueprints",
        headers=admin.headers,
        json={"source": SHOP.read_text()},
    )
    assert up.status_code == 201, up.text
    r = client.post(
        f"{V}/environments/{env}/deployments",
        headers=admin.headers,
        json={"version": 1, "target": "swarm"},
    )
    dep = r.json()["id"]
    assert jobs.run_one(ctx, "w") is not None
    got = client.get(f"{V}/environments/{env}/deployments/{dep}", headers=admin.headers).json()
    assert got["status"] == "plan_failed"
    assert got["plan"]["error"].startswith(
        "cluster 'swarm-test' has no connection in environment 'prod'"
    )
    assert "PUT /api/v1/environments/prod/connections/swarm-test" in got["plan"]["error"]


def test_a_check_of_a_socket_that_is_not_there_names_the_cluster(
    client: TestClient, admin: Any, env: str, tmp_path: Path
) -> None:
    url = f"{V}/environments/{env}/connections/podman-tools"
    body = {"kind": "podman", "url": f"unix://{tmp_path}/none.sock"}
    assert client.put(url, headers=admin.headers, json=body).status_code == 200
    r = client.post(f"{url}/check", headers=admin.headers)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["ok"] is False
    assert out["message"].startswith(f"cluster 'podman-tools': cannot reach unix://{tmp_path}")


def test_the_servers_own_podman_is_a_connection_named_explicitly(
    ctx: ServerContext, client: TestClient, admin: Any, env: str
) -> None:
    url = f"{V}/environments/{env}/connections/podman-tools"
    r = client.put(url, headers=admin.headers, json={"kind": "podman", "url": "local"})
    assert r.status_code == 200, r.text
    assert r.json()["endpoint"] == "the Podman of the Central Server's own machine"
    assert r.json()["credential_keys"] == []
    with connections.opened(ctx, environment=env, cluster="podman-tools", target="podman") as c:
        assert c.connection is None and c.endpoint == r.json()["endpoint"]


def test_a_vcenter_password_is_opened_into_a_private_file_only(
    ctx: ServerContext, client: TestClient, admin: Any, env: str
) -> None:
    url = f"{V}/environments/{env}/connections/vc-main"
    body = {
        "kind": "vsphere",
        "url": "https://vc.example.test/sdk",
        "username": "attonix",
        "password": "vc-pass-0d5e-never-shown",
    }
    r = client.put(url, headers=admin.headers, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["endpoint"] == "https://vc.example.test/sdk as attonix"
    assert "vc-pass-0d5e" not in r.text + client.get(url, headers=admin.headers).text
    with connections.opened(ctx, environment=env, cluster="vc-main", target="vsphere") as c:
        vc = c.connection.vsphere  # type: ignore[union-attr]
        assert vc is not None and vc.password_env is None and vc.verify_tls is True
        assert vc.password_file is not None
        assert vc.password_file.read_text().strip() == "vc-pass-0d5e-never-shown"
    assert not vc.password_file.exists()
    plain = client.put(url, headers=admin.headers, json={**body, "url": "http://vc.example.test"})
    assert plain.status_code == 422 and "must start with https://" in plain.json()["detail"]


def test_a_swarm_with_several_managers_is_checked_in_the_stated_order(
    ctx: ServerContext, client: TestClient, admin: Any, env: str, tmp_path: Path
) -> None:
    url = f"{V}/environments/{env}/connections/swarm-test"
    first, second = f"unix://{tmp_path}/m1.sock", f"unix://{tmp_path}/m2.sock"
    body = {"kind": "docker", "host": first, "fallback_hosts": [second]}
    r = client.put(url, headers=admin.headers, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["endpoint"] == f"{first}, then {second}"
    assert r.json()["settings"]["fallback_hosts"] == [second]
    with connections.opened(ctx, environment=env, cluster="swarm-test", target="swarm") as c:
        assert c.connection is not None and c.connection.docker is not None
        assert c.connection.docker.hosts == (first, second)
    out = client.post(f"{url}/check", headers=admin.headers).json()
    assert out["ok"] is False
    assert out["message"].startswith("cluster 'swarm-test': none of its 2 manager endpoints")
    # The second manager listens: the check passes through it.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(f"{tmp_path}/m2.sock")
        sock.listen(1)
        assert client.post(f"{url}/check", headers=admin.headers).json()["ok"] is True


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        (["tcp://10.0.0.2:2376"], "fallback_hosts.0: must start with unix:// like host"),
        (["unix:///run/a.sock"], "fallback_hosts: lists an endpoint twice"),
    ],
)
def test_fallback_managers_are_reached_like_the_first(
    client: TestClient, admin: Any, env: str, extra: list[str], field: str
) -> None:
    body = {"kind": "docker", "host": "unix:///run/a.sock", "fallback_hosts": extra}
    r = client.put(f"{V}/environments/{env}/connections/s", headers=admin.headers, json=body)
    assert r.status_code == 422, r.text
    assert f"Connection 's': {field}" in r.json()["detail"]


def _clouds(port: int) -> str:
    return f"""
clouds:
  prod:
    auth:
      auth_url: https://127.0.0.1:{port}/v3
      username: attonix
      password: os-pw-61c0-never-shown
      project_name: dc
    region_name: RegionOne
  lab:
    auth: {{auth_url: "https://lab:5000/v3", password: lab-pw-never-stored}}
"""


def test_an_openstack_cloud_keeps_only_its_own_sealed_entry(
    ctx: ServerContext,
    client: TestClient,
    admin: Any,
    env: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    keystone = socket.create_server(("127.0.0.1", 0))
    port = keystone.getsockname()[1]
    url = f"{V}/environments/{env}/connections/openstack-main"
    body = {"kind": "openstack", "cloud": "prod", "clouds_yaml": _clouds(port)}
    r = client.put(url, headers=admin.headers, json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["endpoint"] == (
        f"clouds.yaml entry prod (https://127.0.0.1:{port}/v3, region RegionOne)"
    )
    assert out["credential_keys"] == ["clouds_yaml"]
    listed = client.get(f"{V}/environments/{env}/connections", headers=admin.headers).text
    for text in (r.text, listed, caplog.text):
        assert "os-pw-61c0" not in text and "lab-pw" not in text
    with connections.opened(
        ctx, environment=env, cluster="openstack-main", target="openstack"
    ) as c:
        assert c.connection is not None and c.connection.openstack is not None
        path = c.connection.openstack.clouds_file
        assert path is not None and stat.S_IMODE(path.stat().st_mode) == 0o600
        stored = path.read_text()
        assert "os-pw-61c0-never-shown" in stored  # for the OpenStack clients only
        assert "lab" not in stored  # another cloud's credentials are not kept
    assert not path.exists()
    with keystone:
        assert client.post(f"{url}/check", headers=admin.headers).json()["ok"] is True
    check = client.post(f"{url}/check", headers=admin.headers).json()
    assert check["ok"] is False
    assert check["message"].startswith(
        f"cluster 'openstack-main': cannot reach https://127.0.0.1:{port}"
    )


@pytest.mark.parametrize(
    ("cloud", "text", "message"),
    [
        ("nope", _clouds(5000), "clouds_yaml: no cloud 'nope'"),
        ("prod", "clouds: [1]", "not a clouds.yaml"),
        ("prod", "clouds: {prod: {region_name: R}}", "cloud 'prod' has no auth.auth_url"),
    ],
)
def test_a_clouds_yaml_without_the_cloud_is_refused(
    client: TestClient, admin: Any, env: str, cloud: str, text: str, message: str
) -> None:
    body = {"kind": "openstack", "cloud": cloud, "clouds_yaml": text}
    r = client.put(f"{V}/environments/{env}/connections/os", headers=admin.headers, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"].startswith("Connection 'os': clouds_yaml: ")
    assert message in r.json()["detail"]
    assert "never-shown" not in r.text


PODMAN2 = Path(__file__).resolve().parents[2] / "fixtures" / "deploy" / "podman2.yaml"


def _ssh_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()


def test_a_podman_cluster_of_several_hosts_stores_one_sealed_connection_per_host(
    ctx: ServerContext,
    client: TestClient,
    admin: Any,
    env: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    key = _ssh_key()
    key_line = key.splitlines()[2]
    known = "[127.0.0.1]:1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHpinnedhostkeyonlyfortests"
    url = f"{V}/environments/{env}/connections/podman-two"
    body = {
        "kind": "podman",
        "hosts": {
            "attx-pm2": {
                "url": "ssh://root@127.0.0.1:1/run/podman/podman.sock",
                "ssh_key": key,
                "known_hosts": known,
            },
            "attx-pm1": {"url": f"unix://{tmp_path}/pm1.sock"},
        },
    }
    r = client.put(url, headers=admin.headers, json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["endpoints"] == [
        f"attx-pm1: unix://{tmp_path}/pm1.sock",
        "attx-pm2: ssh://root@127.0.0.1:1/run/podman/podman.sock",
    ]
    assert out["credential_keys"] == ["hosts.attx-pm2.ssh_key"]
    assert out["settings"]["hosts"]["attx-pm2"]["known_hosts"] == known
    listed = client.get(f"{V}/environments/{env}/connections", headers=admin.headers).text
    with ctx.db.session() as s:
        row = s.execute(select(ClusterConnection)).scalar_one()
        assert key_line.encode() not in row.sealed
        details = " ".join(json.dumps(a.detail) for a in s.execute(select(AuditEntry)).scalars())
    for text in (r.text, listed, caplog.text, details):
        assert key_line not in text and "PRIVATE KEY" not in text
    with connections.opened(ctx, environment=env, cluster="podman-two", target="podman") as c:
        hosts = c.connection.podman.hosts  # type: ignore[union-attr]
        assert sorted(hosts) == ["attx-pm1", "attx-pm2"]
        assert hosts["attx-pm1"].identity is None
        identity = hosts["attx-pm2"].identity
        assert identity is not None and identity.read_text() == key
        assert stat.S_IMODE(identity.stat().st_mode) == 0o600
        pinned = hosts["attx-pm2"].known_hosts
        assert pinned is not None and pinned.read_text().strip() == known
        assert c.endpoints == tuple(out["endpoints"])
    assert not identity.exists()
    # The first host answers; the second is unreachable: the check names cluster and host.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(f"{tmp_path}/pm1.sock")
        sock.listen(1)
        check = client.post(f"{url}/check", headers=admin.headers).json()
    assert check["ok"] is False
    assert check["message"].startswith(
        "cluster 'podman-two', host 'attx-pm2': cannot reach ssh://127.0.0.1:1"
    ), check
    assert key_line not in json.dumps(check)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (
            {"kind": "podman", "url": "unix:///run/a.sock", "hosts": {"a": {"url": "unix:///b"}}},
            "url: give either url (one engine) or hosts",
        ),
        ({"kind": "podman"}, "url: give either url (one engine) or hosts"),
        (
            {"kind": "podman", "hosts": {"pod-a": {"url": "ssh://root@10.0.0.5/run/p.sock"}}},
            "hosts.pod-a.ssh_key: an SSH endpoint needs a private key",
        ),
        (
            {"kind": "podman", "hosts": {"pod-a": {"url": "local"}}},
            "hosts.pod-a.url: 'local' cannot stand for one host of several",
        ),
        (
            {
                "kind": "podman",
                "hosts": {
                    "pod-a": {
                        "url": "ssh://root@10.0.0.5/run/p.sock",
                        "ssh_key": "not a key",
                        "known_hosts": "10.0.0.5 ssh-ed25519 AAAA",
                    }
                },
            },
            "hosts.pod-a.ssh_key: not an unencrypted OpenSSH or PEM private key",
        ),
    ],
)
def test_a_per_host_podman_connection_that_cannot_work_is_refused_naming_the_host(
    client: TestClient, admin: Any, env: str, body: dict[str, Any], field: str
) -> None:
    r = client.put(f"{V}/environments/{env}/connections/pods", headers=admin.headers, json=body)
    assert r.status_code == 422, r.text
    assert f"Connection 'pods': {field}" in r.json()["detail"]


@pytest.fixture
def podman_service(tmp_path: Path) -> Iterator[str]:
    """A Podman API service of this machine's Podman on a socket of its own."""
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (scripts/setup.d/20-podman.sh)")
    sock = tmp_path / "podman.sock"
    proc = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{sock}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.1)
        yield f"unix://{sock}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_deployment_to_podman_hosts_plans_through_each_hosts_connection(
    ctx: ServerContext,
    client: TestClient,
    admin: Any,
    env: str,
    tmp_path: Path,
    podman_service: str,
) -> None:
    up = client.post(
        f"{V}/environments/{env}/blueprints",
        headers=admin.headers,
        json={"source": PODMAN2.read_text()},
    )
    assert up.status_code == 201, up.text
    url = f"{V}/environments/{env}/connections/podman-two"
    gone = f"unix://{tmp_path}/gone.sock"
    hosts = {"attx-pm1": {"url": podman_service}, "attx-pm2": {"url": gone}}
    assert client.put(
        url, headers=admin.headers, json={"kind": "podman", "hosts": hosts}
    ).is_success

    def plan() -> dict[str, Any]:
        r = client.post(
            f"{V}/environments/{env}/deployments",
            headers=admin.headers,
            json={"version": 1, "target": "podman"},
        )
        assert r.status_code == 202, r.text
        assert jobs.run_one(ctx, "w") is not None
        dep = f"{V}/environments/{env}/deployments/{r.json()['id']}"
        got: dict[str, Any] = client.get(dep, headers=admin.headers).json()
        return got

    # One host's engine is not there: the plan fails naming the cluster and that host.
    failed = plan()
    assert failed["status"] == "plan_failed"
    assert failed["plan"]["error"].startswith(
        f"cluster 'podman-two', host 'attx-pm2': cannot reach {gone}"
    ), failed["plan"]["error"]
    # Both hosts reachable (here: the same engine): the approver sees one line per host.
    hosts["attx-pm2"]["url"] = podman_service
    assert client.put(
        url, headers=admin.headers, json={"kind": "podman", "hosts": hosts}
    ).is_success
    planned = plan()
    assert planned["status"] == "awaiting_approval", planned["plan"]
    assert planned["cluster"] == "podman-two"
    assert planned["plan"]["endpoints"] == [
        f"attx-pm1: {podman_service}",
        f"attx-pm2: {podman_service}",
    ]
    assert planned["plan"]["connection_version"] == 2
    names = {c["name"] for c in planned["plan"]["changes"]}
    assert any(n.endswith("@attx-pm1") for n in names), names
    assert any(n.endswith("@attx-pm2") for n in names), names
