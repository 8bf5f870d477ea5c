"""Talking to a Ceph cluster as its administrator: the ``ceph``, ``rbd`` and ``radosgw-admin``
CLIs with JSON output (each call costs ~0.4 s, so reads are batched: one call per kind of
object), and S3 through boto3 for bucket creation.

The connection comes from the ``ceph:`` section of the connections file (see
:mod:`attonix.deploy.ceph`): ``conf`` (ceph.conf), ``keyring`` (the administrator's keyring
file, never read by Attonix itself), ``user`` (default ``client.admin``) and ``rgw_url``.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from attonix.deploy import _process
from attonix.deploy.base import DeployError
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


class CephAdmin:
    """CLI calls against one cluster."""

    def __init__(self, conn: CephConnection) -> None:
        self.conn = conn
        self._base = ["-c", conn.conf, "-k", conn.keyring, "-n", conn.user]

    def ceph(self, *args: str, check: bool = True) -> _process.Completed:
        """``ceph <args>``."""
        return _process.run(
            ["ceph", *self._base, "--connect-timeout", "15", *args],
            check=check,
            timeout=120,
            unavailable=_down,
        )

    def ceph_json(self, *args: str) -> Any:
        """``ceph <args> --format json``, parsed."""
        return self.ceph(*args, "--format", "json").json()

    def rbd_json(self, *args: str) -> Any:
        """``rbd <args> --format json``, parsed."""
        return _process.run(["rbd", *self._base, *args, "--format", "json"], timeout=120).json()

    def rbd(self, *args: str) -> None:
        """``rbd <args>``."""
        _process.run(["rbd", *self._base, *args], timeout=120)

    def rgw(self, *args: str, check: bool = True) -> _process.Completed:
        """``radosgw-admin <args>``."""
        return _process.run(["radosgw-admin", *self._base, *args], check=check, timeout=120)

    def rgw_json(self, *args: str) -> Any:
        """``radosgw-admin <args>``, parsed (it prints JSON by default)."""
        return self.rgw(*args).json()

    # ------------------------------------------------------------------ registry

    def registry(self, prefix: str) -> dict[str, str]:
        """``kind/name`` → cluster name for every object Attonix registered under ``prefix``."""
        dump = self.ceph_json("config-key", "dump", f"{REGISTRY}/{prefix}/") or {}
        start = len(f"{REGISTRY}/{prefix}/")
        return {k[start:]: str(v) for k, v in dump.items()}

    def register(self, prefix: str, key: str, value: str) -> None:
        """Record that Attonix created ``key`` (``kind/name``)."""
        self.ceph("config-key", "set", f"{REGISTRY}/{prefix}/{key}", value)

    def unregister(self, prefix: str, key: str) -> None:
        """Forget ``key``."""
        self.ceph("config-key", "rm", f"{REGISTRY}/{prefix}/{key}", check=False)

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
