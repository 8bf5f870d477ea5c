"""Where each cluster's engine is, and with which credentials.

Every cluster of a blueprint maps to one connection, by cluster name, in a connections file::

    clusters:
      swarm-prod:                       # Docker / Swarm: unix socket, TCP with mutual TLS, SSH
        docker:
          host: tcp://10.77.0.11:2376
          fallback_hosts: [tcp://10.77.0.12:2376]   # more managers, tried in this order
          tls: {ca: /etc/attonix/ca.pem, cert: /etc/attonix/cert.pem, key: /etc/attonix/key.pem}
      podman-edge:                      # Podman: unix socket or SSH (with a private key)
        podman:
          url: ssh://root@10.0.0.5:22/run/podman/podman.sock
          identity: /etc/attonix/podman-edge.key
          known_hosts: /etc/attonix/podman-edge.known_hosts   # optional: pin the host key
      podman-tools:                     # Podman on several hosts: one service per blueprint host
        podman:
          hosts:
            pod-a: {url: ssh://root@10.0.1.5/run/podman/podman.sock, identity: /etc/attonix/p.key}
            pod-b: {url: ssh://root@10.0.2.5/run/podman/podman.sock, identity: /etc/attonix/p.key}
      kube-prod:                        # Kubernetes: a kubeconfig context
        kubernetes: {kubeconfig: /etc/attonix/kubeconfig, context: prod}
      vcenter:                          # vSphere: URL, user, password from the environment
        vsphere: {url: https://vc.example.com/sdk, username: attonix, password_env: VC_PASSWORD}
      cloud:                            # OpenStack: an entry of clouds.yaml
        openstack: {cloud: prod, clouds_file: /etc/openstack/clouds.yaml}

The file is ``--connections FILE``, else ``$ATTONIX_CONNECTIONS``, else
``$XDG_CONFIG_HOME/attonix/connections.yaml`` (``~/.config/attonix/connections.yaml``). A
cluster without an entry uses the engine of the machine Attonix runs on (its default socket),
and every plan and apply says so. Files holding keys are paths, never inline secrets.

:func:`probe` tells an unreachable engine, a wrong server certificate and refused client
credentials apart, from the socket and TLS layers' own error types and OpenSSL reason codes
(never from message text), and names the cluster in the error.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from attonix.deploy.base import DeployError, EngineUnavailable

PROBE_TIMEOUT = 5.0


class ConnectionError_(DeployError):  # noqa: N801 - the builtin name is taken
    """A cluster's connection is misconfigured, or its engine refused or could not be reached."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsFiles(_Model):
    """Mutual TLS: the CA that signed the engine's certificate, and this client's pair."""

    ca: Path
    cert: Path
    key: Path


