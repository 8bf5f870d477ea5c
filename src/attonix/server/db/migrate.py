"""Schema migrations: upgrade to head, and tell whether a database is current."""

from __future__ import annotations

from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from attonix.server.db.engine import Database
from attonix.server.errors import SchemaOutdated

SCRIPT_LOCATION = "attonix.server.db:migrations"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    return cfg


def head_revision() -> str:
    """The newest revision this version of Attonix ships."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(db: Database) -> str | None:
    """The revision the database is at (None for an empty database)."""
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@dataclass(frozen=True)
class SchemaState:
    """Where a database's schema stands relative to this code."""

    current: str | None
    head: str

    @property
    def is_current(self) -> bool:
        """True when no migration is pending."""
        return self.current == self.head


def schema_state(db: Database) -> SchemaState:
    """The database's revision and the code's head revision."""
    return SchemaState(current=current_revision(db), head=head_revision())


def upgrade(db: Database) -> SchemaState:
    """Apply every pending migration (idempotent) and return the new state."""
    cfg = _config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return schema_state(db)


def require_current(db: Database) -> None:
    """Raise ``SchemaOutdated`` with what to run when migrations are pending."""
    state = schema_state(db)
    if not state.is_current:
        raise SchemaOutdated(
            f"the database schema is at revision {state.current or 'none (empty database)'}, "
            f"this version of Attonix needs {state.head}",
            hint="Run `attonix db upgrade` (with the same ATTONIX_DATABASE_URL), then start again.",
        )
