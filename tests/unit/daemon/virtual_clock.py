"""A virtual clock for asyncio code that sleeps on an injected ``sleep``: time moves only when
every task is blocked, to the earliest sleeper's wake-up (no wall time involved)."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")
SETTLE = 20  # loop turns that let every runnable task reach its next await


class VirtualClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.sleeps: list[float] = []
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), next(self._order), wake))
        await wake

    async def settle(self) -> None:
        for _ in range(SETTLE):
            await asyncio.sleep(0)

    async def run(self, awaitable: Awaitable[T], *, limit: float = 1e6) -> T:
        """Await ``awaitable``, advancing virtual time whenever nothing else can run."""
        task = asyncio.ensure_future(awaitable)
        while True:
            await self.settle()
            if task.done():
                return task.result()
            if not self._sleepers:
                raise AssertionError("deadlock: nothing sleeps and the awaited task is not done")
            wake_at, _, wake = heapq.heappop(self._sleepers)
            if wake_at > limit:
                raise AssertionError(f"virtual time passed {limit}")
            self.now = max(self.now, wake_at)
            if not wake.done():
                wake.set_result(None)