class DockerEndpoint(_Model):
    """A Docker engine: ``unix:///path``, ``tcp://host:port`` (with ``tls``) or ``ssh://``.

    A Swarm cluster may be reachable through several managers: ``fallback_hosts`` are tried in
    the order given when ``host`` (then each one before) is unreachable; a manager that answers
    but refuses the credentials is an error, not a reason to try the next. The same ``tls``
    serves every TCP manager."""

    host: str
    fallback_hosts: tuple[str, ...] = Field(default=(), max_length=8)
    tls: TlsFiles | None = None

    @field_validator("host")
    @classmethod
    def _scheme(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if scheme not in ("unix", "tcp", "ssh"):
            raise ValueError("host must start with unix://, tcp:// or ssh://")
        return value

    @field_validator("fallback_hosts")
    @classmethod
    def _schemes(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            cls._scheme(value)
        return values

    @property
    def hosts(self) -> tuple[str, ...]:
        """Every manager endpoint, in the order they are tried."""
        return (self.host, *self.fallback_hosts)


class PodmanEndpoint(_Model):
    """A Podman service: ``unix:///run/podman/podman.sock`` or ``ssh://user@host:port/sock``."""

    url: str
    identity: Path | None = None
    #: A known_hosts file pinning the host's key; without it, ``ssh``'s and Podman's own
    #: ``~/.ssh/known_hosts`` decide.
    known_hosts: Path | None = None

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("unix", "ssh"):
            raise ValueError("url must start with unix:// or ssh://")
        return value


class PodmanHosts(_Model):
    """A Podman cluster of several hosts: each blueprint host's own Podman service, by host
    name. Podman has no scheduler, so the driver places each host's pods on that host."""

    hosts: dict[Annotated[str, Field(min_length=1)], PodmanEndpoint] = Field(min_length=1)


def podman_endpoints(
    endpoint: PodmanEndpoint | PodmanHosts | None,
) -> dict[str | None, PodmanEndpoint | None]:
    """Host name -> endpoint of a Podman connection; ``{None: ...}`` when it is one engine
    (``None``: the local Podman)."""
    if isinstance(endpoint, PodmanHosts):
        return dict(endpoint.hosts.items())
    return {None: endpoint}


class KubernetesEndpoint(_Model):
    """A kubeconfig file and the context in it."""

    kubeconfig: Path | None = None
    context: str | None = None


class VSphereEndpoint(_Model):
    """A vCenter SDK URL (HTTPS), a user, the environment variable holding the password, and
    the CA that signed vCenter's certificate when the system's trust store does not hold it."""

    url: str
    username: str
    #: The environment variable holding the password (the CLI's file), or ``password_file``
    #: (the Central Server opens its vault's copy into a private file for one job).
    password_env: str | None = None
    password_file: Path | None = None
    ca: Path | None = None
    verify_tls: bool = True

    @field_validator("url")
    @classmethod
    def _https(cls, value: str) -> str:
        if urlsplit(value).scheme != "https":
            raise ValueError("url must start with https:// (vCenter serves its API over HTTPS)")
        return value

    @model_validator(mode="after")
    def _one_password(self) -> VSphereEndpoint:
        if (self.password_env is None) == (self.password_file is None):
            raise ValueError("give password_env (the variable holding the password)")
        return self


class OpenStackEndpoint(_Model):
    """One entry of a ``clouds.yaml`` (``clouds_file``, else the file the OpenStack clients
    find first: ``./clouds.yaml``, ``~/.config/openstack/clouds.yaml``,
    ``/etc/openstack/clouds.yaml``)."""

    cloud: str
    clouds_file: Path | None = None


class Connection(_Model):
    """One cluster's endpoint: exactly one of the kinds below."""

    docker: DockerEndpoint | None = None
    podman: PodmanEndpoint | PodmanHosts | None = None
    kubernetes: KubernetesEndpoint | None = None
    vsphere: VSphereEndpoint | None = None
    openstack: OpenStackEndpoint | None = None

    def kind(self) -> str:
        """The one endpoint kind set."""
        kinds = [k for k in type(self).model_fields if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("give exactly one of docker, podman, kubernetes, vsphere, openstack")
        return kinds[0]


class ConnectionsFile(_Model):
    """The connections file: cluster name -> connection, beside the sections of the drivers
    that provision inside servers rather than on engines (one file for every target)."""

    clusters: dict[Annotated[str, Field(min_length=1)], Connection] = Field(default_factory=dict)
    #: Database servers by database name; checked by the databases driver (docs/databases.md).
    databases: dict[str, dict[str, Any]] = Field(default_factory=dict)
    #: Ceph clusters on hosts by name; checked by the ceph driver (docs/databases.md).
    ceph: dict[str, dict[str, Any]] = Field(default_factory=dict)


#: Which endpoint kind serves which deploy target.
KIND_OF_TARGET = {
    "swarm": "docker",
    "podman": "podman",
    "kubernetes": "kubernetes",
    "vsphere": "vsphere",
    "openstack": "openstack",
}
#: What a cluster without an entry talks to, per endpoint kind (said in every plan and apply).
LOCAL = {
    "docker": "the local Docker engine (its default socket)",
    "podman": "the local Podman (this machine)",
    "kubernetes": "kubectl's current context",
}


def default_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$ATTONIX_CONNECTIONS``, else ``$XDG_CONFIG_HOME/attonix/connections.yaml``, else
    ``~/.config/attonix/connections.yaml``."""
    env = os.environ if environ is None else environ
    if env.get("ATTONIX_CONNECTIONS"):
        return Path(env["ATTONIX_CONNECTIONS"])
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "attonix" / "connections.yaml"


def load(path: Path | None = None, *, environ: Mapping[str, str] | None = None) -> ConnectionsFile:
    """The connections file at ``path`` (default: :func:`default_path`); empty when the default
    file does not exist, an error when a file named explicitly does not."""
    explicit = path is not None or bool(
        (os.environ if environ is None else environ).get("ATTONIX_CONNECTIONS")
    )
    where = path or default_path(environ)
    try:
        text = where.read_text(encoding="utf-8")
    except FileNotFoundError:
        if explicit:
            raise ConnectionError_(
                f"connections file {where} does not exist",
                hint="Create it (see docs/deploy.md, Connections) or drop --connections.",
            ) from None
        return ConnectionsFile()
    except OSError as exc:
        raise ConnectionError_(f"cannot read connections file {where}: {exc.strerror}") from None
    return parse(text, source=str(where))


def parse(text: str, *, source: str) -> ConnectionsFile:
    """Parse and check a connections document; errors name the file and the cluster."""
    try:
        doc: Any = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise ConnectionError_(
            f"{source}{where}: not valid YAML", hint="Fix the syntax of the connections file."
        ) from None
    try:
        parsed = ConnectionsFile.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in first["loc"])
        raise ConnectionError_(
            f"{source}: {path}: {first['msg']}",
            hint="See docs/deploy.md, Connections, for the shape of each endpoint kind.",
        ) from None
    for name, conn in parsed.clusters.items():
        try:
            conn.kind()
        except ValueError as exc:
            raise ConnectionError_(f"{source}: clusters.{name}: {exc}") from None
    return parsed


def for_cluster(connections: ConnectionsFile, *, cluster: str, target: str) -> Connection | None:
    """The connection of ``cluster`` (None: the local engine), checked against ``target``."""
    conn = connections.clusters.get(cluster)
    if conn is None:
        return None
    want = KIND_OF_TARGET.get(target, target)
    if conn.kind() != want:
        raise ConnectionError_(
            f"cluster {cluster!r} is a {target} cluster, but its connection is a "
            f"{conn.kind()} endpoint",
            hint=f"Give it a '{want}:' entry in the connections file.",
        )
    return conn


def docker_endpoint_words(hosts: tuple[str, ...] | list[str], *, tls: bool) -> str:
    """A Docker endpoint in words: its hosts in the order they are tried, and TLS."""
    return ", then ".join(hosts) + (" (mutual TLS)" if tls else "")


def describe(conn: Connection | None, *, target: str) -> str:
    """The endpoint a connection touches, for plans, logs and the console."""
    if conn is None:
        return LOCAL.get(KIND_OF_TARGET.get(target, target), "the local engine")
    if conn.docker is not None:
        return docker_endpoint_words(conn.docker.hosts, tls=conn.docker.tls is not None)
    if isinstance(conn.podman, PodmanHosts):
        return ", ".join(f"{host}: {e.url}" for host, e in conn.podman.hosts.items())
    if conn.podman is not None:
        return conn.podman.url
    if conn.kubernetes is not None:
        return f"kubeconfig {conn.kubernetes.kubeconfig or '(default)'} context " + (
            conn.kubernetes.context or "(current)"
        )
    if conn.vsphere is not None:
        return f"{conn.vsphere.url} as {conn.vsphere.username}"
    assert conn.openstack is not None
    return f"clouds.yaml entry {conn.openstack.cloud}"


# ---------------------------------------------------------------------- probing


def _unreachable(cluster: str, endpoint: str, exc: OSError) -> EngineUnavailable:
    return EngineUnavailable(
        f"cluster {cluster!r}: cannot reach {endpoint}: {exc.strerror or type(exc).__name__}",
        hint="Check the connection's address and that the engine listens there.",
    )


def probe_tls(cluster: str, *, host: str, port: int, tls: TlsFiles) -> None:
    """Open a mutual-TLS connection to a Docker engine and ask it ``/_ping``; raise a
    :class:`ConnectionError_` naming the cluster and what was refused."""
    endpoint = f"tcp://{host}:{port}"
    for label, path in (("CA", tls.ca), ("client certificate", tls.cert), ("key", tls.key)):
        if not path.is_file():
            raise ConnectionError_(
                f"cluster {cluster!r}: the {label} file {path} does not exist",
                hint="Fix the path under tls: in the connections file.",
            )
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(tls.ca))
    context.check_hostname = False  # engines are addressed by IP; the CA pins the identity
    try:
        context.load_cert_chain(str(tls.cert), str(tls.key))
    except ssl.SSLError:
        raise ConnectionError_(
            f"cluster {cluster!r}: the client certificate {tls.cert} and key {tls.key} do not "
            "form a pair",
            hint="Point tls.cert and tls.key at the same client identity.",
        ) from None
    try:
        raw = socket.create_connection((host, port), timeout=PROBE_TIMEOUT)
    except OSError as exc:
        raise _unreachable(cluster, endpoint, exc) from None
    try:
        with context.wrap_socket(raw, server_hostname=host) as conn:
            conn.sendall(f"GET /_ping HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            answer = conn.recv(64)
    except ssl.SSLCertVerificationError:
        raise ConnectionError_(
            f"cluster {cluster!r}: the engine at {endpoint} presented a certificate the "
            f"connection's CA ({tls.ca}) did not sign",
            hint="Wrong engine, or the wrong CA in the connections file.",
        ) from None
    except ssl.SSLError as exc:
        # The engine refused this client during or right after the handshake (TLS 1.3 sends
        # its alert after the client thinks it is done): OpenSSL's reason code says so.
        raise ConnectionError_(
            f"cluster {cluster!r}: the engine at {endpoint} refused the client certificate "
            f"{tls.cert} ({exc.reason or 'TLS alert'})",
            hint="Use a client certificate signed by the CA the engine trusts (--tlsverify).",
        ) from None
    except OSError as exc:
        if isinstance(exc, ConnectionResetError):
            raise ConnectionError_(
                f"cluster {cluster!r}: the engine at {endpoint} closed the connection during "
                "the TLS handshake (client certificate refused)",
                hint="Use a client certificate signed by the CA the engine trusts.",
            ) from None
        raise _unreachable(cluster, endpoint, exc) from None
    if not answer.startswith(b"HTTP/1."):
        raise ConnectionError_(f"cluster {cluster!r}: {endpoint} does not speak the Docker API")


def probe_socket(cluster: str, *, url: str) -> None:
    """Check that the engine's unix socket of ``url`` exists and accepts a connection."""
    path = urlsplit(url).path
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(PROBE_TIMEOUT)
        try:
            sock.connect(path)
        except OSError as exc:
            raise _unreachable(cluster, url, exc) from None


def probe_ssh(
    cluster: str, *, url: str, identity: Path | None, known_hosts: Path | None = None
) -> None:
    """Check that the SSH endpoint of ``url`` answers and accepts the key: TCP first (an
    unreachable host), then ``ssh`` in batch mode (exit 255 after TCP worked: refused key or
    host key). With ``known_hosts`` the host must present the key pinned there."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 22
    endpoint = f"ssh://{host}:{port}"
    if identity is not None and not identity.is_file():
        raise ConnectionError_(
            f"cluster {cluster!r}: the SSH key {identity} does not exist",
            hint="Fix identity: in the connections file.",
        )
    try:
        socket.create_connection((host, port), timeout=PROBE_TIMEOUT).close()
    except OSError as exc:
        raise _unreachable(cluster, endpoint, exc) from None
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-p", str(port)]
    if known_hosts is not None:
        argv += ["-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes"]
    if identity is not None:
        argv += ["-o", "IdentitiesOnly=yes", "-i", str(identity)]
    argv += [f"{parts.username}@{host}" if parts.username else host, "true"]
    try:
        done = subprocess.run(  # noqa: S603 - argv only
            argv, capture_output=True, text=True, timeout=30, check=False
        )
    except FileNotFoundError:
        raise EngineUnavailable(
            "`ssh` is not installed (not found on PATH)",
            hint="Install an OpenSSH client to reach engines over SSH.",
        ) from None
    if done.returncode == 255:
        raise ConnectionError_(
            f"cluster {cluster!r}: {endpoint} refused the SSH login "
            f"({parts.username or 'default user'}, key {identity or 'default'}), or its host "
            "key is not in known_hosts",
            hint="Authorise the key on the host and add its host key to known_hosts.",
        )


def _probe_docker_host(cluster: str, host: str, tls: TlsFiles | None) -> None:
    parts = urlsplit(host)
    if parts.scheme == "tcp" and tls is not None:
        probe_tls(cluster, host=parts.hostname or "", port=parts.port or 2376, tls=tls)
    elif parts.scheme == "ssh":
        probe_ssh(cluster, url=host, identity=None)
    elif parts.scheme == "unix":
        probe_socket(cluster, url=host)


def reachable_docker_host(endpoint: DockerEndpoint, *, cluster: str) -> str:
    """The first of ``endpoint``'s hosts that answers, tried in order; an unreachable host
    moves on to the next, a refusal (certificate, credentials) stops at once. When none
    answers, one error names the cluster and every host with its reason."""
    failed: list[EngineUnavailable] = []
    for host in endpoint.hosts:
        try:
            _probe_docker_host(cluster, host, endpoint.tls)
        except EngineUnavailable as exc:
            failed.append(exc)
            continue
        return host
    if len(failed) == 1:
        raise failed[0]
    reasons = [exc.message.removeprefix(f"cluster {cluster!r}: ") for exc in failed]
    raise EngineUnavailable(
        f"cluster {cluster!r}: none of its {len(reasons)} manager endpoints answers: "
        + "; ".join(reasons),
        hint="Check the addresses and that at least one manager's engine listens.",
    )


#: Where the OpenStack clients look for clouds.yaml, in order.
CLOUDS_FILES = (
    Path("clouds.yaml"),
    Path.home() / ".config" / "openstack" / "clouds.yaml",
    Path("/etc/openstack/clouds.yaml"),
)


def clouds_entry(text: str, *, cloud: str, source: str) -> dict[str, Any]:
    """The entry ``cloud`` of a clouds.yaml document; an error naming the file and the entry
    when the document is not a clouds.yaml or holds no such entry (with its auth_url)."""
    try:
        doc: Any = yaml.safe_load(text)
    except yaml.YAMLError:
        doc = None
    clouds = doc.get("clouds") if isinstance(doc, dict) else None
    if not isinstance(clouds, dict):
        raise ConnectionError_(
            f"{source}: not a clouds.yaml (no 'clouds:' mapping)",
            hint="Give the clouds.yaml that `openstack --os-cloud` reads.",
        )
    entry = clouds.get(cloud)
    if not isinstance(entry, dict):
        raise ConnectionError_(
            f"{source}: no cloud {cloud!r}",
            hint=f"Clouds there: {', '.join(sorted(str(c) for c in clouds)) or 'none'}.",
        )
    auth = entry.get("auth")
    if not isinstance(auth, dict) or not str(auth.get("auth_url") or "").startswith("http"):
        raise ConnectionError_(
            f"{source}: cloud {cloud!r} has no auth.auth_url",
            hint="Give the Keystone URL under auth.auth_url.",
        )
    return entry


def probe_openstack(cluster: str, endpoint: OpenStackEndpoint) -> None:
    """Check that the cloud's clouds.yaml entry exists and its Keystone answers on TCP."""
    where = endpoint.clouds_file or next((p for p in CLOUDS_FILES if p.is_file()), None)
    if where is None or not where.is_file():
        raise ConnectionError_(
            f"cluster {cluster!r}: the clouds.yaml {where or '(none found)'} does not exist",
            hint="Fix clouds_file in the connections file.",
        )
    entry = clouds_entry(where.read_text(encoding="utf-8"), cloud=endpoint.cloud, source=str(where))
    url = urlsplit(str(entry["auth"]["auth_url"]))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        socket.create_connection((url.hostname or "", port), timeout=PROBE_TIMEOUT).close()
    except OSError as exc:
        raise _unreachable(cluster, f"{url.scheme}://{url.hostname}:{port}", exc) from None


def _probe_podman(cluster: str, endpoint: PodmanEndpoint) -> None:
    scheme = urlsplit(endpoint.url).scheme
    if scheme == "ssh":
        probe_ssh(
            cluster,
            url=endpoint.url,
            identity=endpoint.identity,
            known_hosts=endpoint.known_hosts,
        )
    elif scheme == "unix":
        probe_socket(cluster, url=endpoint.url)


def probe(conn: Connection | None, *, cluster: str) -> None:
    """Check that ``cluster``'s engine is reachable with its credentials (no-op for local)."""
    if conn is None:
        return
    if conn.docker is not None:
        reachable_docker_host(conn.docker, cluster=cluster)
    elif conn.podman is not None:
        for host, endpoint in podman_endpoints(conn.podman).items():
            assert endpoint is not None
            try:
                _probe_podman(cluster, endpoint)
            except DeployError as exc:
                if host is None:
                    raise
                # One host of several: the error names the host as well as the cluster.
                said = f"cluster {cluster!r}"
                raise type(exc)(
                    exc.message.replace(said, f"{said}, host {host!r}", 1), hint=exc.hint
                ) from None
    elif conn.openstack is not None:
        probe_openstack(cluster, conn.openstack)


Kind = Literal["docker", "podman", "kubernetes", "vsphere", "openstack"]
