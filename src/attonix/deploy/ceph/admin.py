"""Talking to a Ceph cluster as its administrator: monitor and manager commands through
librados, the ``rbd`` and ``radosgw-admin`` CLIs with JSON output, and S3 through boto3 for
bucket creation.

A monitor command is a JSON object (``{"prefix": "osd pool set", "pool": ..., "var": ...,
"val": ...}``, the names of Ceph's command descriptions). It is sent over one librados
connection per :class:`CephAdmin` (the ``volumes`` module's and placement group commands to the
active manager) (``rados.Rados.mon_command``: a few milliseconds, where each
``ceph`` CLI process costs 0.4 s on an idle machine and 1–10 s on a loaded one). The binding
is the one the ``ceph`` CLI itself uses (``python3-rados`` on Debian, ``python3-rados`` on
Fedora/RHEL): importable as ``rados``, or, when Attonix runs in a virtual environment without
the system's packages, loaded from the system's package directory if it was built for this
interpreter's ABI (the same ``EXT_SUFFIX``, e.g. ``.cpython-311-x86_64-linux-gnu.so``). Without
a usable binding the same command goes through the ``ceph`` CLI (see :meth:`CephAdmin.mon`).
Reads are batched either way: one call per kind of object.

The connection comes from the ``ceph:`` section of the connections file (see
:mod:`attonix.deploy.ceph`): ``conf`` (ceph.conf), ``keyring`` (the administrator's keyring
file, never read by Attonix itself), ``user`` (default ``client.admin``) and ``rgw_url``.
"""

from __future__ import annotations

import errno
import importlib
import importlib.util
import json
import os
import sys
import sysconfig
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from attonix.deploy import _process
from attonix.deploy.base import DeployError, EngineUnavailable, truncate
from attonix.deploy.connections import default_path

REGISTRY = "attonix"
_FIELDS = {"conf", "keyring", "user", "rgw_url"}


@dataclass(frozen=True, slots=True)
class CephConnection:
    """How to reach one Ceph cluster as administrator (paths, no secret values)."""

    conf: str
    keyring: str
    user: str = "client.admin"
    rgw_url: str = ""


def load_connection(path: Path, cluster: str) -> CephConnection:
    """The ``ceph.<cluster>`` entry of the connections file at ``path``."""
    try:
        doc: Any = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    except (OSError, yaml.YAMLError) as exc:
        raise DeployError(
            f"cannot read the connections file {path}: {exc}",
            hint="Fix the YAML, or point $ATTONIX_CONNECTIONS at another file.",
        ) from None
    section = (doc or {}).get("ceph", {}) if isinstance(doc, dict | None) else None
    entry = section.get(cluster) if isinstance(section, dict) else None
    where = f"connections: ceph.{cluster}"
    if not isinstance(entry, dict):
        raise DeployError(
            f"no connection is configured for Ceph cluster {cluster!r} ({path})",
            hint=f"Add ceph.{cluster}: {{conf: /etc/ceph/ceph.conf, keyring: ..., rgw_url: ...}}.",
        )
    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise DeployError(
            f"{where}: unknown setting(s) {', '.join(unknown)}",
            hint=f"Settings: {', '.join(sorted(_FIELDS))}.",
        )
    missing = [k for k in ("conf", "keyring") if k not in entry]
    if missing:
        raise DeployError(f"{where}: {', '.join(missing)} missing", hint="Give both paths.")
    return CephConnection(
        conf=str(entry["conf"]),
        keyring=str(entry["keyring"]),
        user=str(entry.get("user", "client.admin")),
        rgw_url=str(entry.get("rgw_url", "")),
    )


def connections_path(state: Path, environ: Mapping[str, str] | None = None) -> Path:
    """``$ATTONIX_CONNECTIONS``, else ``connections.yaml`` in the state directory, else the
    connections file every target reads."""
    env = os.environ if environ is None else environ
    if env.get("ATTONIX_CONNECTIONS"):
        return Path(env["ATTONIX_CONNECTIONS"])
    local = state / "connections.yaml"
    return local if local.exists() else default_path(env)


def _down(done: _process.Completed) -> bool:
    return any(
        m in done.stderr
        for m in ("ObjectNotFound", "Connection refused", "timed out", "error connecting")
    )


# Where distributions install the system Python's packages (librados' binding among them).
_SYSTEM_DIRS = (
    "/usr/lib/python3/dist-packages",
    f"/usr/lib64/python3.{sys.version_info.minor}/site-packages",
    f"/usr/lib/python3.{sys.version_info.minor}/site-packages",
)


