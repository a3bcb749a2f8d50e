"""One politeness gate for every Hub API request: a token bucket with a polling lane, and
Retry-After pauses.

Polls, submissions and downloads' metadata calls all pass through ``acquire``; blob transfers
(pre-signed URLs) do not. Requests go in one of two lanes (``Lane``, taken from the caller's
context: the poller runs inside ``polling()``): the poller's reads of the jobs it tracks are
served before any on-demand request waiting, and ``poll_reserve`` tokens of the burst are theirs
alone, so no flood of on-demand look-ups can delay polling (or a waiter's news) by more than
a token's interval. A 429/503 with Retry-After pauses *all* traffic until then, for at most
``max_pause`` seconds (a Hub asking for an hour should not silence the daemon for an hour);
the poller waits the pause out (one sleep), an on-demand request waits out at most
``demand_wait`` seconds of it and otherwise fails at once with ``HubPaused`` (its remaining
time as the retry delay). ``paused_until`` says until when, for ``daemon status``.
(A 401 is the ``AuthGate``'s business.)
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from ..errors import HubPaused

__all__ = ["DEFAULT_MAX_PAUSE", "BudgetConfig", "Lane", "RequestBudget", "current_lane", "polling"]

DEFAULT_MAX_PAUSE = 300.0
EPSILON = 1e-9  # tokens: what a refill's rounding may leave short of a whole one


class Lane(enum.Enum):
    POLL = "poll"  # the poller's reads of jobs it tracks: served first, waits pauses out
    DEMAND = "demand"  # everything else (look-ups, submissions, downloads' metadata)


_LANE: ContextVar[Lane] = ContextVar("aihubd_hub_lane", default=Lane.DEMAND)


def current_lane() -> Lane:
    return _LANE.get()


@contextlib.contextmanager
def polling() -> Iterator[None]:
    """Hub requests made inside (and in tasks started inside) go in the polling lane."""
    token = _LANE.set(Lane.POLL)
    try:
        yield
    finally:
        _LANE.reset(token)


@dataclass(frozen=True)
class BudgetConfig:
    rate: float = 10.0  # requests per second, sustained
    burst: int = 20  # requests allowed back to back
    max_pause: float = DEFAULT_MAX_PAUSE  # the longest Retry-After pause honoured, seconds
    poll_reserve: int | None = None  # tokens only the polling lane may take (None: a quarter of the burst)
    demand_wait: float = 10.0  # the longest rest of a pause an on-demand request waits out, seconds


class RequestBudget:
    def __init__(
        self,
        config: BudgetConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        config = config or BudgetConfig()
        if config.rate <= 0 or config.burst < 1 or config.max_pause < 0 or config.demand_wait < 0:
            raise ValueError("the request budget needs rate > 0, burst >= 1, max_pause >= 0 and demand_wait >= 0")
        self._config = config
        self._clock = clock
        self._sleep = sleep
        self._wall_clock = wall_clock
        reserve = config.burst // 4 if config.poll_reserve is None else config.poll_reserve
        self._reserve = float(max(0, min(reserve, config.burst - 1)))  # on-demand requests keep >= 1
        self._tokens = float(config.burst)
        self._stamp = clock()
        self._paused_until = 0.0
        self._locks = {lane: asyncio.Lock() for lane in Lane}  # FIFO within a lane
        self._polls_waiting = 0
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

    async def acquire(self, lane: Lane | None = None) -> None:
        """Wait for a token (and the end of any Retry-After pause) in ``lane`` (default: the
        caller's context's). Raises HubPaused for an on-demand request when the pause has more
        than ``demand_wait`` seconds left."""
        lane = lane or _LANE.get()
        polls = lane is Lane.POLL
        async with self._locks[lane]:
            self._polls_waiting += int(polls)
            try:
                while True:
                    now = self._clock()
                    if now < self._paused_until:
                        if not polls:
                            self.check_pause()
                        await self._sleep(self._paused_until - now)
                        continue
                    self._refill(now)
                    need = (1.0 if polls else 1.0 + self._reserve) - EPSILON  # float sums of refills
                    if self._tokens >= need and (polls or not self._polls_waiting):
                        self._tokens -= 1
                        self.granted += 1
                        return
                    short = need + EPSILON - self._tokens  # <= EPSILON: a poll waiting goes first
                    await self._sleep((short if short > EPSILON else 1.0) / self._config.rate)
            finally:
                self._polls_waiting -= int(polls)

    def check_pause(self, lane: Lane | None = None) -> None:
        """Raise HubPaused if a pause holds an on-demand request in ``lane`` (default: the
        context's) longer than it may wait; the polling lane always waits pauses out."""
        if (lane or _LANE.get()) is Lane.POLL:
            return
        left = self._paused_until - self._clock()
        if left > self._config.demand_wait:
            until = (self._wall_clock() + timedelta(seconds=left)).replace(microsecond=0)
            raise HubPaused(
                f"the Hub asked to wait until {until.isoformat()} (Retry-After); "
                f"try again in {left:.0f} s (cached reads still answer)",
                retry_after=left,
            )

    def _refill(self, now: float) -> None:
        self._tokens = min(float(self._config.burst), self._tokens + (now - self._stamp) * self._config.rate)
        self._stamp = now

    def retry_after(self, seconds: float) -> None:
        """The Hub asked everyone to wait ``seconds`` (honoured up to ``max_pause``)."""
        pause = min(max(0.0, seconds), self._config.max_pause)
        self._paused_until = max(self._paused_until, self._clock() + pause)
