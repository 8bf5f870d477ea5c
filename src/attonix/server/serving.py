"""Serving one replica with a graceful stop: readiness fails first, in-flight requests finish.

On the first SIGTERM (or Ctrl-C) a replica behind a load balancer must not simply close its
port: requests the balancer already routed to it would fail. :class:`DrainingServer` instead

1. marks the app as draining, so ``/readyz`` answers 503 at once (the balancer's health checks
   take the replica out of rotation) while every other request is still served;
2. after ``shutdown_drain_seconds``, hands over to uvicorn's own graceful shutdown: the port is
   closed, in-flight requests finish (up to ``GRACE_SECONDS``), then the app's lifespan stops
   its in-process job worker, which finishes its current job and claims no more.

A second signal skips the drain wait; a third forces the exit (uvicorn's own behaviour).
"""

from __future__ import annotations

import logging
import threading
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

log = logging.getLogger("attonix.server")

#: Longest wait for in-flight requests (and open event streams) once the port is closed.
GRACE_SECONDS = 30


def is_draining(app: FastAPI) -> bool:
    """Whether the replica serving ``app`` is stopping (``/readyz`` then fails)."""
    return bool(getattr(app.state, "draining", False))


class DrainingServer(uvicorn.Server):
    """uvicorn's server with a drain phase before its graceful shutdown (module docstring)."""

    def __init__(self, config: uvicorn.Config, *, app: FastAPI, drain_seconds: float) -> None:
        """Serve ``app`` with ``config``; drain for ``drain_seconds`` on the first signal."""
        super().__init__(config)
        self._app = app
        self._drain_seconds = drain_seconds
        self._timer: threading.Timer | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """First signal: start draining; later ones: uvicorn's shutdown (then forced exit)."""
        if is_draining(self._app) or self._drain_seconds <= 0:
            if self._timer is not None:
                self._timer.cancel()
            super().handle_exit(sig, frame)
            return
        self._app.state.draining = True
        log.warning("stopping: /readyz fails now; closing in %.1fs", self._drain_seconds)
        self._timer = threading.Timer(self._drain_seconds, self._close)
        self._timer.daemon = True
        self._timer.start()

    def _close(self) -> None:
        # Read by uvicorn's main loop (it polls ``should_exit`` every 0.1 s).
        self.should_exit = True


def serve(app: FastAPI, *, drain_seconds: float, **config: Any) -> None:
    """Run ``app`` with uvicorn ``config`` (host, port, TLS…) and the drain-then-stop shutdown."""
    app.state.draining = False
    cfg = uvicorn.Config(app, timeout_graceful_shutdown=GRACE_SECONDS, **config)
    DrainingServer(cfg, app=app, drain_seconds=drain_seconds).run()
