"""Tracked link jobs: the cached view, changes as they happen, adoption, renames, listing."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence

from ..errors import InvalidArgument
from ..hub.api import HubApi
from ..model import Job, JobState
from ..store.jobs import JobStore
from ..tracking.notifier import Notifier
from ..tracking.poller import CycleResult, Poller
from .lookups import Lookups
from .validation import check_job_id, check_name

__all__ = ["JobService", "ShuttingDown"]

log = logging.getLogger(__name__)

DEFAULT_LIST = 50
MAX_LIST = 1000


class ShuttingDown(Exception):
    """The daemon is stopping; the client should reconnect later."""


class JobService:
    def __init__(
        self,
        hub: HubApi,
        store: JobStore,
        notifier: Notifier,
        poller: Poller,
        *,
        keepalive: float = 30.0,
        hub_failing: Callable[[], bool] = lambda: False,
        lookups: Lookups | None = None,
    ) -> None:
        self._hub = hub
        self._hub_failing = hub_failing  # the last Hub exchange failed (a call may still be retrying)
        self._lookups = lookups or Lookups()
        self._store = store
        self._notifier = notifier
        self._poller = poller
        self._keepalive = keepalive
        self.wait_streams = 0  # WaitJob streams open now (watch() generators not yet closed)

    async def get(self, job_id: str, *, peer: str = "") -> Job:
        """The daemon's view; a job it has never seen is read from the Hub once and tracked
        (one Hub request however many ask at once; bounded per ``peer``: see ``Lookups``)."""
        check_job_id(job_id)
        job = await self._store.get(job_id)
        if job is None:
            job = await self._lookups.run(f"track:{job_id}", peer, lambda: self._adopt(job_id))
        return job

    async def peek(self, job_id: str, *, peer: str = "") -> tuple[Job, bool]:
        """The daemon's view, or the Hub's for a job it does not track (not tracked by this);
        and whether the daemon tracks it."""
        check_job_id(job_id)
        job = await self._store.get(job_id)
        if job is not None:
            return job, True
        return await self._lookups.run(f"peek:{job_id}", peer, lambda: self._hub.get_job(job_id)), False

    async def track(self, job_id: str, *, peer: str = "") -> Job:
        """Adopt a job submitted elsewhere: read it from the Hub now and poll it from then on."""
        check_job_id(job_id)
        return await self._lookups.run(f"track:{job_id}", peer, lambda: self._adopt(job_id))

    async def _adopt(self, job_id: str) -> Job:
        job = await self._hub.get_job(job_id)
        await self._store.save([job])
        self._poller.follow(job, soon=False)
        return job

    async def untrack(self, job_id: str) -> bool:
        check_job_id(job_id)
        self._poller.forget(job_id)
        return await self._store.delete(job_id)

    async def list(
        self, states: Sequence[JobState], name_contains: str, limit: int, offset: int
    ) -> tuple[list[Job], int]:
        check_name(name_contains, "name filter")
        if limit > MAX_LIST:
            raise InvalidArgument(f"limit {limit} is too large; at most {MAX_LIST} jobs per page")
        return await self._store.list(states, name_contains, limit or DEFAULT_LIST, offset)

    async def set_name(self, job_id: str, name: str) -> Job:
        """Rename on the Hub, then reflect it in the daemon's cache for every client at once."""
        check_job_id(job_id)
        if not name.strip():
            raise InvalidArgument("a job name must not be empty")
        check_name(name, "job name")
        job = await self.get(job_id)
        await self._hub.set_job_name(job_id, name)
        renamed = dataclasses.replace(job, name=name)
        await self._store.save([renamed])
        self._notifier.ring([job_id])
        return renamed

    async def watch(self, job_id: str, *, peer: str = "") -> AsyncIterator[Job]:
        """The current view first, then each change, ending after a terminal state."""
        finished = (await self.get(job_id, peer=peer)).terminal
        # A waiter: the job is polled within the wait gap; registering nudges a cycle (debounced).
        waiting = contextlib.nullcontext() if finished else self._poller.waiting([job_id])
        last: Job | None = None
        with waiting, self._notifier.subscribe(job_id) as bell, self._counted():
            while True:
                bell.clear()
                job = self._store.cached(job_id) or await self.get(job_id)
                if last is None or not last.same_observation(job):
                    last = job
                    yield job
                if job.terminal:
                    return
                if self._notifier.closed:
                    raise ShuttingDown("aihubd is shutting down; wait again once it is back")
                try:
                    async with asyncio.timeout(self._keepalive):  # no task per wait, unlike wait_for
                        await bell.wait()
                except TimeoutError:
                    pass

    @contextlib.contextmanager
    def _counted(self) -> Iterator[None]:
        self.wait_streams += 1
        try:
            yield
        finally:
            self.wait_streams -= 1

    async def wait_finished(self, job_id: str) -> Job:
        """Block until the job is terminal; returns it."""
        last: Job | None = None
        async for seen in self.watch(job_id):
            last = seen
        assert last is not None and last.terminal
        return last

    async def refresh(self) -> CycleResult:
        return await self._poller.poll_now()

    def stale(self, job: Job) -> bool:
        """True when the Hub could not be asked about this (unfinished) job lately: since a poll
        cycle failed (the Hub in trouble, or the store could not commit), until one succeeds, and
        while the last Hub exchange failed (even if its call is still retrying)."""
        return not job.terminal and (self._poller.hub_trouble or self._hub_failing())

    def trouble(self) -> tuple[str, bool] | None:
        """Why polling is in trouble and whether the Hub is the cause; None while cycles succeed."""
        return self._poller.trouble

    async def counts(self) -> tuple[int, int]:
        """(jobs tracked, jobs in flight)."""
        return await self._store.count(), len(self._store.in_flight())
