"""``GET /healthz`` for an ``attonix worker`` process (stdlib http.server, one daemon thread).

The worker has no API of its own, so an orchestrator's probe needs something to ask: this answers
200 while the worker's loop has ticked recently and 503 once it has not (a loop stuck on a hung
database call, a dead loop thread), with a JSON body giving the age of the last tick. While a
job is in hand the loop does not tick; the job's heartbeat thread ticks instead, so a long
deployment does not get its worker restarted under it.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from attonix.server.jobs import BackgroundWorker


class HealthServer:
    """Serves the worker's health on ``host:port`` until :meth:`close`."""

    def __init__(self, worker: BackgroundWorker, *, host: str = "0.0.0.0", port: int) -> None:  # noqa: S104
        """Bind now (so a port in use is an error at start), serve after :meth:`start`."""
        self.worker = worker

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] != "/healthz":
                    self._send(404, {"error": "not found; the worker serves GET /healthz"})
                    return
                state = worker.health()
                self._send(200 if state["healthy"] else 503, state)

            def _send(self, code: int, body: dict[str, object]) -> None:
                data = json.dumps(body, sort_keys=True).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                """Probes every few seconds are not worth a log line each."""

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True, name="attonix-worker-health"
        )

    @property
    def port(self) -> int:
        """The bound port (useful when asked for port 0)."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Start answering probes."""
        self._thread.start()

    def close(self) -> None:
        """Stop answering and free the port."""
        self._server.shutdown()
        self._server.server_close()
