"""Cluster connections of an environment: where each blueprint cluster's engine is, and the
credentials that reach it.

The endpoint and its non-secret settings (host or URL, the pinned SSH host key, the
kubeconfig context) are stored in clear; every credential (TLS CA, client certificate and
key, SSH private key, kubeconfig) is sealed with the vault's envelope encryption, bound to the
environment and the cluster, and never returned, logged or audited. A deployment job opens a
connection into a private directory (mode 0700, files 0600) for the length of one plan,
apply or status read, and hands the deploy layer the same :class:`Connection` the CLI builds
from its connections file. There is no fallback: a cluster without a stored connection is not
deployed to, and never silently to the engine on the server's own machine.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from attonix.deploy.base import DeployError
from attonix.deploy.connections import (
    KIND_OF_TARGET,
    Connection,
    DockerEndpoint,
    KubernetesEndpoint,
    OpenStackEndpoint,
    PodmanEndpoint,
    PodmanHosts,
    TlsFiles,
    VSphereEndpoint,
    clouds_entry,
    docker_endpoint_words,
    probe,
)
from attonix.errors import Error
from attonix.server import audit
from attonix.server.audit import Actor
from attonix.server.context import ServerContext
from attonix.server.db.models import ClusterConnection
from attonix.server.errors import NotFound, Unprocessable
from attonix.server.schemas import NAME_PATTERN, ConnectionCheckOut, ConnectionOut
from attonix.server.security.envelope import Sealed
from attonix.server.vault import environment_row, upsert_sealed

_PEM = Annotated[str, Field(min_length=1, max_length=65536)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TlsIn(_In):
    """Mutual TLS to a Docker engine: the CA that signed the engine's certificate, and this
    server's client certificate and key (PEM)."""

    ca: _PEM
    cert: _PEM
    key: _PEM


class DockerIn(_In):
    """A Docker / Swarm engine: ``unix:///path`` (on the server's machine, named explicitly)
    or ``tcp://host:port`` with mutual TLS. A Swarm cluster reachable through several
    managers lists the others in ``fallback_hosts``: tried in that order when the one before
    is unreachable (same scheme, same TLS)."""

    kind: Literal["docker"]
    host: str = Field(min_length=8, max_length=500)
    fallback_hosts: list[Annotated[str, Field(min_length=8, max_length=500)]] = Field(
        default_factory=list, max_length=8
    )
    tls: TlsIn | None = None


class PodmanHostIn(_In):
    """One host's Podman service in a Podman cluster of several hosts: ``unix:///path`` or
    ``ssh://user@host:port/socket`` with its own private key and ``known_hosts`` line."""

    url: str = Field(min_length=5, max_length=500)
    ssh_key: _PEM | None = None
    known_hosts: str | None = Field(None, min_length=1, max_length=16384)


#: A blueprint host's name as a key of ``hosts`` (also a file name when its key is opened).
_HOST = Annotated[str, Field(pattern=NAME_PATTERN, max_length=63)]


class PodmanIn(_In):
    """A Podman service: ``unix:///path`` or ``ssh://user@host:port/socket`` with a private key
    and the host's public key as a ``known_hosts`` line (the host is verified, never trusted
    on first use); or ``local``: the Podman of the server's own machine, named explicitly.

    A Podman cluster of several blueprint hosts gives ``hosts`` instead of ``url``: each
    host's own service by blueprint host name (Podman has no scheduler: each host's pods are
    placed on that host's engine)."""

    kind: Literal["podman"]
    url: str | None = Field(None, min_length=5, max_length=500)
    ssh_key: _PEM | None = None
    known_hosts: str | None = Field(None, min_length=1, max_length=16384)
    hosts: dict[_HOST, PodmanHostIn] | None = Field(None, min_length=1, max_length=256)


class KubernetesIn(_In):
    """A kubeconfig (stored sealed) and the context in it (its current one when omitted)."""

    kind: Literal["kubernetes"]
    kubeconfig: str = Field(min_length=1, max_length=262144)
    context: str | None = Field(None, min_length=1, max_length=253)


