"""Databases run as one container on Swarm or Podman: the engine's official image, its data in a
local volume on one node, credentials read from secret files, health checked by the engine's
own client.

Where no operator runs (Swarm, Podman), a database is a single stateful container; validation
keeps it at one instance without TLS or backups (``blueprint.consistency``) and the placement
contract pins it to its node (:func:`attonix.policy.placement.database_node`). Both renderers
build from :func:`container_of`, so the image, the data path, the credentials files and the
health command are decided here once.

The official images read credentials from files through their ``*_FILE`` variables, so the
values never appear in the environment or in a rendered file. The containers run as the
images' own unprivileged user (uid 999 in all three), which owns the data directory a new
volume is initialised from, so no capability is needed and the root filesystem stays
read-only; the engines' socket directories are scratch mounts.
"""

from __future__ import annotations

from dataclasses import dataclass

from attonix.blueprint.model import Blueprint, Database
from attonix.render.workloads import DATABASE_PORTS, database_mount_path

#: The unprivileged user of the official postgres, mysql and mongo images.
IMAGE_UID = 999


@dataclass(frozen=True, slots=True)
class DatabaseContainer:
    """What every target needs to run one database container."""

    image: str
    port: int
    data_path: str
    uid: int
    env: tuple[tuple[str, str], ...]
    health: tuple[str, ...]
    scratch: tuple[str, ...]
    start_seconds: int = 30
    period_seconds: int = 10


def standalone(bp: Blueprint, cluster: str) -> list[Database]:
    """The databases run as containers on ``cluster`` (a swarm or podman cluster)."""
    return [d for d in bp.databases if d.cluster == cluster and d.managed is None]


def data_volume(db: Database) -> str:
    """The volume key of a database's data (``_`` keeps it apart from service volume keys)."""
    return f"{db.name}_data"


def container_of(db: Database) -> DatabaseContainer:
    """The container of one database (engine postgresql, mysql or mongodb)."""
    creds = database_mount_path(db)
    port = DATABASE_PORTS[db.engine]
    if db.engine == "postgresql":
        return DatabaseContainer(
            image=f"postgres:{db.version}",
            port=port,
            data_path="/var/lib/postgresql/data",
            uid=IMAGE_UID,
            env=(
                ("POSTGRES_USER_FILE", f"{creds}/username"),
                ("POSTGRES_PASSWORD_FILE", f"{creds}/password"),
                ("POSTGRES_DB", db.database),
                # A subdirectory: initdb refuses a mount point that holds lost+found.
                ("PGDATA", "/var/lib/postgresql/data/pgdata"),
            ),
            # Answers once the server accepts connections, whatever the credentials.
            health=("pg_isready", "--host=127.0.0.1", f"--port={port}", f"--dbname={db.database}"),
            scratch=("/tmp", "/var/run/postgresql"),  # noqa: S108
        )
    if db.engine == "mysql":
        return DatabaseContainer(
            image=f"mysql:{db.version}",
            port=port,
            data_path="/var/lib/mysql",
            uid=IMAGE_UID,
            env=(
                ("MYSQL_USER_FILE", f"{creds}/username"),
                ("MYSQL_PASSWORD_FILE", f"{creds}/password"),
                ("MYSQL_DATABASE", db.database),
                # Nobody logs in as root: the application account owns its database.
                ("MYSQL_RANDOM_ROOT_PASSWORD", "yes"),
            ),
            # Exits 0 whenever the server answers, even with access denied.
            health=("mysqladmin", "ping", "--host=127.0.0.1", f"--port={port}", "--silent"),
            scratch=("/tmp", "/var/run/mysqld"),  # noqa: S108
        )
    if db.engine == "mongodb":
        shell = "mongosh" if int(db.version.split(".")[0]) >= 6 else "mongo"
        return DatabaseContainer(
            image=f"mongo:{db.version}",
            port=port,
            data_path="/data/db",
            uid=IMAGE_UID,
            env=(
                ("MONGO_INITDB_ROOT_USERNAME_FILE", f"{creds}/username"),
                ("MONGO_INITDB_ROOT_PASSWORD_FILE", f"{creds}/password"),
                ("MONGO_INITDB_DATABASE", db.database),
            ),
            # ``ping`` needs no authentication.
            health=(
                shell,
                "--quiet",
                "--norc",
                f"mongodb://127.0.0.1:{port}/admin",
                "--eval",
                "db.adminCommand('ping')",
            ),
            scratch=("/tmp", "/data/configdb"),  # noqa: S108
        )
    raise ValueError(f"{db.engine} does not run as a container")  # biganimal is managed
