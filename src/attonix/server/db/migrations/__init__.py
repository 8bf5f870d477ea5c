"""Alembic migrations of the Central Server schema."""
