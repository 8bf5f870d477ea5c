"""`attonix console`: serve the built web console on its own origin, apart from the API.

The console is a static single-page application. Hosting it on a separate port keeps the API
free of HTML and lets the browser enforce a strict Content-Security-Policy whose
``connect-src`` names exactly one API origin. The standard library's threaded HTTP server is
enough: the files are small, hashed and cached by the browser.
"""

from __future__ import annotations

import gzip
import json
import mimetypes
import posixpath
import threading
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import attonix

DEFAULT_API_URL = "http://127.0.0.1:8080"
# Longest path and path segment worth a file-system look-up (NAME_MAX is 255 bytes).
_MAX_PATH = 1024
_MAX_SEGMENT = 255
_FORBIDDEN = frozenset(chr(c) for c in (*range(32), 127))
# Compressing these is worth it; images and fonts are already compressed or tiny.
_COMPRESSIBLE = (".js", ".css", ".html", ".json", ".svg", ".txt", ".map")


def default_console_dir() -> Path:
    """The build output in a source checkout: ``<repo>/frontend/dist``."""
    return Path(attonix.__file__).resolve().parents[2] / "frontend" / "dist"


def api_origin(api_url: str) -> str:
    """``scheme://host[:port]`` of ``api_url``; raises ValueError unless it is http(s)."""
    parts = urllib.parse.urlsplit(api_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {api_url!r}")
    return f"{parts.scheme}://{parts.netloc}"


def security_headers(api_url: str) -> dict[str, str]:
    """Headers sent with every response: a strict CSP that allows only this origin's files and
    calls to the API origin, and no framing, sniffing or referrer leaks."""
    csp = "; ".join(
        (
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            # data: for the MFA enrolment QR code, which the API returns as an SVG document.
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src 'self' {api_origin(api_url)}",
            "manifest-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )
    return {
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    }


class ConsoleHandler(BaseHTTPRequestHandler):
    """GET/HEAD for the built files, ``/config.json``, and index.html for every app route."""

    server_version = "attonix-console"
    sys_version = ""
    root: ClassVar[Path]
    config: ClassVar[bytes]
    headers_out: ClassVar[dict[str, str]]
    quiet: ClassVar[bool] = False
    _gzip_cache: ClassVar[dict[Path, bytes]] = {}
    _gzip_lock: ClassVar[threading.Lock] = threading.Lock()

    def do_GET(self) -> None:
        """Serve one file (or the generated configuration)."""
        self._serve(head=False)

    def do_HEAD(self) -> None:
        """Like GET, without the body."""
        self._serve(head=True)

    def _serve(self, *, head: bool) -> None:
        path = urllib.parse.urlsplit(self.path).path
        try:
            decoded = urllib.parse.unquote(path, errors="strict")
        except UnicodeDecodeError:
            decoded = "\0"  # not UTF-8: no file of ours has such a name
        if any(c in decoded for c in _FORBIDDEN):
            # NUL and control characters name no file; the OS would refuse them mid-request.
            body = b"bad request\n"
            self._send(HTTPStatus.BAD_REQUEST, body, "text/plain", "no-store", head=head)
            return
        if len(decoded) > _MAX_PATH or any(len(p) > _MAX_SEGMENT for p in decoded.split("/")):
            body = b"not found\n"
            self._send(HTTPStatus.NOT_FOUND, body, "text/plain", "no-store", head=head)
            return
        if path == "/config.json":
            self._send(HTTPStatus.OK, self.config, "application/json", "no-store", head=head)
            return
        file = self._resolve(path)
        if file is None:
            # A missing asset is a real 404; any other path is a route of the single-page app.
            if posixpath.splitext(path)[1] or path.startswith("/assets/"):
                body = b"not found\n"
                self._send(HTTPStatus.NOT_FOUND, body, "text/plain", "no-store", head=head)
                return
            file = self.root / "index.html"
        hashed = path.startswith("/assets/")
        cache = "public, max-age=31536000, immutable" if hashed else "no-cache"
        ctype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/javascript", "image/svg+xml"):
            ctype += "; charset=utf-8"
        body = file.read_bytes()
        self._send(HTTPStatus.OK, body, ctype, cache, head=head, file=file)

    def _resolve(self, path: str) -> Path | None:
        # normpath collapses "..", so the result can never leave the root.
        rel = posixpath.normpath(urllib.parse.unquote(path)).lstrip("/")
        if rel in ("", "."):
            return None
        try:
            candidate = (self.root / rel).resolve()
            if not candidate.is_relative_to(self.root) or not candidate.is_file():
                return None
        except (OSError, ValueError):  # a name the file system refuses is no file of ours
            return None
        return candidate

    def _send(
        self,
        status: HTTPStatus,
        body: bytes,
        ctype: str,
        cache: str,
        *,
        head: bool,
        file: Path | None = None,
    ) -> None:
        encoding = ""
        accepts_gzip = "gzip" in self.headers.get("Accept-Encoding", "")
        if file is not None and accepts_gzip and file.suffix in _COMPRESSIBLE and len(body) > 512:
            body = self._gzipped(file, body)
            encoding = "gzip"
        self.send_response(status)
        for name, value in self.headers_out.items():
            self.send_header(name, value)
        self.send_header("Content-Type", ctype)
        self.send_header("Cache-Control", cache)
        self.send_header("Vary", "Accept-Encoding")
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    @classmethod
    def _gzipped(cls, file: Path, body: bytes) -> bytes:
        with cls._gzip_lock:
            cached = cls._gzip_cache.get(file)
            if cached is None:
                cached = gzip.compress(body, compresslevel=9, mtime=0)
                cls._gzip_cache[file] = cached
            return cached

    def log_message(self, format: str, *args: object) -> None:
        """Access log on stderr unless quiet."""
        if not self.quiet:
            super().log_message(format, *args)


def make_server(
    *, root: Path, api_url: str, host: str = "127.0.0.1", port: int = 8081, quiet: bool = False
) -> ThreadingHTTPServer:
    """A ready-to-run console server bound to ``host:port`` (port 0 picks a free one)."""
    root = root.resolve()
    if not (root / "index.html").is_file():
        raise FileNotFoundError(root / "index.html")
    config = json.dumps({"apiUrl": api_url.rstrip("/")}, sort_keys=True).encode()
    handler = type(
        "BoundConsoleHandler",
        (ConsoleHandler,),
        {
            "root": root,
            "config": config,
            "headers_out": security_headers(api_url),
            "quiet": quiet,
            "_gzip_cache": {},
        },
    )
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