#: A Podman connection's URL meaning the Podman CLI of the server's own machine (no service).
LOCAL = "local"
LOCAL_PODMAN = "the Podman of the Central Server's own machine"


class VSphereIn(_In):
    """A vCenter: its SDK URL (HTTPS), a user and password, and the CA that signed its
    certificate when the server's trust store does not hold it."""

    kind: Literal["vsphere"]
    url: str = Field(min_length=9, max_length=500)
    username: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=1, max_length=1024)
    ca: _PEM | None = None
    verify_tls: bool = True


class OpenStackIn(_In):
    """An OpenStack cloud: the name of its entry in a ``clouds.yaml`` and that document. Only
    the named entry is kept (sealed: it holds the credentials); its Keystone URL and region
    are shown."""

    kind: Literal["openstack"]
    cloud: str = Field(min_length=1, max_length=128)
    clouds_yaml: str = Field(min_length=1, max_length=262144)


_Body = DockerIn | PodmanIn | KubernetesIn | VSphereIn | OpenStackIn
ConnectionIn = Annotated[_Body, Field(discriminator="kind")]

#: The stored credential of each file a connection may need, and its file name when opened.
_FILES = {
    "tls.ca": "ca.pem",
    "tls.cert": "cert.pem",
    "tls.key": "key.pem",
    "ssh_key": "id",
    "password": "password",
    "ca": "vcenter-ca.pem",
}


def _aad(environment: str, cluster: str) -> bytes:
    return f"connection:{environment}/{cluster}".encode()


def _refuse(cluster: str, field: str, message: str, hint: str) -> Unprocessable:
    return Unprocessable(f"Connection {cluster!r}: {field}: {message}", hint=hint)


def _check_pem(cluster: str, field: str, text: str, *, private: bool) -> None:
    data = text.encode()
    try:
        if private:
            serialization.load_pem_private_key(data, password=None)
        else:
            x509.load_pem_x509_certificate(data)
    except (ValueError, TypeError):
        what = "an unencrypted PEM private key" if private else "a PEM certificate"
        raise _refuse(cluster, field, f"not {what}", f"Paste {what}.") from None


def _check_ssh_key(cluster: str, text: str, *, field: str = "ssh_key") -> None:
    try:
        serialization.load_ssh_private_key(text.encode(), password=None)
    except (ValueError, TypeError, NotImplementedError):
        try:
            serialization.load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError):
            raise _refuse(
                cluster,
                field,
                "not an unencrypted OpenSSH or PEM private key",
                "Paste the private key file (without a passphrase).",
            ) from None


def _kube_server(cluster: str, kubeconfig: str, context: str | None) -> tuple[str, str]:
    """The context used and its API server URL, read from the kubeconfig (422 if absent)."""
    try:
        doc: Any = yaml.safe_load(kubeconfig)
    except yaml.YAMLError:
        doc = None
    if not isinstance(doc, dict):
        raise _refuse(cluster, "kubeconfig", "not a kubeconfig (YAML mapping)", "Paste the file.")
    name = context or str(doc.get("current-context") or "")
    contexts = {c.get("name"): c.get("context") or {} for c in doc.get("contexts") or []}
    if name not in contexts:
        raise _refuse(
            cluster,
            "context",
            f"no context {name!r} in the kubeconfig" if name else "the kubeconfig names none",
            f"Contexts: {', '.join(sorted(str(c) for c in contexts)) or 'none'}.",
        )
    clusters = {c.get("name"): c.get("cluster") or {} for c in doc.get("clusters") or []}
    server = str(clusters.get(contexts[name].get("cluster"), {}).get("server", ""))
    return name, server


