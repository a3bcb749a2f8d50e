"""When each job in flight is next due for a look: soon after a change, stretched while it sits.

Intervals start at ``base`` after a submission or a state change, grow by ``growth`` each time
nothing changed, up to ``cap``; each due time gets ±``jitter`` so jobs never poll in lock-step.
Pure logic over an injected clock value and random generator, so tests are exact.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Cadence", "Schedule"]


@dataclass(frozen=True)
class Cadence:
    base: float = 5.0
    cap: float = 60.0
    growth: float = 1.5
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap < self.base or self.growth < 1 or not 0 <= self.jitter < 1:
            raise ValueError(f"invalid poll cadence {self}")


@dataclass
class _Entry:
    interval: float
    due: float


class Schedule:
    def __init__(self, cadence: Cadence, rng: random.Random | None = None) -> None:
        self.cadence = cadence
        self._rng = rng or random.Random()
        self._entries: dict[str, _Entry] = {}
        self.unlisted: set[str] = set()  # jobs the summaries listing does not show (shared, other project)

    def _jittered(self, interval: float) -> float:
        j = self.cadence.jitter
        return interval * self._rng.uniform(1 - j, 1 + j)

    def track(self, job_id: str, now: float, *, soon: bool) -> None:
        """Start following a job: due at once-ish when ``soon`` (just submitted), else after ``base``."""
        if job_id in self._entries:
            if soon:
                self._entries[job_id] = _Entry(self.cadence.base, now)
            return
        base = self.cadence.base
        self._entries[job_id] = _Entry(base, now if soon else now + self._jittered(base))

    def observed(self, job_id: str, now: float, *, changed: bool) -> float:
        """Record a look at the job; returns its next due time."""
        entry = self._entries.get(job_id)
        if entry is None:
            entry = self._entries[job_id] = _Entry(self.cadence.base, now)
        entry.interval = self.cadence.base if changed else min(self.cadence.cap, entry.interval * self.cadence.growth)
        entry.due = now + self._jittered(entry.interval)
        return entry.due

    def forget(self, job_id: str) -> None:
        self._entries.pop(job_id, None)
        self.unlisted.discard(job_id)

    def is_due(self, job_id: str, now: float) -> bool:
        entry = self._entries.get(job_id)
        return entry is None or entry.due <= now

    def interval(self, job_id: str) -> float | None:
        entry = self._entries.get(job_id)
        return entry.interval if entry else None

    def next_due(self) -> float | None:
        return min((e.due for e in self._entries.values()), default=None)