def load_rados(dirs: Sequence[str] = _SYSTEM_DIRS) -> Any | None:
    """librados' Python binding: ``import rados``, else the system's ``rados`` extension when it
    was built for this interpreter's ABI, else ``None``."""
    try:
        return importlib.import_module("rados")
    except ImportError:
        pass
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ""
    for folder in dirs:
        path = Path(folder) / f"rados{suffix}"
        spec = importlib.util.spec_from_file_location("rados", path) if path.is_file() else None
        if spec is None or spec.loader is None:
            continue
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except ImportError:
            continue
        sys.modules["rados"] = module
        return module
    return None


# Commands the managers serve (the ``volumes`` module, placement group statistics): librados
# sends them to the active manager, where the CLI's monitor forwards them.
_MGR = ("fs subvolume", "pg ")
MGR_WAIT = 60.0
# Arguments the CLI is given by name (an optional argument before them is left out).
_CLI_NAMED = frozenset({"rule", "autoscale_mode"})


class CephAdmin:
    """Monitor commands (librados or the CLI) and CLI calls against one cluster.

    ``librados``: ``None`` uses the binding when it loads, ``False`` always the CLI.
    """

    def __init__(self, conn: CephConnection, *, librados: bool | None = None) -> None:
        self.conn = conn
        self._base = ["-c", conn.conf, "-k", conn.keyring, "-n", conn.user]
        self._rados: Any | None = None if librados is False else load_rados()
        self._handle: Any | None = None
        self._zonegroup: dict[str, Any] | None = None

    @property
    def uses_librados(self) -> bool:
        """Whether monitor commands go through librados (else through the ``ceph`` CLI)."""
        return self._rados is not None

    def close(self) -> None:
        """Close the librados connection, if one is open."""
        if self._handle is not None:
            self._handle.shutdown()
            self._handle = None

    def _connected(self) -> Any:
        if self._handle is None:
            assert self._rados is not None
            handle = self._rados.Rados(
                conffile=self.conn.conf, name=self.conn.user, conf={"keyring": self.conn.keyring}
            )
            try:
                handle.connect(timeout=15)
            except self._rados.Error as exc:
                raise EngineUnavailable(
                    f"cannot reach the monitors of {self.conn.conf} as {self.conn.user}: {exc}",
                    hint="Check that the monitors run and that conf and keyring are right.",
                ) from None
            self._handle = handle
        return self._handle

    def mon(self, prefix: str, *, check: bool = True, **args: Any) -> Any:
        """One monitor (or manager) command ``prefix`` with its named arguments; its JSON
        output parsed (``None`` when it prints none, or when it fails and not ``check``)."""
        if self._rados is None:
            return self._mon_cli(prefix, check=check, **args)
        cmd = json.dumps({"prefix": prefix, **args, "format": "json"})
        try:
            handle = self._connected()
            if prefix.startswith(_MGR):
                ret, out, outs = self._mgr(handle, cmd)
            else:
                ret, out, outs = handle.mon_command(cmd, b"", timeout=120)
        except self._rados.Error as exc:
            raise DeployError(f"`ceph {prefix}` failed: {exc}", command=("ceph", prefix)) from None
        if ret < 0:
            if not check:
                return None
            reason = outs.strip() or os.strerror(-ret)
            raise DeployError(
                f"`ceph {prefix}` failed: {truncate(reason, 400)}",
                command=("ceph", prefix),
                exit_code=ret,
                stderr=outs,
            )
        text = out.decode("utf-8").strip()
        return json.loads(text) if text else None

    @staticmethod
    def _mgr(handle: Any, cmd: str) -> tuple[int, bytes, str]:
        """A manager command, waiting up to a minute for a manager that is still loading its
        modules (after it started or failed over it answers "Module ... is not
        enabled/loaded" for a while)."""
        deadline = time.monotonic() + MGR_WAIT
        while True:
            ret, out, outs = handle.mgr_command(cmd, b"", timeout=120)
            loading = ret in (-errno.EOPNOTSUPP, -errno.EAGAIN) and "enabled/loaded" in outs
            if not loading or time.monotonic() > deadline:
                return int(ret), bytes(out), str(outs)
            time.sleep(1)

    def _mon_cli(self, prefix: str, *, check: bool, **args: Any) -> Any:
        """:meth:`mon` through the ``ceph`` CLI. Values go positionally in the order given (the
        command description's, so callers pass arguments in that order; lists are last there),
        true flags as ``--flag``, and the optional arguments in :data:`_CLI_NAMED`, which follow
        a skipped one, as ``--name=value``. Not every argument can be named: ``--key``,
        ``--name`` and the like are the CLI's own options."""
        words = prefix.split()
        for name, value in args.items():
            if value is True:
                words.append(f"--{name.replace('_', '-')}")
            elif name in _CLI_NAMED:
                words.append(f"--{name}={value}")
            elif isinstance(value, list):
                words.extend(str(v) for v in value)
            elif value is not False:
                words.append(str(value))
        done = self.ceph(*words, "--format", "json", check=check)
        return done.json() if done.returncode == 0 else None

    def ceph(self, *args: str, check: bool = True) -> _process.Completed:
        """``ceph <args>``."""
        return _process.run(
            ["ceph", *self._base, "--connect-timeout", "15", *args],
            check=check,
            timeout=120,
            unavailable=_down,
        )

    def rbd_json(self, *args: str) -> Any:
        """``rbd <args> --format json``, parsed."""
        return _process.run(["rbd", *self._base, *args, "--format", "json"], timeout=120).json()

    def rbd(self, *args: str) -> None:
        """``rbd <args>``."""
        _process.run(["rbd", *self._base, *args], timeout=120)

    def rgw(self, *args: str, check: bool = True, stdin: str | None = None) -> _process.Completed:
        """``radosgw-admin <args>``, with ``stdin`` as its input (``zone set`` reads JSON)."""
        return _process.run(
            ["radosgw-admin", *self._base, *args], check=check, timeout=120, stdin=stdin
        )

    def rgw_json(self, *args: str) -> Any:
        """``radosgw-admin <args>``, parsed (it prints JSON by default)."""
        return self.rgw(*args).json()

    # ------------------------------------------------------------------ registry

    def registry(self, prefix: str) -> dict[str, str]:
        """``kind/name`` → cluster name for every object Attonix registered under ``prefix``."""
        dump = self.mon("config-key dump", key=f"{REGISTRY}/{prefix}/") or {}
        start = len(f"{REGISTRY}/{prefix}/")
        return {k[start:]: str(v) for k, v in dump.items()}

    def register(self, prefix: str, key: str, value: str) -> None:
        """Record that Attonix created ``key`` (``kind/name``)."""
        self.mon("config-key set", key=f"{REGISTRY}/{prefix}/{key}", val=value)

    def unregister(self, prefix: str, key: str) -> None:
        """Forget ``key``."""
        self.mon("config-key rm", key=f"{REGISTRY}/{prefix}/{key}", check=False)

    def zonegroup(self) -> dict[str, Any]:
        """The gateway's zonegroup, read once (its name and realm do not change under Attonix;
        its placement targets are read fresh by :mod:`.placement`)."""
        if self._zonegroup is None:
            self._zonegroup = self.rgw_json("zonegroup", "get") or {}
        return self._zonegroup

    # ------------------------------------------------------------------ S3

    def create_bucket(
        self, name: str, *, access_key: str, secret_key: str, location: str, hint: str
    ) -> None:
        """Create ``name`` as the user owning these keys, through the gateway's S3 API, with
        the location constraint ``location`` (``<zonegroup>:<placement target>``); ``hint``
        says what to do when the gateway does not know that target yet."""
        if not self.conn.rgw_url:
            raise DeployError(
                f"bucket {name!r} needs the gateway's address",
                hint="Add rgw_url (e.g. https://rgw.internal:443) to the cluster's connection.",
            )
        try:
            boto3: Any = importlib.import_module("boto3")
            errors: Any = importlib.import_module("botocore.exceptions")
        except ModuleNotFoundError:
            raise DeployError(
                "creating buckets needs boto3", hint="pip install 'attonix[deploy]'."
            ) from None
        s3 = boto3.client(
            "s3",
            endpoint_url=self.conn.rgw_url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name="default",
        )
        try:
            s3.create_bucket(
                Bucket=name, CreateBucketConfiguration={"LocationConstraint": location}
            )
        except errors.ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "InvalidLocationConstraint":
                raise DeployError(
                    f"the gateway does not know placement target {location!r} of bucket "
                    f"{name!r} yet (gateways read new targets when they restart)",
                    hint=hint,
                ) from None
            if code != "BucketAlreadyOwnedByYou":
                raise DeployError(
                    f"the gateway refused to create bucket {name!r}: {code}",
                    hint="The name may belong to another user; buckets are global.",
                ) from None
        except errors.BotoCoreError as exc:
            raise DeployError(f"the gateway at {self.conn.rgw_url} failed: {exc}") from None


def dumps(value: Any) -> str:
    """Compact JSON for registry values."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
