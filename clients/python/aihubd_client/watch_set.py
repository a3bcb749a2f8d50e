"""The bookkeeping of one shared WatchJobs stream carrying every wait of a channel; no I/O here.

Like etcd's clientv3 watcher, which carries all watches of one client over one gRPC stream, the
``WatchHub`` (threads, ``watch_hub``) and the ``AsyncWatchHub`` (tasks, ``aio_watch_hub``) of a
connection hold one WatchJobs stream for every ``wait()`` and ``iter_status()`` made on it, and
hand each event to the waiters of its job. This is what both share:

- The stream's filter is the set of job ids waited on (no filter past ``MAX_FILTER_IDS``). A wait
  on a job the stream does not carry yet asks for a reopen, resumed with ``since_revision``: the
  revision the hub had reached before that wait read the job (``mark``, then GetJob, then
  ``join``), so no change after the waiter's own read is missed.
- A reopen may repeat events; an event whose job view is older than the one a waiter already has
  (the daemon's ``last_refresh_time`` only grows) is dropped. Equal states are the waiter's to
  skip, as before.
- The stream is lost: resume at once after a slow-reader cut, list again (no ``since_revision``)
  when the daemon's history no longer reaches the revision, and wait for a restarted daemon
  within the ``ReconnectPolicy`` window; past it, every waiter gets the error.
"""

from __future__ import annotations

from typing import Any

import grpc

from aihubd_api.v1 import aihubd_pb2 as pb

from .errors import AihubdError, DaemonUnavailableError, NotFoundError, ResourceExhaustedError, UserError
from .feed import RELIST_REASONS
from .jobview import JobValues, job_values
from .resume import Outage, ReconnectPolicy

__all__ = ["MAX_FILTER_IDS", "Item", "JobFeed", "Waiter", "WatchSet"]

# The daemon's limit on job ids in one WatchJobs filter (services/feed.py).
MAX_FILTER_IDS = 1000

# How a stopping daemon's server ends a stream, or refuses a new one, besides "unavailable":
# the daemon is going away, the wait rides it out like a restart.
_LOST = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED})

# What a waiter receives: a newer view of its job (converted once, shared by all its waiters),
# or the error that ends its wait.
Item = JobValues | AihubdError


class JobFeed:
    """What the stream brought for one job while anyone waits on it, in order, and who waits.

    Each event is converted once and appended once (``publish``); every waiter reads the same
    list at its own position. ``wake`` is the hub's: tell the waiters there is more.
    """

    __slots__ = ("items", "waiters")

    def __init__(self) -> None:
        self.items: list[Item] = []  # append-only while the feed lives
        self.waiters: set[Waiter] = set()

    def publish(self, item: Item) -> None:
        """Append ``item`` for every waiter of the job, then wake them."""
        self.items.append(item)
        self.wake()

    def wake(self) -> None:
        """Tell the waiters there is a new item (the hubs' feeds do; here nobody blocks)."""


class Waiter:
    """One wait on one job: reads its job's ``JobFeed`` from where it joined (``next_item``)."""

    feed: JobFeed

    def __init__(self, job_id: str, seen: pb.Job) -> None:
        self.job_id = job_id
        self._seen = _refreshed(seen)
        self._next = 0  # the position in ``feed.items`` of the next item to look at
        self._end: int | None = None  # set by ``expire``: items from here on came too late

    def attach(self, feed: JobFeed) -> None:
        """Read ``feed`` from its next item on (what came before was the feed's, not ours)."""
        self.feed = feed
        self._next = len(feed.items)

    def next_item(self) -> Item | None:
        """The next item not yet taken, skipping views older than the one this waiter holds (a
        reopen repeats events; the daemon's ``last_refresh_time`` only grows); None: nothing yet."""
        items = self.feed.items
        end = len(items) if self._end is None else self._end
        while self._next < end:
            item = items[self._next]
            self._next += 1
            if isinstance(item, JobValues):
                if item.refreshed < self._seen:
                    continue
                self._seen = item.refreshed
            return item
        return None

    def wake(self) -> None:
        """Its feed has a new item (a hub's waiter that blocks resumes here; by default nothing)."""

    def expire(self) -> None:
        """The wait's time is up: items published from now on are not for it."""
        if self._end is None:
            self._end = len(self.feed.items)

    @property
    def expired(self) -> bool:
        return self._end is not None


