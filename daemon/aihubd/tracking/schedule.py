"""When each job in flight is next due for a look: soon after a change, stretched while it sits.

Intervals start at ``base`` after a submission or a state change, grow by ``growth`` each time
nothing changed, up to ``cap``; each due time gets ±``jitter`` so jobs never poll in lock-step.
While a client waits on a job (or watches every job), its gap is ``wait`` — the official
client's own ``wait()`` interval — jittered only downwards (``wait``·[1-jitter, 1]), right after
a change too, so a waiter never gets news later than polling the Hub itself would have given it
and the Hub sees at most 1/(1-jitter) times its requests; the ``base`` gap after a change and the
stretch past ``wait`` apply only while nobody waits (``cap`` below ``wait`` bounds both). One
cycle's listing covers every listed job, so a waited job being due costs one listing per page,
not one request per job.
Pure logic over an injected clock value and random generator, so tests are exact.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass

__all__ = ["Cadence", "Schedule"]


@dataclass(frozen=True)
class Cadence:
    base: float = 5.0
    cap: float = 60.0
    growth: float = 1.5
    jitter: float = 0.2
    wait: float = 10.0  # the longest gap while someone waits (qai_hub's Job.wait polls every 10 s)

    def __post_init__(self) -> None:
        if self.base <= 0 or self.cap < self.base or self.growth < 1 or not 0 <= self.jitter < 1 or self.wait <= 0:
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
        self._waiters: Counter[str] = Counter()  # waits per job id
        self._watch_all = 0  # waits on every job (a WatchJobs stream without a job-id filter)

    def _jittered(self, interval: float) -> float:
        j = self.cadence.jitter
        return interval * self._rng.uniform(1 - j, 1 + j)

    def _wait_gap(self) -> float:
        """A gap while someone waits: ``wait`` (or ``cap`` when shorter), jitter only shortening it."""
        return min(self.cadence.wait, self.cadence.cap) * self._rng.uniform(1 - self.cadence.jitter, 1)

    def _gap(self, job_id: str, interval: float) -> float:
        # While waited on, every gap is the wait gap, also right after a change: the official
        # wait() polls every ``wait`` seconds whatever happened, and a shorter ``base`` gap after
        # each change would cost more requests than it does.
        return self._wait_gap() if self.waited_on(job_id) else self._jittered(interval)

    def waited_on(self, job_id: str) -> bool:
        """Whether some client waits on this job (or on every job)."""
        return self._watch_all > 0 or self._waiters[job_id] > 0

    @property
    def waiting(self) -> bool:
        """Whether anyone waits on anything."""
        return self._watch_all > 0 or bool(self._waiters)

    def add_waiter(self, job_ids: Collection[str] | None, now: float) -> None:
        """A client waits on these jobs (None: on every job); their next look comes within ``wait``."""
        if job_ids is None:
            self._watch_all += 1
            targets: Collection[str] = list(self._entries)
        else:
            self._waiters.update(job_ids)
            targets = job_ids
        for job_id in targets:
            entry = self._entries.get(job_id)
            if entry is not None:
                entry.due = min(entry.due, now + self._wait_gap())

    def remove_waiter(self, job_ids: Collection[str] | None) -> None:
        if job_ids is None:
            self._watch_all = max(0, self._watch_all - 1)
            return
        self._waiters.subtract(job_ids)
        for job_id in job_ids:
            if self._waiters[job_id] <= 0:
                del self._waiters[job_id]

    def track(self, job_id: str, now: float, *, soon: bool) -> None:
        """Start following a job: due at once-ish when ``soon`` (just submitted), else after ``base``."""
        if job_id in self._entries:
            if soon:
                self._entries[job_id] = _Entry(self.cadence.base, now)
            return
        base = self.cadence.base
        self._entries[job_id] = _Entry(base, now if soon else now + self._gap(job_id, base))

    def observed(self, job_id: str, now: float, *, changed: bool) -> float:
        """Record a look at the job; returns its next due time."""
        entry = self._entries.get(job_id)
        if entry is None:
            entry = self._entries[job_id] = _Entry(self.cadence.base, now)
        entry.interval = self.cadence.base if changed else min(self.cadence.cap, entry.interval * self.cadence.growth)
        entry.due = now + self._gap(job_id, entry.interval)
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
