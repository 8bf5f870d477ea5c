"""Where secret values come from at apply time, and how they are named on the engine.

A :class:`SecretSource` answers ``get(name)`` with the key→value mapping of one declared
``security.secrets`` entry. The CLI ships two: :class:`EnvSecretSource`
(``ATTONIX_SECRET_<NAME>_<KEY>``) and :class:`FileSecretSource` (a private YAML/JSON file);
the Central Server plugs in its vault by implementing the same protocol.

Values never leave this module except towards the engine's own secret store: errors name the
secret and where it was looked for, never a value. Engine secrets are immutable (Swarm) or
replaced whole (Podman), so each value set gets a versioned name, ``<base>-<tag>``, where the
tag is an HMAC of the values under a local key: a changed value yields a new name (and a rolling
update), and the tag cannot be brute-forced back into the value without that key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

import yaml

from attonix.blueprint.model import Secret, secret_env_var
from attonix.deploy.base import DeployError

TAG_LENGTH = 10


class SecretMissing(DeployError):
    """A declared secret (or one of its keys) has no value in the configured source."""


class SecretSource(Protocol):
    """Values of declared secrets, by secret name."""

    def get(self, name: str) -> dict[str, str]:
        """Key→value for the declared secret ``name``; raise :class:`SecretMissing` if absent."""
        ...


def _declared(secrets: Iterable[Secret]) -> dict[str, Secret]:
    return {s.name: s for s in secrets}


class EnvSecretSource:
    """Secret values from environment variables ``ATTONIX_SECRET_<NAME>_<KEY>``.

    The declared secrets say which keys to read; every key must be set (an empty value counts
    as set, since some systems use empty passwords deliberately).
    """

    def __init__(
        self, declared: Iterable[Secret], *, environ: Mapping[str, str] | None = None
    ) -> None:
        self._declared = _declared(declared)
        self._environ = os.environ if environ is None else environ

    def get(self, name: str) -> dict[str, str]:
        """Key→value for ``name`` from the environment."""
        secret = _known(self._declared, name)
        out: dict[str, str] = {}
        missing: list[str] = []
        for key in secret.keys:
            var = secret_env_var(name, key)
            if var in self._environ:
                out[key] = self._environ[var]
            else:
                missing.append(var)
        if missing:
            raise SecretMissing(
                f"secret {name!r} has no value: environment variable"
                f"{'s' if len(missing) > 1 else ''} {', '.join(missing)} not set",
                hint="Export the variables, or pass --secrets-file FILE with this secret's keys.",
            )
        return out


class FileSecretSource:
    """Secret values from a YAML or JSON file ``{secret: {key: value}}`` readable only by you.

    The file is read once, on first use; a file that group or others may read is refused
    rather than trusted, because its values would already be exposed.
    """

    def __init__(self, path: str | os.PathLike[str], declared: Iterable[Secret] = ()) -> None:
        self.path = Path(path)
        self._declared = _declared(declared)
        self._data: dict[str, dict[str, str]] | None = None

    def _load(self) -> dict[str, dict[str, str]]:
        if self._data is not None:
            return self._data
        try:
            info = self.path.stat()
            raw = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SecretMissing(
                f"cannot read secrets file {self.path}: {exc.strerror or exc}",
                hint="Check the path given with --secrets-file.",
            ) from None
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SecretMissing(
                f"secrets file {self.path} is accessible by group or others "
                f"(mode {stat.filemode(info.st_mode)})",
                hint=f"Restrict it to its owner: chmod 600 {self.path}",
            )
        try:
            # JSON is YAML, so one safe parser reads both.
            doc: Any = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            # The parser's message may quote the offending text, i.e. a value: leave it out.
            raise SecretMissing(
                f"secrets file {self.path} is not valid YAML or JSON{where}",
                hint="Write it as a mapping: secret name -> {key: value}.",
            ) from None
        if doc is None:
            doc = {}
        if not isinstance(doc, dict) or not all(
            isinstance(k, str) and isinstance(v, dict) for k, v in doc.items()
        ):
            raise SecretMissing(
                f"secrets file {self.path} must map secret names to {{key: value}} mappings",
                hint="Example: pg-credentials: {username: app, password: ...}",
            )
        self._data = {
            name: {str(k): "" if v is None else str(v) for k, v in keys.items()}
            for name, keys in doc.items()
        }
        return self._data

    def get(self, name: str) -> dict[str, str]:
        """Key→value for ``name`` from the file."""
        data = self._load()
        if name not in data:
            raise SecretMissing(
                f"secret {name!r} is not in secrets file {self.path}",
                hint=f"Add '{name}: {{key: value}}' to the file.",
            )
        values = data[name]
        secret = self._declared.get(name)
        if secret is not None:
            missing = [k for k in secret.keys if k not in values]
            if missing:
                raise SecretMissing(
                    f"secret {name!r} in {self.path} lacks key(s) {', '.join(missing)}",
                    hint="Every key the blueprint declares for the secret needs a value.",
                )
            return {k: values[k] for k in secret.keys}
        return dict(values)


class ChainSecretSource:
    """Asks each source in turn; the first that has the secret answers."""

    def __init__(self, *sources: SecretSource) -> None:
        self._sources = sources

    def get(self, name: str) -> dict[str, str]:
        """Key→value from the first source holding ``name``; all reasons if none does."""
        reasons: list[str] = []
        for source in self._sources:
            try:
                return source.get(name)
            except SecretMissing as exc:
                reasons.append(exc.message)
        raise SecretMissing(
            "; ".join(reasons) or f"secret {name!r}: no secret source configured",
            hint="Provide the value through the environment or a secrets file.",
        )


def _known(declared: Mapping[str, Secret], name: str) -> Secret:
    try:
        return declared[name]
    except KeyError:
        raise SecretMissing(
            f"secret {name!r} is not declared in security.secrets",
            hint="Declare it in the blueprint before a service mounts it.",
        ) from None


def version_tag(values: Mapping[str, str], *, key: bytes) -> str:
    """A short tag that changes whenever any value changes (HMAC-SHA256 under ``key``)."""
    canonical = json.dumps(dict(sorted(values.items())), separators=(",", ":"))
    digest = hmac.new(key, canonical.encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:TAG_LENGTH]
