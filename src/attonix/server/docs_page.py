"""The API reference at ``/docs``, served from the package itself: Swagger UI's files are
vendored from the npm package ``swagger-ui-dist`` (``static/swagger-ui/VENDORED.txt``), so the
page works without internet access and loads nothing from a CDN."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

ASSETS = Path(__file__).resolve().parent / "static" / "swagger-ui"
ASSETS_URL = "/docs/assets"


def install_docs(app: FastAPI, *, openapi_url: str, title: str) -> None:
    """Serve Swagger UI at ``/docs`` for ``openapi_url``, with its files at ``/docs/assets``."""

    async def docs(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} — API reference",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon-32x32.png",
        )

    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")
    app.add_route("/docs", docs, include_in_schema=False)
