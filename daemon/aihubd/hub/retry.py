"""Retries at least as patient as the official client's, honouring (a capped) Retry-After.

The official client (``qai_hub/util/session.py``) retries reads 6 times after waits of
0, 1.5, 3, 6, 12 and 24 s (urllib3, ~46.5 s in all, a Retry-After replacing the wait), and creates
and renames 6 times with jittered waits of at most ~31 s in all. The default policy here waits
1.5, 3, 6, 12, 24, 24 s (plus up to 25 % jitter, upward only): never less than the official client
at any step, ~70 s in all. A Retry-After wait replaces the backoff, capped at ``max_retry_after``.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from ..errors import HubPaused, HubUnavailable

__all__ = ["Backoff", "RetryPolicy", "parse_retry_after", "with_retries"]

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 7
    base: float = 1.5
    cap: float = 24.0
    jitter: float = 0.25
    max_retry_after: float = 300.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The wait after failed attempt ``attempt`` (0-based): the capped exponential, plus up to
        ``jitter`` of it so that many clients do not retry in lock-step."""
        step = min(self.cap, self.base * 2.0**attempt)
        return step * (rng or random).uniform(1.0, 1.0 + self.jitter)

    def patience(self) -> float:
        """The least total wait before giving up (no Retry-After)."""
        return sum(min(self.cap, self.base * 2.0**a) for a in range(self.attempts - 1))


class Backoff:
    """When a repeated operation (the poll cycle) may be tried again after consecutive failures:
    ``policy.delay`` of the failure count, on an injected clock; a success resets it."""

    def __init__(
        self, policy: RetryPolicy, clock: Callable[[], float] = time.monotonic, rng: random.Random | None = None
    ) -> None:
        self._policy = policy
        self._clock = clock
        self._rng = rng
        self.failures = 0
        self._until: float | None = None

    def failed(self) -> float:
        """Count a failure; returns the wait before the next try."""
        wait = self._policy.delay(min(self.failures, 32), self._rng)
        self.failures += 1
        self._until = self._clock() + wait
        return wait

    def succeeded(self) -> None:
        self.failures = 0
        self._until = None

    def remaining(self) -> float:
        """Seconds left before the next try may start (0 when it may start now)."""
        return 0.0 if self._until is None else max(0.0, self._until - self._clock())


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


async def with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Run ``call``, retrying HubUnavailable (not HubPaused) up to ``policy.attempts`` times in all."""
    for attempt in range(policy.attempts):
        try:
            return await call()
        except HubPaused:  # a pause longer than the caller may wait: retrying would only wait it out
            raise
        except HubUnavailable as exc:
            if attempt + 1 >= policy.attempts:
                raise
            if exc.retry_after is not None:
                wait = min(exc.retry_after, policy.max_retry_after)
            else:
                wait = policy.delay(attempt)
            await sleep(wait)
    raise AssertionError("unreachable")
