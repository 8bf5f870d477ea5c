"""The Central Server in high availability, on loopback, with real processes.

Started here, in a temporary directory, and torn down afterwards:

- a PostgreSQL primary and a streaming standby (``initdb``, ``pg_basebackup -R``, synchronous
  replication, on spare loopback ports, run as the ``postgres`` user);
- three ``attonix serve`` API replicas, bound to the addresses of hosts ``api-a``, ``api-b``,
  ``api-c`` of ``tests/ha/blueprint.yaml`` (127.0.0.11-13, one port);
- two ``attonix worker`` processes;
- HAProxy running the configuration Attonix renders for the load balancer ``lb-edge`` of that
  blueprint (``render.chef.haproxy``: TLS terminated there, health checks, retries, redispatch),
  on its virtual IP 127.0.0.10, with a self-signed certificate made here in the directory the
  renderer is given. Only the stats socket path is moved into the temporary directory,
  HAProxy runs in the foreground (``-db``) with at most 4,000 connections (``-n``: the rendered
  ``maxconn 20000`` needs ~40,000 descriptors, more than this machine's hard limit);
- bounded load: :class:`Load` runs request loops bounded in count and in time.

The server reaches the database through one multi-host URL with
``target_session_attrs=read-write``, so a promoted standby is found without reconfiguration.

Run by hand: ``python tests/ha/harness.py`` starts everything, prints the endpoints and waits for
Ctrl-C (``scripts/ha-harness.sh`` runs the fault-injection suite).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
BLUEPRINT = Path(__file__).with_name("blueprint.yaml")


def _pg_bin() -> Path:
    """The newest installed PostgreSQL server's binaries (``ATTONIX_PG_BIN`` overrides)."""
    if os.environ.get("ATTONIX_PG_BIN"):
        return Path(os.environ["ATTONIX_PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name or 0))
    return found[-1] if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()
API_PORT = 38480  # the service port in blueprint.yaml
LB_URL = "https://127.0.0.10:38443"  # lb-edge's virtual IP and frontend port (TLS ends there)
REPLICAS = {"api-a": "127.0.0.11", "api-b": "127.0.0.12", "api-c": "127.0.0.13"}
SIGNING_KEY = "ha-harness-signing-key-" + "s" * 32
PASSWORD = "Correct-Horse-Battery-42"


#: The certificate lb-edge presents (self-signed, made by the running cluster); clients of
#: LB_URL trust it, and nothing else.
LB_TRUST: dict[str, ssl.SSLContext] = {}


def verify(base_url: str) -> Any:
    """What an httpx client of ``base_url`` verifies TLS with (lb-edge's certificate)."""
    if base_url.startswith("https://"):
        return LB_TRUST["ca"]
    return True


def lb_client(**kwargs: Any) -> httpx.Client:
    """A client of lb-edge (HTTPS, trusting its certificate)."""
    return httpx.Client(base_url=LB_URL, verify=verify(LB_URL), **kwargs)


def free_port() -> int:
    """A TCP port nothing listens on at 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_free(host: str, port: int) -> bool:
    """Whether ``host:port`` can be bound."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def wait_until(what: str, check: Callable[[], bool], *, timeout: float) -> float:
    """Poll ``check`` until true; return the seconds it took, or raise after ``timeout``."""
    start = time.monotonic()
    while True:
        with contextlib.suppress(Exception):
            if check():
                return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{what}: not after {timeout:.0f}s")
        time.sleep(0.1)


@dataclasses.dataclass
class Proc:
    """One child process (its own process group) with its output in a log file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it (again)."""
        out = self.log.open("ab")
        self.popen = subprocess.Popen(
            self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        out.close()

    @property
    def pid(self) -> int:
        """Its process id."""
        assert self.popen is not None
        return self.popen.pid

    @property
    def alive(self) -> bool:
        """Whether it is running."""
        return self.popen is not None and self.popen.poll() is None

    def kill9(self) -> None:
        """SIGKILL the process (no clean-up: a crash)."""
        if self.alive:
            assert self.popen is not None
            self.popen.kill()
            self.popen.wait(10)

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM, wait up to ``timeout``, then SIGKILL; return the exit code."""
        if self.popen is None:
            return None
        if self.alive:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        return self.popen.returncode


def _as_postgres(*argv: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv]


@dataclasses.dataclass
class Postgres:
    """One PostgreSQL server in ``data`` on ``port`` (run as the postgres user)."""

    data: Path
    port: int
    log: Path

    def ctl(self, *args: str, timeout: float = 60) -> None:
        """Run ``pg_ctl`` on this server."""
        subprocess.run(
            _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), *args),
            check=True,
            timeout=timeout,
            capture_output=True,
        )

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        self.ctl("-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop (``immediate`` is a crash: no shutdown checkpoint)."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self.ctl("-w", "-m", mode, "stop")

    def promote(self) -> None:
        """Turn this standby into a primary."""
        self.ctl("-w", "promote")

    def psql(self, sql: str, db: str = "postgres") -> str:
        """One statement's result (unaligned, tuples only)."""
        out = subprocess.run(
            [
                str(PG_BIN / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                db,
                "-Atc",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        )
        return out.stdout.strip()


@dataclasses.dataclass
class Result:
    """What a bounded load produced."""

    sent: int = 0
    statuses: Counter[int] = dataclasses.field(default_factory=Counter)
    errors: Counter[str] = dataclasses.field(default_factory=Counter)
    latencies: list[float] = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> int:
        """Requests without a 2xx answer (connection errors, 5xx, anything unexpected)."""
        return self.sent - sum(n for code, n in self.statuses.items() if 200 <= code < 300)

    def summary(self) -> dict[str, Any]:
        """Figures for the record."""
        lat = sorted(self.latencies) or [0.0]
        return {
            "requests": self.sent,
            "failed": self.failed,
            "statuses": dict(self.statuses),
            "errors": dict(self.errors),
            "seconds": round(self.seconds, 2),
            "p50_ms": round(lat[len(lat) // 2] * 1000, 1),
            "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 1),
            "max_ms": round(lat[-1] * 1000, 1),
        }


class Load:
    """Request loops in threads, each bounded in count and in time; stop early with stop()."""

    def __init__(
        self,
        request: Callable[[httpx.Client], httpx.Response],
        *,
        clients: int = 4,
        max_requests: int = 5000,
        max_seconds: float = 60,
        base_url: str = LB_URL,
    ) -> None:
        """Prepare ``clients`` loops that call ``request`` (not started)."""
        self.request, self.clients, self.base_url = request, clients, base_url
        self.max_requests, self.max_seconds = max_requests, max_seconds
        self.result = Result()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._start = 0.0

    def _loop(self) -> None:
        deadline = self._start + self.max_seconds
        with httpx.Client(
            base_url=self.base_url, timeout=10, verify=verify(self.base_url)
        ) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                with self._lock:
                    if self.result.sent >= self.max_requests:
                        return
                    self.result.sent += 1
                t0 = time.monotonic()
                try:
                    code = self.request(client).status_code
                    with self._lock:
                        self.result.statuses[code] += 1
                        self.result.latencies.append(time.monotonic() - t0)
                except httpx.HTTPError as exc:
                    with self._lock:
                        self.result.errors[type(exc).__name__] += 1

    def __enter__(self) -> Load:
        """Start the loops."""
        self._start = time.monotonic()
        for i in range(self.clients):
            t = threading.Thread(target=self._loop, name=f"load-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def wait(self) -> Result:
        """Wait until every loop reached its bound; the result."""
        for t in self._threads:
            t.join(self.max_seconds + 30)
        self.result.seconds = time.monotonic() - self._start
        return self.result

    def __exit__(self, *exc: object) -> None:
        """Stop the loops and wait for them."""
        self._stop.set()
        for t in self._threads:
            t.join(30)
        self.result.seconds = time.monotonic() - self._start


class Cluster:
    """Everything of the module docstring, in ``root`` (a fresh temporary directory)."""

    def __init__(self, root: Path, *, extra_env: dict[str, str] | None = None) -> None:
        """Lay out the directories; nothing runs until :meth:`start`."""
        self.root = root
        self.primary = Postgres(root / "pg-primary", free_port(), root / "pg-primary.log")
        self.standby = Postgres(root / "pg-standby", free_port(), root / "pg-standby.log")
        hosts = "127.0.0.1,127.0.0.1"
        ports = f"{self.primary.port},{self.standby.port}"
        self.database_url = (
            f"postgresql+psycopg://postgres@/attonix?host={hosts}&port={ports}"
            "&target_session_attrs=read-write&connect_timeout=3"
        )
        from attonix.server.security.envelope import KeyRing

        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
            "ATTONIX_DATABASE_URL": self.database_url,
            "ATTONIX_SIGNING_KEY": SIGNING_KEY,
            "ATTONIX_KEK": KeyRing.generate_line("ha"),
            # Every replica chains the audit trail with the same key, as they share the KEK.
            "ATTONIX_AUDIT_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
            "ATTONIX_RUN_WORKERS": "false",
            "ATTONIX_AUTO_MIGRATE": "false",
            "ATTONIX_TRUSTED_PROXIES": '["127.0.0.1"]',
            "ATTONIX_LOGIN_MAX_FAILURES": "3",
            "ATTONIX_LOGIN_IP_MAX_ATTEMPTS": "8",
            "ATTONIX_LOGIN_IP_WINDOW_SECONDS": "60",
            "ATTONIX_JOB_STALE_SECONDS": "5",
            "ATTONIX_WORKER_POLL_SECONDS": "0.2",
            "ATTONIX_LEADER_LOCK_SECONDS": "1",
            "ATTONIX_SHUTDOWN_DRAIN_SECONDS": "3",
            "ATTONIX_TWO_PERSON_RULE": "[]",
            "ATTONIX_STATE_DIR": str(root / "deploy-state"),
            "ATTONIX_LOG_LEVEL": "warning",
            **(extra_env or {}),
        }
        py = [sys.executable, "-m", "attonix"]
        self.replicas = {
            name: Proc(
                name,
                [*py, "serve", "--host", addr, "--port", str(API_PORT)],
                {**self.env, "ATTONIX_DATA_DIR": str(root / name)},
                root / f"{name}.log",
            )
            for name, addr in REPLICAS.items()
        }
        self.workers = [
            Proc(
                f"worker-{i}",
                [*py, "worker"],
                {**self.env, "ATTONIX_DATA_DIR": str(root / f"worker-{i}")},
                root / f"worker-{i}.log",
            )
            for i in (1, 2)
        ]
        self.haproxy_cfg = root / "haproxy.cfg"
        self.haproxy = Proc(
            "haproxy",
            # -n: the rendered ``maxconn 20000`` needs ~40,000 descriptors; this machine's hard
            # limit is 20,000 (a host's systemd unit allows more), so cap connections here.
            ["haproxy", "-db", "-n", "4000", "-f", str(self.haproxy_cfg)],
            dict(os.environ),
            root / "haproxy.log",
        )

    # ------------------------------------------------------------------ database

    def start_database(self) -> None:
        """initdb the primary, base-backup the standby, start both, create the database."""
        self.root.chmod(0o755)
        for pg in (self.primary, self.standby):
            pg.log.touch()
            pg.data.mkdir(mode=0o700)
            for path in (pg.log, pg.data):
                shutil.chown(path, "postgres", "postgres")
        sockets = self.root / "pg-sockets"
        sockets.mkdir()
        shutil.chown(sockets, "postgres", "postgres")
        subprocess.run(
            _as_postgres(
                str(PG_BIN / "initdb"),
                "-D",
                str(self.primary.data),
                "-A",
                "trust",
                "-U",
                "postgres",
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        common = (
            "listen_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{sockets}'\n"
            "max_connections = 200\n"
            "shared_buffers = 32MB\n"
            "wal_level = replica\n"
            "max_wal_senders = 5\n"
            "hot_standby = on\n"
            "fsync = on\n"
            # Every acknowledged commit is on the standby too: a crashed primary loses nothing.
            "synchronous_standby_names = '*'\n"
            "synchronous_commit = on\n"
        )
        conf = self.primary.data / "postgresql.conf"
        with conf.open("a") as fh:
            fh.write(common + f"port = {self.primary.port}\n")
        self.primary.start()
        subprocess.run(
            _as_postgres(
                str(PG_BIN / "pg_basebackup"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.primary.port),
                "-U",
                "postgres",
                "-D",
                str(self.standby.data),
                "-R",
                "-X",
                "stream",
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        with (self.standby.data / "postgresql.conf").open("a") as fh:
            # Once promoted it has no standby of its own: it must not wait for one.
            fh.write(f"port = {self.standby.port}\nsynchronous_standby_names = ''\n")
        self.standby.start()
        wait_until(
            "standby streaming",
            lambda: self.primary.psql("SELECT count(*) FROM pg_stat_replication") == "1",
            timeout=30,
        )
        self.primary.psql("CREATE DATABASE attonix")
        self.cli("db", "upgrade")

    def cli(self, *args: str) -> str:
        """Run ``attonix ARGS`` against the cluster's database; its standard output."""
        out = subprocess.run(
            [sys.executable, "-m", "attonix", *args],
            env={**self.env, "ATTONIX_DATA_DIR": str(self.root / "cli")},
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return out.stdout

    # ------------------------------------------------------------------ servers

    def make_certificate(self) -> None:
        """A self-signed certificate for lb-edge's virtual IP, where the rendered file wants
        it (``certs/lb-edge.pem``: certificate then key)."""
        certs = self.root / "certs"
        certs.mkdir()
        subprocess.run(
            [
                *("openssl", "req", "-x509", "-newkey", "ec"),
                *("-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"),
                *("-keyout", str(certs / "key.pem"), "-out", str(certs / "cert.pem")),
                *("-subj", "/CN=lb-edge", "-addext", "subjectAltName=IP:127.0.0.10"),
            ],
            check=True,
            capture_output=True,
        )
        pem = (certs / "cert.pem").read_text() + (certs / "key.pem").read_text()
        (certs / "lb-edge.pem").write_text(pem)
        LB_TRUST["ca"] = ssl.create_default_context(cafile=certs / "cert.pem")

    def render_haproxy(self) -> str:
        """lb-edge's haproxy.cfg as Attonix renders it (certificates in ``root/certs``), the
        stats socket moved into ``root``."""
        from attonix.render.chef.haproxy import haproxy_config, haproxy_lbs
        from attonix.server import pipeline

        bp = pipeline.load(BLUEPRINT.read_text(encoding="utf-8"), filename=BLUEPRINT.name)
        lbs = [lb for lb in haproxy_lbs(bp.blueprint) if lb.name == "lb-edge"]
        text = haproxy_config(bp.blueprint, lbs, cert_dir=str(self.root / "certs"))
        return text.replace("/run/haproxy/admin.sock", str(self.root / "haproxy.sock"))

    def replica_url(self, name: str) -> str:
        """A replica's own URL (bypassing the load balancer)."""
        return f"http://{REPLICAS[name]}:{API_PORT}"

    def replica_ready(self, name: str) -> bool:
        """Whether a replica answers /readyz with 200."""
        try:
            return httpx.get(f"{self.replica_url(name)}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def start_replica(self, name: str) -> float:
        """Start one replica; the seconds until it is ready."""
        self.replicas[name].start()
        return wait_until(f"{name} ready", lambda: self.replica_ready(name), timeout=60)

    def lb_sees(self, name: str, *, up: bool, timeout: float = 20) -> float:
        """Wait until HAProxy's health checks mark ``name`` up (or down); the seconds taken."""

        def state() -> bool:
            out = self.haproxy_command("show servers state lb-edge-api")
            for line in out.splitlines():
                parts = line.split()
                if len(parts) > 5 and parts[3] == name:
                    return (parts[5] == "2") == up  # srv_op_state 2: running
            return False

        return wait_until(f"lb-edge sees {name} {'up' if up else 'down'}", state, timeout=timeout)

    def haproxy_command(self, command: str) -> str:
        """One command on HAProxy's stats socket; its answer."""
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(5)
            s.connect(str(self.root / "haproxy.sock"))
            s.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def start(self) -> None:
        """Start everything and wait until the load balancer answers through every replica."""
        busy = [f"{a}:{API_PORT}" for a in REPLICAS.values() if not port_free(a, API_PORT)]
        if not port_free("127.0.0.10", 38443):
            busy.append("127.0.0.10:38443")
        if busy:
            raise RuntimeError(f"ports in use (another HA run?): {', '.join(busy)}")
        self.start_database()
        self.make_certificate()
        self.haproxy_cfg.write_text(self.render_haproxy(), encoding="utf-8")
        subprocess.run(
            ["haproxy", "-c", "-f", str(self.haproxy_cfg)], check=True, capture_output=True
        )
        for name in self.replicas:
            self.replicas[name].start()
        for name in self.replicas:
            wait_until(f"{name} ready", lambda n=name: self.replica_ready(n), timeout=60)
        for w in self.workers:
            w.start()
        self.haproxy.start()
        for name in self.replicas:
            self.lb_sees(name, up=True)

    def stop(self) -> None:
        """Stop every process and database started here (each by its own pid)."""
        with contextlib.suppress(Exception):
            self.haproxy.stop(10)
        for p in [*self.workers, *self.replicas.values()]:
            with contextlib.suppress(Exception):
                p.stop(15)
        for pg in (self.standby, self.primary):
            pg.stop("immediate")

    # ------------------------------------------------------------------ accounts

    def user(self, name: str, *, admin: bool = False) -> str | None:
        """Create a ready account directly in the database; its TOTP secret if it has MFA."""
        from attonix.server.context import build_context
        from attonix.server.db.models import User
        from attonix.server.security import hash_password
        from attonix.server.security.totp import new_totp_secret
        from attonix.server.settings import Settings

        settings = Settings(
            database_url=self.database_url,
            signing_key=SIGNING_KEY,
            kek=self.env["ATTONIX_KEK"],
            audit_key=self.env["ATTONIX_AUDIT_KEY"],
            data_dir=self.root / "cli",
            run_workers=False,
        )
        ctx = build_context(settings)
        secret = new_totp_secret() if admin else None
        try:
            with ctx.db.session() as s:
                user = User(
                    name=name,
                    email=f"{name}@example.test",
                    password_hash=hash_password(PASSWORD),
                    is_admin=admin,
                )
                s.add(user)
                s.flush()
                if secret:
                    user.mfa_enabled = True
                    user.mfa_secret = ctx.keyring.seal(
                        secret.encode(), aad=f"mfa:{user.id}".encode()
                    ).to_bytes()
        finally:
            ctx.db.dispose()
        return secret


def login(
    base_url: str, name: str, *, secret: str | None = None, client_ip: str = "192.0.2.1"
) -> str:
    """Sign in through ``base_url``; the access token."""
    headers = {"X-Forwarded-For": client_ip}
    from attonix.server.security.totp import totp_now

    with httpx.Client(base_url=base_url, timeout=10, headers=headers, verify=verify(base_url)) as c:
        r = c.post("/api/v1/auth/login", json={"username": name, "password": PASSWORD})
        r.raise_for_status()
        body = r.json()
        if body["mfa_required"]:
            assert secret is not None
            r = c.post(
                "/api/v1/auth/mfa", json={"mfa_token": body["mfa_token"], "code": totp_now(secret)}
            )
            r.raise_for_status()
            return str(r.json()["access_token"])
        return str(body["tokens"]["access_token"])


@contextlib.contextmanager
def cluster(**kwargs: Any) -> Iterator[Cluster]:
    """A started :class:`Cluster` in a fresh temporary directory, always torn down."""
    root = Path(tempfile.mkdtemp(prefix="attonix-ha-"))
    c = Cluster(root, **kwargs)
    try:
        c.start()
        yield c
    finally:
        c.stop()
        if os.environ.get("ATTONIX_HA_KEEP") != "1":
            shutil.rmtree(root, ignore_errors=True)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Start the cluster, print its endpoints, wait for Ctrl-C (or SIGTERM), tear it down."""
    signal.signal(signal.SIGTERM, _interrupt)
    with cluster() as c:
        print(f"lb-edge:   {LB_URL}  (haproxy.cfg: {c.haproxy_cfg})")
        for name in c.replicas:
            print(f"{name}:     {c.replica_url(name)}")
        print(f"database:  {c.database_url}")
        print(f"logs:      {c.root}")
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(1)


if __name__ == "__main__":
    main()
