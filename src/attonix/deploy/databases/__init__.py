"""Database provisioning on reachable servers: PostgreSQL, BigAnimal, MariaDB/MySQL, MongoDB.

The target ``databases`` (``attonix plan -t databases``) converges each declared database
that has a server in the connections file (BigAnimal: its managed endpoint) towards the
blueprint: the database, its owner/read-write/read-only group roles, and per consuming service
an owner, application and read-only login with least privilege. See :mod:`.driver`.
"""

from __future__ import annotations

from attonix.deploy.databases.driver import DatabaseDriver

__all__ = ["DatabaseDriver"]
