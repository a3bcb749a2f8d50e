"""The Hub's own clock, read from the ``Date`` header of its answers, never the daemon's wall clock.

Each answer's ``Date`` (whole seconds, stamped before the answer left the Hub) is kept with the
monotonic time it arrived; the Hub's time now is at least that date plus the monotonic time
elapsed since. Times the Hub states (a job's ``creation_time``) can then be bounded by the Hub's
clock whatever the daemon's says (issue 11, item 6: a daemon 10 minutes ahead).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC
from email.utils import parsedate_to_datetime

__all__ = ["HubClock"]


class HubClock:
    """The latest ``Date`` the Hub sent, carried forward by a monotonic clock."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._seen: tuple[float, float] | None = None  # (Hub epoch seconds, monotonic at arrival)

    def observe(self, date_header: str | None) -> None:
        """Note an answer's ``Date`` header (ignored when missing or unreadable)."""
        if not date_header:
            return
        try:
            stated = parsedate_to_datetime(date_header)
        except (TypeError, ValueError, IndexError):
            return
        if stated.tzinfo is None:  # "-0000": UTC with no zone information
            stated = stated.replace(tzinfo=UTC)
        self._seen = (stated.timestamp(), self._monotonic())

    def now(self) -> float | None:
        """A lower bound of the Hub's time now (epoch seconds), None before any dated answer."""
        if self._seen is None:
            return None
        stamped, at = self._seen
        return stamped + max(0.0, self._monotonic() - at)
