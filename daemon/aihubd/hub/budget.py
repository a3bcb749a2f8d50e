"""One politeness gate for every Hub API request: a token bucket, Retry-After pauses, and a stop on 401.

Polls, submissions and downloads' metadata calls all pass through ``acquire``; blob transfers
(pre-signed URLs) do not. A 429/503 with Retry-After pauses *all* traffic until then. A 401
blocks all traffic until the credentials change (``credentials_changed``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..errors import HubAuthError

__all__ = ["BudgetConfig", "RequestBudget"]


@dataclass(frozen=True)
class BudgetConfig:
    rate: float = 10.0  # requests per second, sustained
    burst: int = 20  # requests allowed back to back


class RequestBudget:
    def __init__(
        self,
        config: BudgetConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        config = config or BudgetConfig()
        if config.rate <= 0 or config.burst < 1:
            raise ValueError("the request budget needs rate > 0 and burst >= 1")
        self._config = config
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(config.burst)
        self._stamp = clock()
        self._paused_until = 0.0
        self._auth_error: str | None = None
        self._lock = asyncio.Lock()
        self.granted = 0

    def clock(self) -> float:
        return self._clock()

    @property
    def auth_blocked(self) -> str | None:
        """The 401 message while Hub traffic is stopped, else None."""
        return self._auth_error

    async def acquire(self) -> None:
        """Wait for a token (and the end of any Retry-After pause); raise while auth is blocked."""
        async with self._lock:  # FIFO: waiters are served in order
            while True:
                if self._auth_error is not None:
                    raise HubAuthError(self._auth_error, 401)
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
        """The Hub asked everyone to wait ``seconds``."""
        self._paused_until = max(self._paused_until, self._clock() + min(seconds, 3600.0))

    def auth_failed(self, message: str) -> None:
        self._auth_error = message

    def credentials_changed(self) -> None:
        self._auth_error = None
