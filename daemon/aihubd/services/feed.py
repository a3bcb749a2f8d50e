"""The job feed: list, then watch, resumable (like Kubernetes list+watch over etcd revisions).

A stream subscribes to the store's committed changes *before* it reads anything, then reads a
snapshot (or the history after ``since``) together with the revision it shows. Live changes at or
below that revision are already in what was read and are skipped; later ones are delivered. So a
change racing the snapshot is seen exactly once, and a resumed stream gets exactly the changes
after its revision. Each stream buffers at most ``buffer`` changes; one that falls further behind
is ended (``ReaderTooSlow``) without ever blocking the writer or other streams. Idle streams get a
bookmark with the revision they have seen everything up to.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass

from ..errors import InvalidArgument, OutOfRange, ReaderTooSlow, RevisionCompacted
from ..model import Job, JobState
from ..store.events import EventLog, JobChange
from ..store.jobs import JobStore
from ..tracking.poller import Poller
from .jobs import ShuttingDown
from .validation import check_job_id, check_name

__all__ = ["FeedEvent", "FeedKind", "FeedService", "WatchFilter"]

DEFAULT_BOOKMARK_INTERVAL = 30.0
DEFAULT_BUFFER = 1000
MAX_FILTER_IDS = 1000
MAX_REVISION = (1 << 63) - 1


class FeedKind(enum.IntEnum):
    """Values equal the wire enum ``aihubd.v1.JobEventKind``."""

    SNAPSHOT = 1
    SNAPSHOT_END = 2
    APPEARED = 3
    CHANGED = 4
    UNTRACKED = 5
    BOOKMARK = 6


@dataclass(frozen=True)
class FeedEvent:
    kind: FeedKind
    revision: int
    job: Job | None = None
    changed: tuple[str, ...] = ()


@dataclass(frozen=True)
class WatchFilter:
    """Which jobs a stream follows; empty parts match everything."""

    job_ids: frozenset[str] = frozenset()
    states: frozenset[JobState] = frozenset()
    name_contains: str = ""

    @classmethod
    def checked(cls, job_ids: Iterable[str], states: Iterable[JobState], name_contains: str) -> WatchFilter:
        ids = frozenset(check_job_id(j) for j in job_ids)
        if len(ids) > MAX_FILTER_IDS:
            raise InvalidArgument(f"{len(ids)} job ids in the filter; at most {MAX_FILTER_IDS}")
        return cls(ids, frozenset(states), check_name(name_contains, "name filter"))

    def matches(self, job: Job) -> bool:
        return self._view_matches(job.job_id, job.state, job.name)

    def matches_change(self, change: JobChange) -> bool:
        """The job after the change matches, or it did before (so leaving the filter is seen)."""
        if self.matches(change.job):
            return True
        before_state = change.previous_state if change.previous_state is not None else change.job.state
        before_name = change.previous_name if change.previous_name is not None else change.job.name
        return self._view_matches(change.job.job_id, before_state, before_name)

    def _view_matches(self, job_id: str, state: JobState, name: str) -> bool:
        return (
            (not self.job_ids or job_id in self.job_ids)
            and (not self.states or state in self.states)
            and (not self.name_contains or self.name_contains.lower() in name.lower())
        )


class _Subscriber:
    """One stream's bounded buffer of matching committed changes."""

    def __init__(self, watch_filter: WatchFilter, capacity: int) -> None:
        self.filter = watch_filter
        self.capacity = capacity
        self.queue: deque[JobChange] = deque()
        self.wake = asyncio.Event()
        self.seen = 0  # the newest revision offered (matching or not)
        self.overflowed = False
        self.closed = False

    def offer(self, changes: Sequence[JobChange]) -> None:
        if self.overflowed or self.closed:
            return
        matching = [c for c in changes if self.filter.matches_change(c)]
        if len(self.queue) + len(matching) > self.capacity:
            self.overflowed = True
            self.queue.clear()  # its memory goes now; the stream ends when it next reads
            self.wake.set()
            return
        self.seen = changes[-1].revision
        if matching:
            self.queue.extend(matching)
            self.wake.set()


