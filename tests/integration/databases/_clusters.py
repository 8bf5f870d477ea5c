"""Throwaway PostgreSQL and MariaDB servers on spare loopback ports, for the database tests.

Each server lives in its own temporary directory, runs as the service user, has TLS with a
self-signed certificate, and is stopped by its pid (never the machine's shared servers).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as(user: str, argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", user, "--", *argv], check=True, capture_output=True, text=True, **kw
    )


def make_cert(directory: Path, owner: str) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (key readable by ``owner`` only)."""
    crt, key = directory / "server.crt", directory / "server.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(crt),
        ],
        check=True,
        capture_output=True,
    )
    info = pwd.getpwnam(owner)
    for p in (crt, key):
        os.chown(p, info.pw_uid, info.pw_gid)
    key.chmod(0o600)
    return crt, key


@dataclass
class PgServer:
    """A running throwaway PostgreSQL cluster."""

    data: Path
    port: int
    cert: Path
    superuser: str = "attonix_admin"
    password: str = "admin-secret-for-tests"

    def dsn(self, dbname: str = "postgres", **extra: str) -> str:
        parts = {
            "host": "127.0.0.1",
            "port": str(self.port),
            "dbname": dbname,
            "user": self.superuser,
            "password": self.password,
            "sslmode": "require",
            **extra,
        }
        return " ".join(f"{k}={v}" for k, v in parts.items())

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            _as(
                "postgres",
                [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
            )


def start_pg(
    base: Path,
    *,
    hba: list[str],
    conf: dict[str, str] | None = None,
    name: str = "pg",
    init: bool = True,
    port: int | None = None,
) -> PgServer:
    """initdb (unless ``init`` is False: the directory holds a base backup), configure, start."""
    data = base / name
    port = port or free_port()
    if init:
        data.mkdir(mode=0o700)
        shutil.chown(data, "postgres", "postgres")
        pwfile = base / f"{name}.pw"
        pwfile.write_text(PgServer.password + "\n")
        shutil.chown(pwfile, "postgres", "postgres")
        _as(
            "postgres",
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(data),
                "-U",
                PgServer.superuser,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )
    crt, key = make_cert(data, "postgres")
    settings = {
        "port": str(port),
        "listen_addresses": "'127.0.0.1'",
        "unix_socket_directories": f"'{data}'",
        "ssl": "on",
        "ssl_cert_file": f"'{crt}'",
        "ssl_key_file": f"'{key}'",
        "fsync": "off",
        "max_connections": "200",
        "password_encryption": "'scram-sha-256'",
        **(conf or {}),
    }
    with (data / "postgresql.auto.conf").open("a") as fh:
        fh.writelines(f"{k} = {v}\n" for k, v in settings.items())
    (data / "pg_hba.conf").write_text("\n".join(hba) + "\n")
    _as(
        "postgres",
        [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(data / "server.log"), "-w", "start"],
    )
    return PgServer(data=data, port=port, cert=crt)


@contextlib.contextmanager
def running_pg(prefix: str, *, hba: list[str]) -> Iterator[PgServer]:
    """A throwaway PostgreSQL server (initdb, TLS, a free port) for the ``with`` block."""
    with temp_base(prefix) as base:
        server = start_pg(base, hba=hba)
        try:
            yield server
        finally:
            server.stop()


@contextlib.contextmanager
def temp_base(prefix: str) -> Iterator[Path]:
    """A temporary directory the service users can enter."""
    base = Path(tempfile.mkdtemp(prefix=prefix))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@dataclass
class MariaServer:
    """A running throwaway MariaDB server."""

    data: Path
    port: int
    proc: subprocess.Popen[bytes]
    socket: Path
    admin: str = "attonix_admin"
    password: str = "maria-admin-secret-for-tests"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def start_mariadb(base: Path) -> MariaServer:
    """mariadb-install-db into ``base``, then mariadbd with TLS on a spare port."""
    data = base / "maria"
    data.mkdir()
    shutil.chown(data, "mysql", "mysql")
    subprocess.run(
        [
            "mariadb-install-db",
            "--user=mysql",
            f"--datadir={data}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
        ],
        check=True,
        capture_output=True,
    )
    crt, key = make_cert(base, "mysql")
    port = free_port()
    sock = data / "maria.sock"
    proc = subprocess.Popen(
        [
            "/usr/sbin/mariadbd",
            "--no-defaults",
            "--user=mysql",
            f"--datadir={data}",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            f"--socket={sock}",
            f"--pid-file={data / 'maria.pid'}",
            f"--ssl-cert={crt}",
            f"--ssl-key={key}",
            "--skip-name-resolve",
            "--innodb-buffer-pool-size=32M",
            "--skip-log-bin",
            f"--log-error={data / 'maria.err'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            break
        time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError((data / "maria.err").read_text())
    server = MariaServer(data=data, port=port, proc=proc, socket=sock)
    subprocess.run(
        [
            "mariadb",
            f"--socket={sock}",
            "-uroot",
            "-e",
            f"CREATE USER {server.admin}@'127.0.0.1' IDENTIFIED BY '{server.password}';"
            f"GRANT ALL ON *.* TO {server.admin}@'127.0.0.1' WITH GRANT OPTION",
        ],
        check=True,
        capture_output=True,
    )
    return server


def start_standby(base: Path, primary: PgServer, *, name: str = "standby") -> PgServer:
    """A streaming standby of ``primary``: pg_basebackup -R, then start on its own port."""
    data = base / name
    data.mkdir(mode=0o700)
    shutil.chown(data, "postgres", "postgres")
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            "env",
            f"PGPASSWORD={primary.password}",
            str(PG_BIN / "pg_basebackup"),
            "-D",
            str(data),
            "-R",
            "-X",
            "stream",
            "-h",
            "127.0.0.1",
            "-p",
            str(primary.port),
            "-U",
            primary.superuser,
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return start_pg(
        base, hba=PRIMARY_HBA, conf={"cluster_name": f"'{name}'"}, name=name, init=False
    )


#: A primary that accepts streaming replication from loopback.
PRIMARY_HBA = [
    "local all all scram-sha-256",
    "host replication all 127.0.0.1/32 scram-sha-256",
    "hostnossl atx_orders all 127.0.0.1/32 reject",
    "host all all 127.0.0.1/32 scram-sha-256",
]
