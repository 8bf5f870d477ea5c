"""A throwaway Ceph cluster on loopback: one mon, one mgr, three memstore OSDs, one metadata
server (standby until the driver makes a CephFS) and one radosgw.

Everything (data, run dir, sockets, logs, keyrings) lives in one temporary directory; the
daemons are stopped by their pids. The CRUSH map puts each OSD under its own host, rack and
zone, so that replicated rules with any of the blueprint's failure domains place three copies.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class CephCluster:
    """A running cluster: its config file, admin keyring and radosgw endpoint."""

    root: Path
    conf: Path
    keyring: Path
    rgw_port: int
    pids: list[int] = field(default_factory=list)

    @property
    def rgw_url(self) -> str:
        return f"http://127.0.0.1:{self.rgw_port}"

    def ceph(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            ["ceph", "-c", str(self.conf), "-k", str(self.keyring), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"ceph {' '.join(args)}: {done.stderr}")
        return done.stdout

    def rados(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            ["rados", "-c", str(self.conf), "-k", str(self.keyring), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"rados {' '.join(args)}: {done.stderr}")
        return done.stdout

    def ceph_json(self, *args: str) -> object:
        return json.loads(self.ceph(*args, "--format", "json"))

    def restart_rgw(self) -> None:
        """Restart the radosgw (started last), as an operator does after a new placement target
        in a gateway without a realm."""
        pid_file = self.root / "run" / "client.rgw.x.pid"
        _stop(self.pids.pop())
        pid_file.unlink(missing_ok=True)
        _run("radosgw", "-c", str(self.conf), "-n", "client.rgw.x")
        self.pids.append(_pid(pid_file))
        _wait_rgw(self)

    def stop(self) -> None:
        # A daemon that respawns (the metadata server does when its filesystem is failed and
        # removed) daemonizes again under a new pid, which its pid file then holds.
        for pid_file in sorted((self.root / "run").glob("*.pid")):
            with contextlib.suppress(OSError, ValueError):
                pid = int(pid_file.read_text().strip())
                # Only a daemon of this cluster (a stale file's pid may be reused).
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                if str(self.conf).encode() in cmdline and pid not in self.pids:
                    self.pids.append(pid)
        for pid in reversed(self.pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        for pid in self.pids:
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _stop(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _run(*argv: str) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr}")
    return done.stdout


def _pid(path: Path) -> int:
    for _ in range(200):
        if path.exists() and path.read_text().strip():
            return int(path.read_text().strip())
        time.sleep(0.05)
    raise RuntimeError(f"no pid file {path}")


def start(root: Path) -> CephCluster:
    """Create and start the cluster in ``root`` (about 20 s)."""
    fsid = str(uuid.uuid4())
    mon_port, rgw_port = _free_port(), _free_port()
    for sub in ("run", "log", "crash", "mon", "mgr/ceph-x", "osd", "mds/ceph-a", "rgw"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    conf = root / "ceph.conf"
    conf.write_text(
        f"""[global]
