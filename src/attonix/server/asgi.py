"""Entry point for process managers (uvicorn --factory, gunicorn): settings from the environment."""

from __future__ import annotations

from fastapi import FastAPI

from attonix.server.app import create_app
from attonix.server.settings import Settings


def app_from_environment() -> FastAPI:
    """Build the app from ATTONIX_* variables and .env (one Settings object, built here)."""
    return create_app(Settings())
