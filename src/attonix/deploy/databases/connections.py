"""Where each declared database's server is, and how Attonix logs into it as administrator.

The endpoint comes from the ``databases:`` section of the connections file (``--connections``,
else ``$ATTONIX_CONNECTIONS``, else ``connections.yaml`` in the state directory)::

    databases:
      orders-db:                    # a database declared in the blueprint
        host: db1.example.internal
        port: 5432
        admin_database: postgres    # where the administrator connects (mysql: unused)
        sslmode: verify-full        # PostgreSQL: disable|require|verify-ca|verify-full
        sslrootcert: /etc/attonix/db-ca.pem
        consumer_host: db.example.internal   # the address services use (default: host)

A BigAnimal database needs no entry: its ``managed.endpoint`` is the host and TLS with full
verification is mandatory. The administrator's username and password are the keys
``username`` and ``password`` of the database's ``credentials_secret``, read from the secret
source (environment, secrets file or the server's vault), never from this file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from attonix.blueprint.model import Database
from attonix.deploy.base import DeployError
from attonix.deploy.connections import default_path
from attonix.deploy.secrets import SecretSource

DEFAULT_PORTS = {"postgresql": 5432, "biganimal": 5432, "mysql": 3306, "mongodb": 27017}
_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_ADMIN_DB = {"postgresql": "postgres", "mongodb": "admin"}
_FIELDS = {"host", "port", "admin_database", "sslmode", "sslrootcert", "consumer_host"}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One database server as the administrator reaches it (no secret inside)."""

    engine: str
    host: str
    port: int
    admin_database: str = "postgres"
    sslmode: str = "prefer"
    sslrootcert: str = ""
    consumer_host: str = ""

    @property
    def shown(self) -> str:
        """``host:port`` for messages."""
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Admin:
    """The administrator's credentials (from the secret source; never printed)."""

    username: str
    password: str = ""

    def __repr__(self) -> str:
        return f"Admin(username={self.username!r}, password=<hidden>)"


def connections_path(explicit: str | None, state: Path) -> Path:
    """The connections file to read: ``explicit``, ``$ATTONIX_CONNECTIONS``, the state
    directory's ``connections.yaml``, else the connections file every target reads."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("ATTONIX_CONNECTIONS")
    if env:
        return Path(env)
    local = state / "connections.yaml"
    return local if local.exists() else default_path()


def load_endpoints(path: Path) -> dict[str, dict[str, Any]]:
    """The ``databases:`` section of the connections file (empty when the file is absent)."""
    if not path.exists():
        return {}
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DeployError(
            f"cannot read the connections file {path}: {exc}",
            hint="Fix the YAML, or point --connections at another file.",
        ) from None
    section: Any = None
    if doc is None:
        section = {}
    elif isinstance(doc, dict):
        section = doc.get("databases", {})
    if not isinstance(section, dict) or not all(isinstance(v, dict) for v in section.values()):
        raise DeployError(
            f"{path}: 'databases' must map database names to settings",
            hint="Example: databases: {orders-db: {host: 127.0.0.1, port: 5432}}",
        )
    return {str(k): v for k, v in section.items()}


def endpoint_for(database: Database, settings: Mapping[str, dict[str, Any]]) -> Endpoint | None:
    """The endpoint of ``database``, or ``None`` when no server is configured for it."""
    if database.engine == "biganimal":
        assert database.managed is not None  # the model requires it for biganimal
        entry = settings.get(database.name, {})
        return Endpoint(
            engine="biganimal",
            host=str(entry.get("host", database.managed.endpoint)),
            port=int(entry.get("port", 5432)),
            admin_database=str(entry.get("admin_database", "edb_admin")),
            # A managed endpoint on the internet: TLS with full verification, not negotiable.
            sslmode="verify-full",
            sslrootcert=str(entry.get("sslrootcert", "system")),
            consumer_host=str(entry.get("consumer_host", "")),
        )
    found = settings.get(database.name)
    if found is None:
        return None
    entry = found
    unknown = sorted(set(entry) - _FIELDS)
    where = f"connections: databases.{database.name}"
    if unknown:
        raise DeployError(
            f"{where}: unknown setting(s) {', '.join(unknown)}",
            hint=f"Settings: {', '.join(sorted(_FIELDS))}.",
        )
    if "host" not in entry:
        raise DeployError(f"{where}: 'host' is missing", hint="Give the server's address.")
    sslmode = str(entry.get("sslmode", "prefer"))
    if sslmode not in _SSLMODES:
        raise DeployError(f"{where}: sslmode {sslmode!r}", hint=f"One of {', '.join(_SSLMODES)}.")
    try:
        port = int(entry.get("port", DEFAULT_PORTS[database.engine]))
    except (TypeError, ValueError):
        raise DeployError(f"{where}: port must be a number", hint="Example: port: 5432") from None
    return Endpoint(
        engine=database.engine,
        host=str(entry["host"]),
        port=port,
        admin_database=str(entry.get("admin_database", _ADMIN_DB.get(database.engine, ""))),
        sslmode=sslmode,
        sslrootcert=str(entry.get("sslrootcert", "")),
        consumer_host=str(entry.get("consumer_host", "")),
    )


def admin_for(database: Database, secrets: SecretSource) -> Admin:
    """The administrator credentials from ``database.credentials_secret``."""
    values = secrets.get(database.credentials_secret)
    if "username" not in values:
        raise DeployError(
            f"secret {database.credentials_secret!r} has no 'username' for database "
            f"{database.name!r}",
            hint="Declare the secret with keys [username, password] and give both values.",
        )
    return Admin(username=values["username"], password=values.get("password", ""))
