"""Running blocking work (database reads) off the event loop, cheaply.

Starlette's ``run_in_threadpool`` goes through anyio (a capacity limiter and a cancel scope
per call), which on the hot path costs as much as the database read it wraps. The hot
endpoints use the event loop's own executor instead: one future and one wake-up per call.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


async def in_thread(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """Run ``fn(*args, **kwargs)`` in the loop's default executor (context variables kept)."""
    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
    return await loop.run_in_executor(None, call)
