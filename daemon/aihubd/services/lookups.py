"""On-demand Hub look-ups of jobs the daemon does not track: single-flight and bounded per client.

However many calls ask for the same id at once, one Hub request answers them all (the first
caller's look-up runs as its own task, so a caller that gives up does not fail the others).
Each client (the key ``rpc/peers.py`` derives: the gRPC peer plus the channel's client id, so
each aihubd client channel on the Unix socket counts alone; callers without an id there share the
peer ``unix:``) may have at most ``per_peer`` distinct look-ups going, ``concurrent`` of them
asking the Hub at a time and the rest queued; past that a call fails at once with ``Throttled``
(RESOURCE_EXHAUSTED with a retry delay) instead of queueing on the Hub budget ahead of everyone
else.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ..errors import Throttled

__all__ = ["Lookups"]

T = TypeVar("T")


class Lookups:
    def __init__(self, *, per_peer: int = 16, concurrent: int = 4, retry_after: float = 1.0) -> None:
        if per_peer < 1 or not 1 <= concurrent <= per_peer or retry_after <= 0:
            raise ValueError("look-up limits need 1 <= concurrent <= per_peer and retry_after > 0")
        self._per_peer = per_peer
        self._concurrent = concurrent
        self._retry_after = retry_after
        self._flights: dict[str, asyncio.Task[Any]] = {}
        self._going: Counter[str] = Counter()  # look-ups started per peer, not finished yet
        self._gates: dict[str, asyncio.Semaphore] = {}

    def going(self, peer: str) -> int:
        """How many look-ups of ``peer`` are in flight or queued."""
        return self._going[peer]

    async def run(self, key: str, peer: str, look_up: Callable[[], Awaitable[T]]) -> T:
        """``look_up()``'s result, shared with every concurrent call for the same ``key``."""
        flight = self._flights.get(key)
        if flight is None:
            if self._going[peer] >= self._per_peer:
                raise Throttled(
                    f"this client already has {self._going[peer]} Hub look-ups of untracked jobs going "
                    f"(at most {self._per_peer}); retry in {self._retry_after:g} s, or track the jobs "
                    "(TrackJob) so the daemon polls them",
                    self._retry_after,
                )
            self._going[peer] += 1  # counted now: calls in the same tick see it
            flight = asyncio.create_task(self._fly(key, peer, look_up))
            flight.add_done_callback(_retrieve)  # every caller may have given up
            self._flights[key] = flight
        result: T = await asyncio.shield(flight)
        return result

    async def _fly(self, key: str, peer: str, look_up: Callable[[], Awaitable[T]]) -> T:
        gate = self._gates.setdefault(peer, asyncio.Semaphore(self._concurrent))
        try:
            async with gate:
                return await look_up()
        finally:
            self._flights.pop(key, None)
            self._going[peer] -= 1
            if not self._going[peer]:
                del self._going[peer]
                self._gates.pop(peer, None)


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()