def _split(cluster: str, body: _Body) -> tuple[dict[str, Any], dict[str, str]]:
    """The clear settings and the credentials of ``body``, checked (422 naming the field)."""
    if isinstance(body, OpenStackIn):
        try:
            entry = clouds_entry(body.clouds_yaml, cloud=body.cloud, source="clouds_yaml")
        except Error as exc:
            raise _refuse(cluster, "clouds_yaml", exc.message, exc.hint) from None
        # Only this cloud's entry is stored: another cloud's credentials have no business here.
        only = yaml.safe_dump({"clouds": {body.cloud: entry}}, sort_keys=True)
        cloud: dict[str, Any] = {
            "cloud": body.cloud,
            "auth_url": str(entry["auth"]["auth_url"]),
            "region": str(entry.get("region_name") or ""),
        }
        return cloud, {"clouds_yaml": only}
    if isinstance(body, VSphereIn):
        if urlsplit(body.url).scheme != "https":
            raise _refuse(cluster, "url", "must start with https://", "vCenter serves HTTPS.")
        secret = {"password": body.password}
        if body.ca is not None:
            _check_pem(cluster, "ca", body.ca, private=False)
            secret["ca"] = body.ca
        settings = {"url": body.url, "username": body.username, "verify_tls": body.verify_tls}
        return settings, secret
    if isinstance(body, DockerIn):
        scheme = urlsplit(body.host).scheme
        if scheme == "tcp" and body.tls is None:
            raise _refuse(
                cluster,
                "host",
                "a TCP endpoint needs mutual TLS",
                "Give tls.ca, tls.cert and tls.key (the engine runs with --tlsverify).",
            )
        if scheme == "unix" and body.tls is not None:
            raise _refuse(cluster, "tls", "a unix socket takes no TLS", "Drop tls.")
        if scheme not in ("unix", "tcp"):
            raise _refuse(
                cluster,
                "host",
                "must start with unix:// or tcp://",
                "Reach remote Docker engines over TCP with mutual TLS (Docker over SSH needs "
                "the server's own SSH set-up; the CLI's connections file supports it).",
            )
        for i, other in enumerate(body.fallback_hosts):
            if urlsplit(other).scheme != scheme:
                raise _refuse(
                    cluster,
                    f"fallback_hosts.{i}",
                    f"must start with {scheme}:// like host",
                    "Every manager endpoint of a cluster is reached the same way.",
                )
        if len({body.host, *body.fallback_hosts}) != 1 + len(body.fallback_hosts):
            raise _refuse(cluster, "fallback_hosts", "lists an endpoint twice", "Drop the copy.")
        creds: dict[str, str] = {}
        if body.tls is not None:
            _check_pem(cluster, "tls.ca", body.tls.ca, private=False)
            _check_pem(cluster, "tls.cert", body.tls.cert, private=False)
            _check_pem(cluster, "tls.key", body.tls.key, private=True)
            creds = {"tls.ca": body.tls.ca, "tls.cert": body.tls.cert, "tls.key": body.tls.key}
        docker: dict[str, Any] = {"host": body.host, "tls": body.tls is not None}
        if body.fallback_hosts:
            docker["fallback_hosts"] = body.fallback_hosts
        return docker, creds
    if isinstance(body, PodmanIn):
        return _split_podman(cluster, body)
    context, server = _kube_server(cluster, body.kubeconfig, body.context)
    return {"context": context, "server": server}, {"kubeconfig": body.kubeconfig}


def _podman_service(
    cluster: str, url: str, ssh_key: str | None, known_hosts: str | None, *, at: str = ""
) -> dict[str, Any]:
    """One Podman service's clear settings, checked; ``at`` prefixes the fields of a host."""
    scheme = urlsplit(url).scheme
    if scheme == "ssh":
        if ssh_key is None or known_hosts is None:
            raise _refuse(
                cluster,
                at + ("ssh_key" if ssh_key is None else "known_hosts"),
                "an SSH endpoint needs a private key and the host's known_hosts line",
                "Give ssh_key and known_hosts (`ssh-keyscan -p PORT HOST`).",
            )
        _check_ssh_key(cluster, ssh_key, field=at + "ssh_key")
        return {"url": url, "known_hosts": known_hosts}
    if scheme == "unix" or (url == LOCAL and not at):
        if ssh_key is not None or known_hosts is not None:
            raise _refuse(cluster, at + "ssh_key", "a local engine takes no SSH key", "Drop it.")
        return {"url": url}
    if url == LOCAL:
        raise _refuse(
            cluster,
            at + "url",
            "'local' cannot stand for one host of several",
            "Give each host's own Podman service (unix:// or ssh://).",
        )
    raise _refuse(
        cluster, at + "url", "must start with unix:// or ssh://, or be 'local'", "Fix the URL."
    )


