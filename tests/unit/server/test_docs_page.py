"""The API reference at /docs is served from the package itself and works offline."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from attonix.server.docs_page import ASSETS


def test_docs_load_nothing_from_elsewhere(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    urls = re.findall(r"""(?:src|href)=["']([^"']+)""", page.text)
    assert urls and all(u.startswith("/docs/assets/") for u in urls), urls
    assert "https://" not in page.text and "http://" not in page.text
    assert "url: '/api/v1/openapi.json'" in page.text
    csp = page.headers["content-security-policy"]
    assert "https:" not in csp and "script-src 'self' 'unsafe-inline'" in csp
    for url in urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 500
    js = client.get("/docs/assets/swagger-ui-bundle.js")
    assert "javascript" in js.headers["content-type"]
    assert "SwaggerUIBundle" in js.text
    assert client.get("/docs/assets/../app.py").status_code == 404


def test_the_vendored_swagger_ui_reads_openapi_3_1() -> None:
    """FastAPI writes OpenAPI 3.1; Swagger UI renders 3.1 from its version 5."""
    note = (ASSETS / "VENDORED.txt").read_text(encoding="utf-8")
    version = re.search(r"swagger-ui-dist (\d+)\.\d+\.\d+", note)
    assert version and int(version.group(1)) >= 5
    assert (ASSETS / "LICENSE.txt").is_file()