class FeedService:
    def __init__(
        self,
        store: JobStore,
        *,
        bookmark_interval: float = DEFAULT_BOOKMARK_INTERVAL,
        buffer: int = DEFAULT_BUFFER,
        poller: Poller | None = None,
    ) -> None:
        self._store = store
        self._poller = poller  # a stream is a waiter: on its job ids, or on every job
        self._events: EventLog = store.events
        self._bookmark_interval = bookmark_interval
        self._buffer = buffer
        self._subscribers: set[_Subscriber] = set()
        self._closed = False
        self._events.add_listener(self._on_commit)

    @property
    def streams(self) -> int:
        """How many WatchJobs streams are open."""
        return len(self._subscribers)

    def close(self) -> None:
        """End every stream with ShuttingDown (the daemon is stopping)."""
        self._closed = True
        for sub in self._subscribers:
            sub.closed = True
            sub.wake.set()

    def _on_commit(self, changes: Sequence[JobChange]) -> None:
        for sub in self._subscribers:
            sub.offer(changes)

    @contextlib.contextmanager
    def _subscribe(self, watch_filter: WatchFilter) -> Iterator[_Subscriber]:
        sub = _Subscriber(watch_filter, self._buffer)
        self._subscribers.add(sub)
        try:
            yield sub
        finally:
            self._subscribers.discard(sub)

    async def store_id(self) -> str:
        return await self._events.store_id()

    async def watch(
        self, watch_filter: WatchFilter, since: int | None = None, store_id: str = ""
    ) -> AsyncGenerator[FeedEvent, None]:
        """A snapshot then changes (``since`` None), or exactly the changes after ``since``
        (counted in the store ``store_id``, when given)."""
        if self._closed:
            raise ShuttingDown("aihubd is shutting down; watch again once it is back")
        if since is not None and store_id and store_id != await self.store_id():
            current, compacted = await self._events.revisions()
            raise OutOfRange(
                f"revision {since} counts in store {store_id[:32]!r}, but this daemon's store is "
                f"{await self.store_id()!r} (its state was replaced); list again: watch without since_revision",
                current,
                compacted,
            )
        ids = watch_filter.job_ids or None
        waiting = contextlib.nullcontext() if self._poller is None else self._poller.waiting(ids)
        with self._subscribe(watch_filter) as sub, waiting:
            if since is None:
                jobs, position = await self._store.snapshot()
                for job in jobs:
                    if watch_filter.matches(job):
                        yield FeedEvent(FeedKind.SNAPSHOT, position, job)
                yield FeedEvent(FeedKind.SNAPSHOT_END, position)
            else:
                history, position = await self._history_after(since)
                for change in history:
                    if watch_filter.matches_change(change):
                        yield _event(change)
            async for event in self._live(sub, position):
                yield event

    async def _history_after(self, since: int) -> tuple[list[JobChange], int]:
        if since < 0:
            raise InvalidArgument(f"since_revision {since} is negative")
        if since > MAX_REVISION:  # beyond what SQLite can hold: no store ever gets there
            current, compacted = await self._events.revisions()
            raise _ahead(since, current, compacted)
        history, current, compacted = await self._events.read_after(since)
        if since < compacted:
            raise RevisionCompacted(
                f"revision {since} is older than the daemon's feed history (it keeps revisions after "
                f"{compacted}); list again: watch without since_revision",
                current,
                compacted,
            )
        if since > current:
            raise _ahead(since, current, compacted)
        return history, current

    async def _live(self, sub: _Subscriber, position: int) -> AsyncIterator[FeedEvent]:
        """Buffered changes after ``position``; a bookmark after each interval without an event."""
        loop = asyncio.get_running_loop()
        last_sent = loop.time()
        while True:
            while sub.queue:
                change = sub.queue.popleft()
                if change.revision > position:  # at or below: already in the snapshot or history
                    position = change.revision
                    yield _event(change)
                    last_sent = loop.time()
            if sub.overflowed:
                raise ReaderTooSlow(
                    f"this WatchJobs stream fell more than {sub.capacity} changes behind; "
                    f"resume with since_revision={position}",
                    position,
                )
            if sub.closed:
                raise ShuttingDown("aihubd is shutting down; resume the watch once it is back")
            sub.wake.clear()
            try:
                async with asyncio.timeout_at(last_sent + self._bookmark_interval):
                    await sub.wake.wait()
            except TimeoutError:
                if not sub.queue and not sub.overflowed and not sub.closed:
                    position = max(position, sub.seen)  # every matching change up to it was sent
                    yield FeedEvent(FeedKind.BOOKMARK, position)
                    last_sent = loop.time()


def _ahead(since: int, current: int, compacted: int) -> OutOfRange:
    return OutOfRange(
        f"revision {since} is newer than the daemon's store (at {current}): it comes from another "
        "store or one that was reset; list again: watch without since_revision",
        current,
        compacted,
    )


def _event(change: JobChange) -> FeedEvent:
    return FeedEvent(FeedKind(int(change.kind)), change.revision, change.job, change.changed)
