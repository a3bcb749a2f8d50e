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

from collections.abc import Callable
from typing import Any

import grpc

from aihubd_api.v1 import aihubd_pb2 as pb

from .errors import AihubdError, DaemonUnavailableError, NotFoundError, ResourceExhaustedError, UserError
from .feed import RELIST_REASONS
from .resume import Outage, ReconnectPolicy

__all__ = ["MAX_FILTER_IDS", "Delivery", "Item", "Waiter", "WatchSet"]

# The daemon's limit on job ids in one WatchJobs filter (services/feed.py).
MAX_FILTER_IDS = 1000

# How a stopping daemon's server ends a stream, or refuses a new one, besides "unavailable":
# the daemon is going away, the wait rides it out like a restart.
_LOST = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED})

# What a waiter receives: a newer view of its job, or the error that ends its wait.
Item = pb.Job | AihubdError


class Waiter:
    """One wait on one job; ``put`` hands it an item (a queue's, in the hub's driver)."""

    def __init__(self, job_id: str, seen: pb.Job, put: Callable[[Item], None]) -> None:
        self.job_id = job_id
        self.put = put
        self._seen = _refreshed(seen)

    def newer(self, job: pb.Job) -> bool:
        """Whether ``job`` is not older than the view this waiter has; if so, it becomes it."""
        at = _refreshed(job)
        if at < self._seen:
            return False
        self._seen = at
        return True


Delivery = tuple[Waiter, Item]


class WatchSet:
    """Who waits on which job, and where the shared stream is. Its driver holds the lock."""

    def __init__(self, reconnect: ReconnectPolicy) -> None:
        self.waiters: dict[str, set[Waiter]] = {}
        self.dirty = False  # the open stream misses a job someone waits on: reopen it
        self._streamed: frozenset[str] | None = None  # the open stream's job ids (empty: all)
        self._position: int | None = None  # the last revision the stream brought us to
        self._store_id = ""
        self._floor: int | None = None  # the reopen resumes from here (a joining wait's mark)
        self._relist = False  # a joining wait had no mark: the reopen lists again
        self._outage = Outage(reconnect)

    def mark(self) -> int | None:
        """Where the stream is now; pass it to ``join`` after reading the job (None: nowhere)."""
        return self._position

    def join(self, waiter: Waiter, mark: int | None) -> bool:
        """Add a wait; True when the stream must be (re)opened to carry its job."""
        self._outage.connected()  # the waiter just read its job: the daemon is there
        waiting = self.waiters.setdefault(waiter.job_id, set())
        waiting.add(waiter)
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
        waiting = self.waiters.get(waiter.job_id)
        if waiting is not None:
            waiting.discard(waiter)
            if not waiting:
                del self.waiters[waiter.job_id]
        return not self.waiters

    def request(self) -> pb.WatchJobsRequest:
        """The WatchJobs request of the next stream: every job waited on, from where we were."""
        ids = sorted(self.waiters) if len(self.waiters) <= MAX_FILTER_IDS else []
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

    def take(self, message: pb.JobEvent) -> list[Delivery]:
        """One event of the stream: what to hand to which waiter."""
        self._outage.connected()
        if message.kind != pb.JOB_EVENT_KIND_SNAPSHOT:
            self._position, self._store_id = message.revision, message.store_id
        if not message.HasField("job"):
            return []
        waiting = self.waiters.get(message.job.job_id, ())
        if message.kind == pb.JOB_EVENT_KIND_UNTRACKED:
            gone = NotFoundError(f"job {message.job.job_id} was untracked while waiting for it; track it again to wait")
            return [(w, gone) for w in waiting]
        return [(w, message.job) for w in waiting if w.newer(message.job)]

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

    def fail_all(self, error: AihubdError) -> list[Delivery]:
        """Give up: every waiter gets ``error``; the set is empty afterwards."""
        failed: list[Delivery] = [(w, error) for waiting in self.waiters.values() for w in waiting]
        self.waiters.clear()
        self._streamed, self._position = None, None
        return failed

    def _carries(self, job_id: str) -> bool:
        streamed = self._streamed
        return streamed is not None and not self.dirty and (not streamed or job_id in streamed)


def _refreshed(job: Any) -> tuple[int, int]:
    at = job.last_refresh_time
    return (at.seconds, at.nanos)
