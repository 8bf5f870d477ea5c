"""Persistence: SQLAlchemy models, engines and sessions, Alembic migrations shipped inside."""

from attonix.server.db.engine import Database, make_database
from attonix.server.db.models import Base

__all__ = ["Base", "Database", "make_database"]
