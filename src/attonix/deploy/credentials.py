"""Versioned credentials Attonix creates (database logins, Ceph keys, gateway users), read by
consumers.

A :class:`CredentialStore` keeps, per credential name, numbered versions and which one is
current. A new password is written as a *pending* version before the role exists (so that an
interrupted apply or rotation never loses it), and becomes current once the role is valid:
consumers read the current version, so promoting a version is how they are switched.

:class:`FileCredentialStore` is the CLI's store: one JSON file per credential, mode 0600, in a
0700 directory under the state directory, replaced atomically. The Central Server can plug in
its vault by implementing the same protocol.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path
from typing import Any, Protocol

from attonix.blueprint.model import Blueprint
from attonix.deploy.base import DeployError
from attonix.deploy.secrets import SecretMissing, SecretSource
from attonix.render.workloads import consumer_secrets

_SAFE = re.compile(r"^[A-Za-z0-9_.-]{1,200}$")


class CredentialStore(Protocol):
    """Numbered versions of credentials; consumers read the current one."""

    def put(self, name: str, values: dict[str, str]) -> int:
        """Store ``values`` as a new pending version of ``name``; return its number."""
        ...

    def promote(self, name: str, version: int) -> None:
        """Make ``version`` the current one (the consumers' switch)."""
        ...

    def read(self, name: str, version: int | None = None) -> dict[str, str] | None:
        """``version`` (default: the current one) of ``name``, or ``None``."""
        ...

    def current_version(self, name: str) -> int | None:
        """The current version number of ``name``, or ``None``."""
        ...

    def forget(self, name: str, *, keep: int | None = None) -> None:
        """Remove every version but ``keep`` (every version when ``keep`` is ``None``)."""
        ...


class FileCredentialStore:
    """Credentials as private JSON files in ``directory`` (created 0700)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, name: str) -> Path:
        if not _SAFE.match(name):
            raise DeployError(
                f"credential name {name!r} has characters a file name cannot hold",
                hint="Names are made of letters, digits, '.', '_' and '-'.",
            )
        return self.directory / f"{name}.json"

    def _load(self, name: str) -> dict[str, Any]:
        path = self._path(name)
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"current": None, "versions": {}}
        except (OSError, ValueError) as exc:
            raise DeployError(
                f"credential file {path} cannot be read: {exc.__class__.__name__}",
                hint="Restore it from a backup, or rotate the credential to write a new one.",
            ) from None
        return data

    def _save(self, name: str, data: dict[str, Any]) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self._path(name)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def put(self, name: str, values: dict[str, str]) -> int:
        """Store ``values`` as a new pending version of ``name``; return its number."""
        data = self._load(name)
        version = max((int(v) for v in data["versions"]), default=0) + 1
        data["versions"][str(version)] = dict(values)
        self._save(name, data)
        return version

    def promote(self, name: str, version: int) -> None:
        """Make ``version`` the current one."""
        data = self._load(name)
        if str(version) not in data["versions"]:
            raise DeployError(
                f"credential {name!r} has no version {version}",
                hint="Run the rotation again from the start.",
            )
        data["current"] = version
        self._save(name, data)

    def read(self, name: str, version: int | None = None) -> dict[str, str] | None:
        """``version`` (default: the current one) of ``name``, or ``None``."""
        data = self._load(name)
        chosen = data["current"] if version is None else version
        if chosen is None:
            return None
        values = data["versions"].get(str(chosen))
        return None if values is None else dict(values)

    def current_version(self, name: str) -> int | None:
        """The current version number of ``name``, or ``None``."""
        current = self._load(name)["current"]
        return None if current is None else int(current)

    def forget(self, name: str, *, keep: int | None = None) -> None:
        """Remove every version but ``keep`` (the whole credential when ``keep`` is None)."""
        if keep is None:
            with contextlib.suppress(FileNotFoundError):
                self._path(name).unlink()
            return
        data = self._load(name)
        data["versions"] = {k: v for k, v in data["versions"].items() if k == str(keep)}
        self._save(name, data)


def credential_name(bp: Blueprint, declared: str, service: str, kind: str) -> str:
    """The store's name for one service's login of one kind (``owner``, ``app``, ``readonly``)
    to one declared database."""
    return f"{bp.metadata.name}.{bp.metadata.environment}.{declared}.{service}.{kind}"


class ConsumerCredentials:
    """The engines' secret source: a service's database mount gets the service's own login.

    Swarm and Podman mount, for every database a service uses, the engine secret
    :func:`~attonix.render.workloads.consumer_secret` (``<database>.<service>``). Its keys (those
    the database's ``credentials_secret`` declares) come from the current version of the
    service's ``app`` login in ``store`` — so promoting a new version during a rotation gives
    the secret a new versioned name, and the next converge rolls the service onto it. A
    database Attonix does not provision (no login in the store) falls back to the values of
    its ``credentials_secret``, as supplied by the user. Every other name goes to ``inner``.
    """

    def __init__(self, bp: Blueprint, inner: SecretSource, store: CredentialStore) -> None:
        self._bp = bp
        self._inner = inner
        self._store = store
        self._own = consumer_secrets(bp)

    def get(self, name: str) -> dict[str, str]:
        """Key→value for ``name`` (a consumer secret or a declared secret)."""
        if name not in self._own:
            return self._inner.get(name)
        db_name, service = self._own[name]
        db = self._bp.databases_by_name[db_name]
        declared = self._bp.secrets_by_name.get(db.credentials_secret)
        keys = declared.keys if declared else ["value"]
        login = self._store.read(credential_name(self._bp, db_name, service, "app"))
        values = self._inner.get(db.credentials_secret) if login is None else login
        missing = [k for k in keys if k not in values]
        if missing:
            raise SecretMissing(
                f"the login of service {service!r} to database {db_name!r} has no "
                f"{', '.join(missing)}",
                hint="Declare only username and password (and keys Attonix stores: host, "
                f"port, database, tls) on secret {db.credentials_secret!r}.",
            )
        return {k: values[k] for k in keys}