class WatchSet:
    """Who waits on which job, and where the shared stream is. Its driver holds the lock.

    ``feed`` makes the ``JobFeed`` of a job (the hub's kind, which knows how to wake its waiters).
    """

    def __init__(self, reconnect: ReconnectPolicy, feed: Any = JobFeed) -> None:
        self.feeds: dict[str, JobFeed] = {}
        self.dirty = False  # the open stream misses a job someone waits on: reopen it
        self._new_feed = feed
        self._streamed: frozenset[str] | None = None  # the open stream's job ids (empty: all)
        self._position: int | None = None  # the last revision the stream brought us to
        self._store_id = ""
        self._floor: int | None = None  # the reopen resumes from here (a joining wait's mark)
        self._relist = False  # a joining wait had no mark: the reopen lists again
        self._outage = Outage(reconnect)

    def waiting(self) -> bool:
        """Whether anyone waits."""
        return bool(self.feeds)

    def mark(self) -> int | None:
        """Where the stream is now; pass it to ``join`` after reading the job (None: nowhere)."""
        return self._position

    def join(self, waiter: Waiter, mark: int | None) -> bool:
        """Add a wait; True when the stream must be (re)opened to carry its job."""
        self._outage.connected()  # the waiter just read its job: the daemon is there
        feed = self.feeds.get(waiter.job_id)
        if feed is None:
            feed = self.feeds[waiter.job_id] = self._new_feed()
        feed.waiters.add(waiter)
        waiter.attach(feed)
        if self._carries(waiter.job_id):
            return False
        if mark is None:
            self._relist = True
        elif self._floor is None or mark < self._floor:
            self._floor = mark
        self.dirty = True
        return True

    def leave(self, waiter: Waiter) -> bool:
        """Remove a wait; True when nobody waits any more (close the stream)."""
        feed = self.feeds.get(waiter.job_id)
        if feed is not None:
            feed.waiters.discard(waiter)
            if not feed.waiters:
                del self.feeds[waiter.job_id]
        return not self.feeds

    def request(self) -> pb.WatchJobsRequest:
        """The WatchJobs request of the next stream: every job waited on, from where we were."""
        ids = sorted(self.feeds) if len(self.feeds) <= MAX_FILTER_IDS else []
        request = pb.WatchJobsRequest(job_ids=ids)
        since = self._position
        if self._relist:
            since = None
        elif self._floor is not None and since is not None:
            since = min(since, self._floor)
        if since is not None:
            request.since_revision = since
            request.store_id = self._store_id
        self._position = since  # a listing is not resumable until its end
        self._streamed = frozenset(ids)
        self._floor, self._relist, self.dirty = None, False, False
        return request

    def take(self, message: pb.JobEvent) -> None:
        """One event of the stream: published (converted once) to the feed of its job."""
        self._outage.connected()
        if message.kind != pb.JOB_EVENT_KIND_SNAPSHOT:
            self._position, self._store_id = message.revision, message.store_id
        if not message.HasField("job"):
            return
        feed = self.feeds.get(message.job.job_id)
        if feed is None:
            return
        if message.kind == pb.JOB_EVENT_KIND_UNTRACKED:
            job_id = message.job.job_id
            feed.publish(NotFoundError(f"job {job_id} was untracked while waiting for it; track it again to wait"))
        else:
            feed.publish(job_values(message.job))

    def lost(self, error: AihubdError) -> float | None:
        """The stream ended with ``error``: the pause before the next one, None to give up."""
        if isinstance(error, UserError) and error.reason in RELIST_REASONS:
            self._position = None
            return 0.0
        if isinstance(error, ResourceExhaustedError) and error.reason == "WATCH_TOO_SLOW":
            return 0.0
        if not isinstance(error, DaemonUnavailableError) and error.code not in _LOST:
            return None
        return self._outage.lost()

    def fail_all(self, error: AihubdError) -> None:
        """Give up: every waiter gets ``error``; the set is empty afterwards."""
        feeds = list(self.feeds.values())
        self.feeds.clear()
        self._streamed, self._position = None, None
        for feed in feeds:
            feed.publish(error)

    def _carries(self, job_id: str) -> bool:
        streamed = self._streamed
        return streamed is not None and not self.dirty and (not streamed or job_id in streamed)


def _refreshed(job: Any) -> tuple[int, int]:
    at = job.last_refresh_time
    return (at.seconds, at.nanos)