def _split_podman(cluster: str, body: PodmanIn) -> tuple[dict[str, Any], dict[str, str]]:
    if (body.url is None) == (body.hosts is None):
        raise _refuse(
            cluster,
            "url",
            "give either url (one engine) or hosts (one engine per blueprint host)",
            "A Podman cluster of several hosts lists each host's service under hosts.",
        )
    if body.hosts is None:
        assert body.url is not None
        settings = _podman_service(cluster, body.url, body.ssh_key, body.known_hosts)
        return settings, ({"ssh_key": body.ssh_key} if body.ssh_key is not None else {})
    if body.ssh_key is not None or body.known_hosts is not None:
        raise _refuse(
            cluster, "ssh_key", "with hosts, each host takes its own key", "Move it under hosts."
        )
    hosts: dict[str, Any] = {}
    creds: dict[str, str] = {}
    for name, one in sorted(body.hosts.items()):
        at = f"hosts.{name}."
        hosts[name] = _podman_service(cluster, one.url, one.ssh_key, one.known_hosts, at=at)
        if one.ssh_key is not None:
            creds[f"{at}ssh_key"] = one.ssh_key
    return {"hosts": hosts}, creds


def endpoints_of(kind: str, settings: dict[str, Any]) -> list[str]:
    """Every endpoint a stored connection touches, one line each: a Podman cluster of several
    hosts has one per host (``host: url``), any other connection one."""
    if kind == "podman" and "hosts" in settings:
        return [f"{host}: {one['url']}" for host, one in settings["hosts"].items()]
    return [endpoint_of(kind, settings)]


def endpoint_of(kind: str, settings: dict[str, Any]) -> str:
    """A stored connection's endpoint in words (plans, logs, the console)."""
    if kind == "docker":
        hosts = [str(settings["host"]), *settings.get("fallback_hosts", ())]
        return docker_endpoint_words(hosts, tls=bool(settings.get("tls")))
    if kind == "vsphere":
        return f"{settings['url']} as {settings['username']}"
    if kind == "podman" and "hosts" in settings:
        return ", ".join(endpoints_of(kind, settings))
    if kind == "podman":
        return LOCAL_PODMAN if settings["url"] == LOCAL else str(settings["url"])
    if kind == "openstack":
        region = f", region {settings['region']}" if settings.get("region") else ""
        return f"clouds.yaml entry {settings['cloud']} ({settings['auth_url']}{region})"
    server = settings.get("server") or "the API server"
    return f"{server} (kubeconfig context {settings['context']})"