fsid = {fsid}
mon host = v1:127.0.0.1:{mon_port}
mon initial members = a
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
osd crush chooseleaf type = 0
osd crush update on start = true
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool delete = true
# A test cluster on one machine: propose map changes at once instead of batching for 1 s.
paxos propose interval = 0.05
paxos min wait = 0.01
# Each CRUSH change is first tried by a crushtool child with a 5 s limit, which a loaded
# 2-core machine exceeded ("crush test failed with -110"); the maps here are three hosts.
mon osd crush smoke test = false
mon max pg per osd = 1000
mon data avail warn = 2
mon pg warn min per osd = 0
mon warn on pool no redundancy = false
run dir = {root}/run
admin socket = {root}/run/$name.asok
pid file = {root}/run/$name.pid
log file = {root}/log/$name.log
crash dir = {root}/crash
mgr initial modules = iostat
osd objectstore = memstore
memstore device bytes = 536870912
ms bind ipv4 = true
ms bind ipv6 = false
[mon]
mon data = {root}/mon/$cluster-$id
[mgr]
mgr data = {root}/mgr/$cluster-$id
[osd]
osd data = {root}/osd/$cluster-$id
[mds]
mds data = {root}/mds/$cluster-$id
[client.rgw.x]
rgw frontends = beast endpoint=127.0.0.1:{rgw_port}
rgw data = {root}/rgw
rgw bucket quota ttl = 0
rgw user quota bucket sync interval = 0
rgw user quota sync interval = 0
keyring = {root}/rgw.keyring
"""
    )
    mon_kr, admin_kr = root / "mon.keyring", root / "admin.keyring"
    _run(
        "ceph-authtool",
        "--create-keyring",
        str(mon_kr),
        "--gen-key",
        "-n",
        "mon.",
        "--cap",
        "mon",
        "allow *",
    )
    _run(
        "ceph-authtool",
        "--create-keyring",
        str(admin_kr),
        "--gen-key",
        "-n",
        "client.admin",
        "--cap",
        "mon",
        "allow *",
        "--cap",
        "osd",
        "allow *",
        "--cap",
        "mds",
        "allow *",
        "--cap",
        "mgr",
        "allow *",
    )
    _run("ceph-authtool", str(mon_kr), "--import-keyring", str(admin_kr))
    _run(
        "monmaptool",
        "--create",
        "--addv",
        "a",
        f"[v1:127.0.0.1:{mon_port}]",
        "--fsid",
        fsid,
        str(root / "monmap"),
    )
    _run(
        "ceph-mon",
        "-c",
        str(conf),
        "--mkfs",
        "-i",
        "a",
        "--monmap",
        str(root / "monmap"),
        "--keyring",
        str(mon_kr),
    )
    cluster = CephCluster(root=root, conf=conf, keyring=admin_kr, rgw_port=rgw_port)
    try:
        _run("ceph-mon", "-c", str(conf), "-i", "a")
        cluster.pids.append(_pid(root / "run" / "mon.a.pid"))
        mgr_kr = root / "mgr" / "ceph-x" / "keyring"
        cluster.ceph(
            "auth",
            "get-or-create",
            "mgr.x",
            "mon",
            "allow profile mgr",
            "osd",
            "allow *",
            "mds",
            "allow *",
            "-o",
            str(mgr_kr),
        )
        _run("ceph-mgr", "-c", str(conf), "-i", "x")
        cluster.pids.append(_pid(root / "run" / "mgr.x.pid"))
        for i in range(3):
            osd_uuid = str(uuid.uuid4())
            osd_id = cluster.ceph("osd", "new", osd_uuid).strip()
            data = root / "osd" / f"ceph-{osd_id}"
            data.mkdir()
            _run(
                "ceph-authtool",
                "--create-keyring",
                str(data / "keyring"),
                "--gen-key",
                "-n",
                f"osd.{osd_id}",
            )
            cluster.ceph(
                "auth",
                "add",
                f"osd.{osd_id}",
                "osd",
                "allow *",
                "mon",
                "allow profile osd",
                "mgr",
                "allow profile osd",
                "-i",
                str(data / "keyring"),
            )
            _run("ceph-osd", "-c", str(conf), "-i", osd_id, "--mkfs", "--osd-uuid", osd_uuid)
            n = i + 1
            # The OSD places itself in the CRUSH map from its location when it starts.
            location = f"root=default zone=zone-{n} rack=rack-{n} host=host-{n}"
            _run("ceph-osd", "-c", str(conf), "-i", osd_id, f"--crush-location={location}")
            cluster.pids.append(_pid(root / "run" / f"osd.{osd_id}.pid"))
        cluster.ceph(
            "auth",
            "get-or-create",
            "client.rgw.x",
            "mon",
            "allow rw",
            "osd",
            "allow rwx",
            "mgr",
            "allow rw",
            "-o",
            str(root / "rgw.keyring"),
        )
        mds_kr = root / "mds" / "ceph-a" / "keyring"
        cluster.ceph(
            "auth",
            "get-or-create",
            "mds.a",
            "mon",
            "allow profile mds",
            "osd",
            "allow rwx",
            "mds",
            "allow",
            "mgr",
            "allow profile mds",
            "-o",
            str(mds_kr),
        )
        _run("ceph-mds", "-c", str(conf), "-i", "a")
        cluster.pids.append(_pid(root / "run" / "mds.a.pid"))
        _wait_osds(cluster)
        _run("radosgw", "-c", str(conf), "-n", "client.rgw.x")
        cluster.pids.append(_pid(root / "run" / "client.rgw.x.pid"))
        _wait_rgw(cluster)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _wait_osds(cluster: CephCluster) -> None:
    for _ in range(300):
        stat = cluster.ceph_json("osd", "stat")
        assert isinstance(stat, dict)
        if stat.get("num_up_osds") == 3 and stat.get("num_in_osds") == 3:
            return
        time.sleep(0.2)
    raise RuntimeError("OSDs did not come up")


def _wait_rgw(cluster: CephCluster) -> None:
    for _ in range(600):
        with contextlib.suppress(OSError), urllib.request.urlopen(cluster.rgw_url, timeout=1):
            return
        time.sleep(0.2)
    raise RuntimeError("radosgw did not answer")


@contextlib.contextmanager
def running() -> Iterator[CephCluster]:
    """A cluster for the duration of the block, removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="attonix-ceph-"))
    try:
        cluster = start(root)
        try:
            yield cluster
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
