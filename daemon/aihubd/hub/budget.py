"""One politeness gate for every Hub API request: a token bucket and Retry-After pauses.

Polls, submissions and downloads' metadata calls all pass through ``acquire``; blob transfers
(pre-signed URLs) do not. A 429/503 with Retry-After pauses *all* traffic until then, for at most
``max_pause`` seconds (a Hub asking for an hour should not silence the daemon for an hour);
``paused_until`` says until when, for ``daemon status``. (A 401 is the ``AuthGate``'s business.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

__all__ = ["DEFAULT_MAX_PAUSE", "BudgetConfig", "RequestBudget"]

DEFAULT_MAX_PAUSE = 300.0


@dataclass(frozen=True)
class BudgetConfig:
    rate: float = 10.0  # requests per second, sustained
    burst: int = 20  # requests allowed back to back
    max_pause: float = DEFAULT_MAX_PAUSE  # the longest Retry-After pause honoured, seconds


class RequestBudget:
    def __init__(
        self,
        config: BudgetConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        config = config or BudgetConfig()
        if config.rate <= 0 or config.burst < 1 or config.max_pause < 0:
            raise ValueError("the request budget needs rate > 0, burst >= 1 and max_pause >= 0")
        self._config = config
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(config.burst)
        self._stamp = clock()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()
        self.granted = 0

    def clock(self) -> float:
        return self._clock()

    async def sleep(self, seconds: float) -> None:
        """Sleep on the budget's clock (a fake one in tests)."""
        await self._sleep(seconds)

    @property
    def paused_until(self) -> float | None:
        """The clock time a Retry-After pause lasts until, while one is in force."""
        return self._paused_until if self._paused_until > self._clock() else None

    async def acquire(self) -> None:
        """Wait for a token (and the end of any Retry-After pause)."""
        async with self._lock:  # FIFO: waiters are served in order
            while True:
                now = self._clock()
                if now < self._paused_until:
                    await self._sleep(self._paused_until - now)
                    continue
                self._refill(now)
                if self._tokens >= 1:
                    self._tokens -= 1
                    self.granted += 1
                    return
                await self._sleep((1 - self._tokens) / self._config.rate)

    def _refill(self, now: float) -> None:
        self._tokens = min(float(self._config.burst), self._tokens + (now - self._stamp) * self._config.rate)
        self._stamp = now

    def retry_after(self, seconds: float) -> None:
        """The Hub asked everyone to wait ``seconds`` (honoured up to ``max_pause``)."""
        pause = min(max(0.0, seconds), self._config.max_pause)
        self._paused_until = max(self._paused_until, self._clock() + pause)