def _out(row: ClusterConnection) -> ConnectionOut:
    return ConnectionOut(
        cluster=row.cluster,
        kind=row.kind,
        endpoint=endpoint_of(row.kind, row.settings),
        endpoints=endpoints_of(row.kind, row.settings),
        settings=row.settings,
        credential_keys=row.credential_keys,
        version=row.version,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


def put_connection(
    ctx: ServerContext,
    *,
    environment: str,
    cluster: str,
    body: _Body,
    actor: Actor,
) -> ConnectionOut:
    """Create or replace ``cluster``'s connection (a new version); credentials are sealed."""
    settings, creds = _split(cluster, body)

    def fill(row: ClusterConnection) -> None:
        row.kind, row.settings, row.credential_keys = body.kind, settings, sorted(creds)

    def done(s: Session, row: ClusterConnection) -> ConnectionOut:
        # The endpoint and the names of the credentials, never a credential.
        audit.record(
            s,
            actor,
            "connection.put",
            target=f"connection/{environment}/{cluster}",
            detail={
                "kind": row.kind,
                "endpoint": endpoint_of(row.kind, settings),
                "credentials": row.credential_keys,
                "version": row.version,
            },
        )
        return _out(row)

    return upsert_sealed(
        ctx,
        ClusterConnection,
        environment=environment,
        name=cluster,
        plain=creds,
        aad=_aad(environment, cluster),
        actor=actor,
        fill=fill,
        done=done,
    )


def _row(s: Any, environment: str, cluster: str) -> ClusterConnection | None:
    env = environment_row(s, environment)
    row: ClusterConnection | None = s.execute(
        select(ClusterConnection).where(
            ClusterConnection.environment_id == env.id, ClusterConnection.cluster == cluster
        )
    ).scalar_one_or_none()
    return row


def list_connections(ctx: ServerContext, *, environment: str) -> list[ConnectionOut]:
    """Every connection of an environment (no credential)."""
    with ctx.db.session() as s:
        env = environment_row(s, environment)
        rows = s.execute(
            select(ClusterConnection)
            .where(ClusterConnection.environment_id == env.id)
            .order_by(ClusterConnection.cluster)
        ).scalars()
        return [_out(r) for r in rows]


def get_connection(ctx: ServerContext, *, environment: str, cluster: str) -> ConnectionOut:
    """One connection (no credential), or 404."""
    with ctx.db.session() as s:
        row = _row(s, environment, cluster)
        if row is None:
            raise NotFound(f"No connection for cluster {cluster!r} in {environment!r}.")
        return _out(row)


def delete_connection(ctx: ServerContext, *, environment: str, cluster: str, actor: Actor) -> None:
    """Remove a connection: the cluster cannot be deployed to until one is stored again."""
    with ctx.db.session() as s:
        row = _row(s, environment, cluster)
        if row is None:
            raise NotFound(f"No connection for cluster {cluster!r} in {environment!r}.")
        s.delete(row)
        audit.record(s, actor, "connection.delete", target=f"connection/{environment}/{cluster}")


class NoConnection(DeployError):
    """A deployment names a cluster the environment stores no (fitting) connection for."""


@dataclass(frozen=True)
class Opened:
    """A connection opened for one job: the deploy layer's :class:`Connection` (credential
    files in a private directory that is removed afterwards), its endpoint and version."""

    cluster: str
    #: None: the engine of the server's own machine, which the stored connection names.
    connection: Connection | None
    endpoint: str
    version: int
    #: Every endpoint touched, one line each (a Podman cluster of several hosts: one a host).
    endpoints: tuple[str, ...] = ()


def _file_name(key: str) -> str | None:
    """The file a stored credential is opened into (a host's SSH key: ``id-<host>``); None
    for a document opened under its own name (kubeconfig, clouds.yaml)."""
    if key.startswith("hosts.") and key.endswith(".ssh_key"):
        return "id-" + key.removeprefix("hosts.").removesuffix(".ssh_key")
    return _FILES.get(key)


def _podman_endpoint(
    root: Path, settings: dict[str, Any], identity: Path | None, host: str
) -> PodmanEndpoint:
    """One Podman service's endpoint, its pinned host key written beside its SSH key."""
    known = (
        _write_private(root / f"known_hosts{'-' + host if host else ''}", settings["known_hosts"])
        if settings.get("known_hosts")
        else None
    )
    return PodmanEndpoint(url=settings["url"], identity=identity, known_hosts=known)


def _write_private(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text if text.endswith("\n") else text + "\n")
    return path


@contextmanager
def opened(ctx: ServerContext, *, environment: str, cluster: str, target: str) -> Iterator[Opened]:
    """The stored connection of ``cluster`` for ``target``, with its credentials written to a
    private directory for the length of the ``with`` block; :class:`NoConnection` naming the
    cluster when none is stored or it is of another kind."""
    with ctx.db.session() as s:
        row = _row(s, environment, cluster)
        if row is None:
            raise NoConnection(
                f"cluster {cluster!r} has no connection in environment {environment!r}; "
                "the server deploys only to clusters it has a connection for",
                hint=f"An administrator of {environment!r} stores one: PUT "
                f"/api/v1/environments/{environment}/connections/{cluster}",
            )
        kind, settings, version = row.kind, dict(row.settings), row.version
        sealed = Sealed.from_bytes(row.sealed)
    want = KIND_OF_TARGET.get(target, target)
    if kind != want:
        raise NoConnection(
            f"cluster {cluster!r} is a {target} cluster, but its stored connection is a {kind} "
            "endpoint",
            hint=f"Store a {want} connection for it.",
        )
    creds: dict[str, str] = json.loads(ctx.keyring.open(sealed, aad=_aad(environment, cluster)))
    with tempfile.TemporaryDirectory(prefix="attonix-connection-") as tmp:
        root = Path(tmp)  # mkdtemp: mode 0700, owned by the server's user
        files = {
            k: _write_private(root / name, v)
            for k, v in creds.items()
            if (name := _file_name(k)) is not None
        }
        if kind == "docker":
            tls = (
                TlsFiles(ca=files["tls.ca"], cert=files["tls.cert"], key=files["tls.key"])
                if settings.get("tls")
                else None
            )
            endpoint = DockerEndpoint(
                host=settings["host"],
                fallback_hosts=tuple(settings.get("fallback_hosts", ())),
                tls=tls,
            )
            conn: Connection | None = Connection(docker=endpoint)
        elif kind == "vsphere":
            conn = Connection(
                vsphere=VSphereEndpoint(
                    url=settings["url"],
                    username=settings["username"],
                    password_file=files["password"],
                    ca=files.get("ca"),
                    verify_tls=settings["verify_tls"],
                )
            )
        elif kind == "openstack":
            clouds = _write_private(root / "clouds.yaml", creds["clouds_yaml"])
            conn = Connection(
                openstack=OpenStackEndpoint(cloud=settings["cloud"], clouds_file=clouds)
            )
        elif kind == "podman" and settings.get("url") == LOCAL:
            conn = None
        elif kind == "podman" and "hosts" in settings:
            conn = Connection(
                podman=PodmanHosts(
                    hosts={
                        host: _podman_endpoint(root, one, files.get(f"hosts.{host}.ssh_key"), host)
                        for host, one in settings["hosts"].items()
                    }
                )
            )
        elif kind == "podman":
            conn = Connection(podman=_podman_endpoint(root, settings, files.get("ssh_key"), ""))
        else:
            kubeconfig = _write_private(root / "kubeconfig", creds["kubeconfig"])
            conn = Connection(
                kubernetes=KubernetesEndpoint(kubeconfig=kubeconfig, context=settings["context"])
            )
        yield Opened(
            cluster,
            conn,
            endpoint_of(kind, settings),
            version,
            tuple(endpoints_of(kind, settings)),
        )


def check_connection(ctx: ServerContext, *, environment: str, cluster: str) -> ConnectionCheckOut:
    """Reach ``cluster``'s engine with the stored credentials now, and say how it went."""
    stored = get_connection(ctx, environment=environment, cluster=cluster)
    target = next(t for t, k in KIND_OF_TARGET.items() if k == stored.kind)
    try:
        with opened(ctx, environment=environment, cluster=cluster, target=target) as conn:
            probe(conn.connection, cluster=cluster)
    except Error as exc:
        return ConnectionCheckOut(
            cluster=cluster, endpoint=stored.endpoint, ok=False, message=exc.message, hint=exc.hint
        )
    return ConnectionCheckOut(cluster=cluster, endpoint=stored.endpoint, ok=True)
