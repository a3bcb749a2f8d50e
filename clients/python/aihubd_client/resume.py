"""When to reconnect a wait after the daemon went away, and when to give up; deadlines.

A wait is a server stream. It ends early when the daemon stops (the last message says
``daemon_shutting_down``) or dies (the stream fails as "daemon unavailable"). The job itself goes
on, on the Hub and in the restarted daemon's store, so ``wait()`` reconnects and waits on.

``Outage`` is the bookkeeping, shared by the blocking and the asyncio client: an outage starts
at the first loss; attempts follow with a growing pause; the outage ends when a new stream has
stayed up for ``stable_after`` seconds; after ``window`` seconds of outage the wait gives up. A
wait that never reached the daemon does not reconnect at all: the daemon is simply not running.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["DEFAULT_RECONNECT", "Deadline", "Outage", "ReconnectPolicy"]


@dataclass(frozen=True)
class ReconnectPolicy:
    """How a wait rides out a daemon restart. ``window`` 0 disables reconnecting."""

    # Keep trying this long after the daemon went away (the caller's timeout still applies).
    window: float = 60.0
    # A stream that lived this long means the daemon is back: a later loss is a new outage.
    stable_after: float = 5.0
    # Pause before the first attempt, doubled after each failed one up to ``max_pause``.
    first_pause: float = 0.1
    max_pause: float = 1.0


DEFAULT_RECONNECT = ReconnectPolicy()


class Outage:
    """Tracks one wait's connection history; ``lost()`` says how long to pause, or to give up."""

    def __init__(self, policy: ReconnectPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy
        self._clock = clock
        self._opened_at: float | None = None
        self._open = False
        self._since: float | None = None
        self._pause = policy.first_pause

    @property
    def ever_connected(self) -> bool:
        """Whether any stream of this wait received a message."""
        return self._opened_at is not None

    def connected(self) -> None:
        """A stream delivered its first message."""
        self._opened_at = self._clock()
        self._open = True

    def lost(self) -> float | None:
        """The stream is gone (or an attempt failed): seconds to pause, or None to give up."""
        now = self._clock()
        if self._opened_at is None or self._policy.window <= 0:
            return None
        if self._open:
            if self._since is None or now - self._opened_at >= self._policy.stable_after:
                self._since = now  # a new outage
                self._pause = self._policy.first_pause
            self._open = False
        assert self._since is not None  # set at the loss of the first open stream
        if now - self._since >= self._policy.window:
            return None
        pause = min(self._pause, self._since + self._policy.window - now)
        self._pause = min(self._pause * 2, self._policy.max_pause)
        return pause


class Deadline:
    """A caller's ``timeout`` (None or 0: none) as a point in time, for calls made one by one."""

    def __init__(self, seconds: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds or None
        self._clock = clock
        self._end = clock() + seconds if seconds else None

    def remaining(self) -> float | None:
        """Seconds left (never negative), or None without a timeout."""
        if self._end is None:
            return None
        return max(self._end - self._clock(), 0.0)

    def expired(self) -> bool:
        remaining = self.remaining()
        return remaining is not None and remaining <= 0
