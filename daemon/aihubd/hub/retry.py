"""Capped exponential backoff with full jitter, honouring the Hub's Retry-After."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from ..errors import HubUnavailable

__all__ = ["RetryPolicy", "parse_retry_after", "with_retries"]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base: float = 0.5
    cap: float = 8.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
        return (rng or random).uniform(0.0, min(self.cap, self.base * 2**attempt))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


async def with_retries(call: Callable[[], Awaitable[T]], policy: RetryPolicy) -> T:
    """Run ``call``, retrying HubUnavailable up to ``policy.attempts`` times in all."""
    for attempt in range(policy.attempts):
        try:
            return await call()
        except HubUnavailable as exc:
            if attempt + 1 >= policy.attempts:
                raise
            wait = exc.retry_after if exc.retry_after is not None else policy.delay(attempt)
            await asyncio.sleep(min(wait, 60.0))
    raise AssertionError("unreachable")
