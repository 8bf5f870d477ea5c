"""Cluster connections: the file's shape and errors, and the probe that tells an unreachable
engine, a wrong server certificate and a refused client certificate apart — against a real
mutual-TLS listener on loopback, with certificates from the internal CA code."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from attonix.blueprint import load_file
from attonix.deploy import EngineUnavailable, EnvSecretSource, get_driver
from attonix.deploy.connections import (
    ConnectionError_,
    DockerEndpoint,
    TlsFiles,
    default_path,
    describe,
    load,
    parse,
    probe,
    probe_tls,
    reachable_docker_host,
)
from attonix.deploy.podman import PodmanDriver
from attonix.deploy.swarm import SwarmDriver
from attonix.server.security.pki import KeyPair, create_ca, issue_certificate

FIXTURE = Path(__file__).parents[2] / "fixtures" / "deploy" / "truth.yaml"
GOOD = """
clusters:
  swarm-truth:
    docker:
      host: tcp://10.77.0.11:2376
      tls: {ca: /etc/attonix/ca.pem, cert: /etc/attonix/cert.pem, key: /etc/attonix/key.pem}
  podman-truth:
    podman: {url: "ssh://root@127.0.0.1:2222/run/podman/podman.sock", identity: /k}
"""


def test_drivers_take_their_cluster_endpoint_from_the_file() -> None:
    bp = load_file(FIXTURE).blueprint
    conns = parse(GOOD, source="c.yaml")
    secrets = EnvSecretSource(bp.security.secrets, environ={})
    swarm = get_driver("swarm", bp, secrets=secrets, connections=conns)
    podman = get_driver("podman", bp, secrets=secrets, connections=conns)
    assert isinstance(swarm, SwarmDriver) and isinstance(podman, PodmanDriver)
    assert swarm._docker == [
        "docker", "--host", "tcp://10.77.0.11:2376", "--tlsverify",
        "--tlscacert", "/etc/attonix/ca.pem", "--tlscert", "/etc/attonix/cert.pem",
        "--tlskey", "/etc/attonix/key.pem",
    ]  # fmt: skip
    assert list(podman.engines[0].argv) == [
        "podman", "--remote", "--url", "ssh://root@127.0.0.1:2222/run/podman/podman.sock",
        "--identity", "/k",
    ]  # fmt: skip
    assert swarm.endpoint == "tcp://10.77.0.11:2376 (mutual TLS)"
    # no entry: the local engine, said in words
    local = get_driver("swarm", bp, secrets=secrets)
    assert local.endpoint == "the local Docker engine (its default socket)"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("clusters: {a: {docker: {host: 'http://x'}}}", "clusters.a.docker.host"),
        ("clusters: {a: {docker: {host: 'unix:///s'}, podman: {url: 'unix:///p'}}}", "exactly one"),
        ("clusters: {a: {dockr: {host: 'unix:///s'}}}", "clusters.a.dockr"),
        ("clusters: [", "not valid YAML"),
    ],
)
def test_bad_files_name_the_file_and_the_cluster(text: str, message: str) -> None:
    with pytest.raises(ConnectionError_, match=r"c\.yaml") as info:
        parse(text, source="c.yaml")
    assert message in info.value.message


def test_a_connection_of_the_wrong_kind_is_refused() -> None:
    bp = load_file(FIXTURE).blueprint
    conns = parse("clusters: {swarm-truth: {podman: {url: 'unix:///p'}}}", source="c.yaml")
    with pytest.raises(ConnectionError_, match="'swarm-truth' is a swarm cluster"):
        get_driver("swarm", bp, secrets=EnvSecretSource([], environ={}), connections=conns)


def test_file_location(tmp_path: Path) -> None:
    assert default_path({"XDG_CONFIG_HOME": "/x"}) == Path("/x/attonix/connections.yaml")
    assert default_path({"ATTONIX_CONNECTIONS": "/c.yaml"}) == Path("/c.yaml")
    assert load(environ={"XDG_CONFIG_HOME": str(tmp_path)}).clusters == {}
    with pytest.raises(ConnectionError_, match="does not exist"):
        load(tmp_path / "missing.yaml")
    assert describe(None, target="podman") == "the local Podman (this machine)"


def _write(tmp: Path, name: str, pair: KeyPair) -> tuple[Path, Path]:
    cert, key = tmp / f"{name}.pem", tmp / f"{name}-key.pem"
    cert.write_bytes(pair.cert_pem)
    key.write_bytes(pair.key_pem)
    return cert, key


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[tuple[int, Path, KeyPair, KeyPair]]:
    """A TLS listener that requires a client certificate of its CA and answers like /_ping."""
    ca = create_ca(common_name="Engine CA", key_algorithm="ecdsa-p256", validity_days=2)
    server = issue_certificate(ca, common_name="engine", dns_names=["127.0.0.1"], validity_days=1)
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem)
    cert, key = _write(tmp_path, "server", server)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(tmp_path / "ca.pem"))
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(str(cert), str(key))
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                raw, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with ctx.wrap_socket(raw, server_side=True) as conn:
                    conn.recv(256)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    client = issue_certificate(ca, common_name="attonix", dns_names=["attonix"], validity_days=1)
    yield port, tmp_path, ca, client
    stop.set()
    thread.join(5)
    listener.close()


def test_probe_tells_the_three_refusals_apart(engine: tuple[int, Path, KeyPair, KeyPair]) -> None:
    port, tmp, _ca, client = engine
    cert, key = _write(tmp, "client", client)
    good = TlsFiles(ca=tmp / "ca.pem", cert=cert, key=key)
    probe_tls("swarm-mtls", host="127.0.0.1", port=port, tls=good)

    other_ca = create_ca(common_name="Other CA", key_algorithm="ecdsa-p256", validity_days=2)
    stranger = issue_certificate(other_ca, common_name="x", dns_names=["x"], validity_days=1)
    s_cert, s_key = _write(tmp, "stranger", stranger)
    with pytest.raises(ConnectionError_, match=r"'swarm-mtls'.*refused the client certificate"):
        probe_tls("swarm-mtls", host="127.0.0.1", port=port, tls=good.model_copy(
            update={"cert": s_cert, "key": s_key}))  # fmt: skip

    (tmp / "other-ca.pem").write_bytes(other_ca.cert_pem)
    with pytest.raises(ConnectionError_, match="certificate the connection's CA"):
        probe_tls("swarm-mtls", host="127.0.0.1", port=port, tls=good.model_copy(
            update={"ca": tmp / "other-ca.pem"}))  # fmt: skip

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    free = closed.getsockname()[1]
    closed.close()
    with pytest.raises(EngineUnavailable, match=r"'swarm-mtls': cannot reach tcp://127\.0\.0\.1"):
        probe_tls("swarm-mtls", host="127.0.0.1", port=free, tls=good)


def test_one_file_holds_engines_database_servers_and_ceph(tmp_path: Path) -> None:
    """The engines' clusters, the database servers and the Ceph clusters live in one file:
    each reader takes its section and none refuses the others'."""
    from attonix.deploy.ceph.admin import load_connection
    from attonix.deploy.databases.connections import load_endpoints

    path = tmp_path / "connections.yaml"
    path.write_text(
        GOOD
        + "databases:\n  orders-pg: {host: 127.0.0.1, port: 5432}\n"
        + "ceph:\n  store: {conf: /etc/ceph/ceph.conf, keyring: /k, rgw_url: 'http://127.0.0.1:1'}\n",
        encoding="utf-8",
    )
    conns = load(path)
    assert set(conns.clusters) == {"swarm-truth", "podman-truth"}
    assert load_endpoints(path)["orders-pg"] == {"host": "127.0.0.1", "port": 5432}
    assert str(load_connection(path, "store").conf) == "/etc/ceph/ceph.conf"


