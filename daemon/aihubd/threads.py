"""Blocking file work (fsync, rename, copies) off the event loop, never abandoned half-way."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["finish_in_thread"]

T = TypeVar("T")


async def finish_in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)`` in a worker thread, so the event loop keeps serving every client.

    If the caller is cancelled meanwhile, the cancellation waits until ``fn`` has returned (a
    thread cannot be stopped): whatever the caller cleans up next, no file work runs under it.
    """
    work = asyncio.get_running_loop().run_in_executor(None, functools.partial(fn, *args, **kwargs))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        await asyncio.wait([work])
        raise
