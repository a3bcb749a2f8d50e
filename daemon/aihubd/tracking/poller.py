"""The only code that asks the Hub for job status: one loop for every job in flight.

Each cycle reads every non-terminal job from the Hub (a few at a time), writes the changes in
one transaction, then rings the notifier. Waiters never trigger polls; ``poll_now`` runs one
cycle on request (explicit refresh) and returns its counts.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass

from ..errors import AihubdError, HubAuthError, HubUnavailable, NotFound
from ..hub.api import HubApi
from ..model import Job
from ..store.jobs import JobStore
from .notifier import Notifier

__all__ = ["CycleResult", "Poller"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CycleResult:
    polled: int
    changed: int


class Poller:
    def __init__(self, hub: HubApi, store: JobStore, notifier: Notifier, *, interval: float,
                 concurrency: int = 8, jitter: float = 0.2) -> None:
        self._hub = hub
        self._store = store
        self._notifier = notifier
        self._interval = interval
        self._jitter = jitter
        self._gate = asyncio.Semaphore(concurrency)
        self._cycle_lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._failing = False
        self._started = 0  # cycles started so far
        self._wanted = 0  # a nudge wants a cycle numbered at least this
        self.cycles = 0

    @property
    def started_cycles(self) -> int:
        return self._started

    def nudge(self) -> None:
        """Ask for a cycle that starts after now (a new job was submitted). Debounced: any cycle
        that starts later, by the timer or ``poll_now``, satisfies it."""
        self._wanted = self._started + 1
        self._wake.set()

    async def run(self) -> None:
        """Poll every ``interval`` (jittered) and on nudges, until cancelled."""
        nudged = False
        while True:
            try:
                await self._cycle(skip_if_satisfied=nudged)
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must survive anything one cycle does...
                task = asyncio.current_task()
                if task is not None and task.cancelling():  # ...but never swallow its own cancellation
                    raise
                log.exception("poll cycle failed")
            delay = self._interval * random.uniform(1 - self._jitter, 1 + self._jitter)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=delay)
                nudged = True
            except TimeoutError:
                nudged = False
            self._wake.clear()

    async def poll_now(self) -> CycleResult:
        """Run one cycle over every job in flight now; returns how many were polled and changed."""
        return await self._cycle(skip_if_satisfied=False)

    async def _cycle(self, *, skip_if_satisfied: bool) -> CycleResult:
        async with self._cycle_lock:
            if skip_if_satisfied and self._started >= self._wanted:
                return CycleResult(0, 0)
            self._started += 1
            jobs = self._store.in_flight()
            if not jobs:
                return CycleResult(0, 0)
            fresh = await asyncio.gather(*(self._read(job) for job in jobs))
            changed = [new for old, new in zip(jobs, fresh) if new is not None and not old.same_observation(new)]
            seen = [new for new in fresh if new is not None]
            await self._store.save(seen)  # the store first (refresh times too), then the bell
            self._notifier.ring(job.job_id for job in changed)
            self.cycles += 1
            return CycleResult(len(jobs), len(changed))

    async def _read(self, job: Job) -> Job | None:
        async with self._gate:
            try:
                fresh = await self._hub.get_job(job.job_id)
            except (HubUnavailable, HubAuthError) as exc:
                self._note_failure(exc)
                return None
            except NotFound:
                log.warning("job %s is no longer visible on the Hub; keeping its last known state", job.job_id)
                return None
            except AihubdError as exc:
                log.warning("polling job %s failed: %s", job.job_id, exc)
                return None
        if self._failing:
            self._failing = False
            log.info("the Hub answers again")
        return fresh

    def _note_failure(self, exc: AihubdError) -> None:
        if not self._failing:
            self._failing = True
            log.warning("polling paused by Hub trouble: %s", exc)