def _listening_socket(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.listen(4)
    return sock


def test_a_swarm_reached_through_several_managers_tries_them_in_order(tmp_path: Path) -> None:
    conns = parse(
        f"""
clusters:
  swarm-ha:
    docker:
      host: unix://{tmp_path}/m1.sock
      fallback_hosts: [unix://{tmp_path}/m2.sock, unix://{tmp_path}/m3.sock]
""",
        source="c.yaml",
    )
    endpoint = conns.clusters["swarm-ha"].docker
    assert endpoint is not None
    assert endpoint.hosts == tuple(f"unix://{tmp_path}/m{i}.sock" for i in (1, 2, 3))
    assert describe(conns.clusters["swarm-ha"], target="swarm") == ", then ".join(endpoint.hosts)
    # None listens: one error names the cluster and every endpoint with its reason.
    with pytest.raises(EngineUnavailable) as info:
        reachable_docker_host(endpoint, cluster="swarm-ha")
    message = info.value.message
    assert message.startswith("cluster 'swarm-ha': none of its 3 manager endpoints answers: ")
    assert [h in message for h in endpoint.hosts] == [True, True, True]
    # The third listens: the first two are passed over; then the second, which comes first.
    with _listening_socket(tmp_path / "m3.sock"):
        assert reachable_docker_host(endpoint, cluster="swarm-ha") == endpoint.hosts[2]
        with _listening_socket(tmp_path / "m2.sock"):
            assert reachable_docker_host(endpoint, cluster="swarm-ha") == endpoint.hosts[1]


def test_a_manager_that_refuses_the_credentials_is_not_skipped(
    engine: tuple[int, Path, KeyPair, KeyPair],
) -> None:
    port, tmp, _ca, client = engine
    cert, key = _write(tmp, "client", client)
    other_ca = create_ca(common_name="Other CA", key_algorithm="ecdsa-p256", validity_days=2)
    (tmp / "other-ca.pem").write_bytes(other_ca.cert_pem)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    free = closed.getsockname()[1]
    closed.close()
    good = TlsFiles(ca=tmp / "ca.pem", cert=cert, key=key)
    down, up = f"tcp://127.0.0.1:{free}", f"tcp://127.0.0.1:{port}"
    # The first is unreachable, the second answers with the right CA.
    ha = DockerEndpoint(host=down, fallback_hosts=(up,), tls=good)
    assert reachable_docker_host(ha, cluster="s") == up
    # A wrong certificate is an answer, not an outage: no next manager is tried.
    wrong = good.model_copy(update={"ca": tmp / "other-ca.pem"})
    with pytest.raises(ConnectionError_, match="certificate the connection's CA"):
        reachable_docker_host(
            DockerEndpoint(host=up, fallback_hosts=(down,), tls=wrong), cluster="s"
        )


def test_fallback_managers_take_the_host_schemes_only() -> None:
    with pytest.raises(ConnectionError_, match=r"clusters\.a\.docker\.fallback_hosts"):
        parse(
            "clusters: {a: {docker: {host: 'unix:///s', fallback_hosts: ['http://x']}}}",
            source="c.yaml",
        )


def test_an_openstack_entry_is_probed_at_its_keystone(tmp_path: Path) -> None:
    keystone = socket.create_server(("127.0.0.1", 0))
    port = keystone.getsockname()[1]
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(f"clouds: {{prod: {{auth: {{auth_url: 'http://127.0.0.1:{port}/v3'}}}}}}")
    conns = parse(
        f"clusters: {{cloud: {{openstack: {{cloud: prod, clouds_file: {clouds}}}}}}}", source="c"
    )
    conn = conns.clusters["cloud"]
    assert describe(conn, target="openstack") == "clouds.yaml entry prod"
    with keystone:
        probe(conn, cluster="cloud")
    with pytest.raises(
        EngineUnavailable, match=rf"'cloud': cannot reach http://127\.0\.0\.1:{port}"
    ):
        probe(conn, cluster="cloud")
    other = parse(
        f"clusters: {{cloud: {{openstack: {{cloud: dev, clouds_file: {clouds}}}}}}}", source="c"
    )
    with pytest.raises(ConnectionError_, match="no cloud 'dev'") as info:
        probe(other.clusters["cloud"], cluster="cloud")
    assert info.value.hint == "Clouds there: prod."
