"""``watch_jobs``: the daemon's job feed (WatchJobs), resumed from the last revision seen.

    for event in client.watch_jobs(states=["RUNNING"]):
        if event.kind == "SNAPSHOT_END": ...          # the listing is complete
        elif event.job is not None: print(event.kind, event.job.job_id, event.revision)

A watch starts with a listing (``SNAPSHOT`` events, then ``SNAPSHOT_END``) unless
``since_revision`` is given; then one event per change (``APPEARED``, ``CHANGED``,
``UNTRACKED``), each with the store revision it brings the reader to. When the daemon restarts,
or ends the stream because the reader fell behind, the watch reconnects and asks for the changes
after the last revision it delivered: none is lost, none comes twice. A ``SNAPSHOT`` after
``SNAPSHOT_END`` starts a new listing: the daemon's history no longer reached the last revision
(``relist=True``, the default), or the stream broke inside a listing; replace the view you built
when its ``SNAPSHOT_END`` comes. ``relist=False`` raises ``UserError`` (reason
``REVISION_COMPACTED``) instead.

``FeedCursor`` is the bookkeeping shared by the blocking and the asyncio iterator; no I/O here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from aihubd_api.v1 import aihubd_pb2 as pb

from .aio_transport import AsyncConnection
from .channel import Call
from .errors import AihubdError, DaemonUnavailableError, ResourceExhaustedError, UserError, daemon_unavailable
from .inputs import check_job_id, state_values
from .resume import Outage, ReconnectPolicy
from .transport import Connection

__all__ = ["FeedCursor", "JobEvent", "aiter_feed", "iter_feed"]

J = TypeVar("J")

KINDS = {
    pb.JOB_EVENT_KIND_SNAPSHOT: "SNAPSHOT",
    pb.JOB_EVENT_KIND_SNAPSHOT_END: "SNAPSHOT_END",
    pb.JOB_EVENT_KIND_APPEARED: "APPEARED",
    pb.JOB_EVENT_KIND_CHANGED: "CHANGED",
    pb.JOB_EVENT_KIND_UNTRACKED: "UNTRACKED",
    pb.JOB_EVENT_KIND_BOOKMARK: "BOOKMARK",
}
# The daemon says the revision cannot be resumed from: list again.
RELIST_REASONS = frozenset({"REVISION_COMPACTED", "REVISION_UNKNOWN"})


@dataclass(frozen=True)
class JobEvent(Generic[J]):
    """One feed event. ``job`` is None on SNAPSHOT_END and BOOKMARK; ``changed`` names the fields
    a CHANGED event changed (e.g. ``("state",)``)."""

    kind: str
    revision: int
    job: J | None
    changed: tuple[str, ...] = ()
    # The daemon store the revision counts in: keep it with the revision to resume later.
    store_id: str = ""


class FeedCursor:
    """Where a watch is: the revision to resume after, and what to do when a stream is lost."""

    def __init__(
        self,
        job_ids: Iterable[str],
        states: Any,
        name_contains: str,
        since_revision: int | None,
        relist: bool,
        reconnect: ReconnectPolicy,
        store_id: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if since_revision is not None and since_revision < 0:
            raise UserError(f"since_revision {since_revision} is negative")
        self._job_ids = list(job_ids)
        for job_id in self._job_ids:
            check_job_id(job_id)
        self._states = state_values(states)
        self._name = name_contains
        self.revision = since_revision
        self.store_id = store_id
        self._relist = relist
        self._outage = Outage(reconnect, clock)

    def call(self) -> Call[Any]:
        request = pb.WatchJobsRequest(job_ids=self._job_ids, states=self._states, name_contains=self._name)
        if self.revision is not None:
            request.since_revision = self.revision
            request.store_id = self.store_id
        return Call("WatchJobs", request)

    def take(self, message: pb.JobEvent) -> str:
        """Note a received event; returns its kind's name."""
        self._outage.connected()
        kind = KINDS.get(message.kind, "UNSPECIFIED")
        if kind != "SNAPSHOT":  # inside a listing nothing is resumable until its end
            self.revision = message.revision
            self.store_id = message.store_id
        return kind

    def lost(self, error: AihubdError) -> float:
        """The stream ended with ``error``: the pause before resuming, or raise it when the
        watch cannot go on (the daemon did not come back within the reconnect window)."""
        if isinstance(error, UserError) and error.reason in RELIST_REASONS:
            if not self._relist:
                raise error
            self.revision = None
            return 0.0
        if isinstance(error, ResourceExhaustedError) and error.reason == "WATCH_TOO_SLOW":
            return 0.0  # the daemon cut a slow reader: resume at once from our revision
        if not isinstance(error, DaemonUnavailableError):
            raise error
        pause = self._outage.lost()
        if pause is None:
            raise error
        return pause


def _event(message: pb.JobEvent, kind: str, job: Callable[[pb.Job], J]) -> JobEvent[J]:
    return JobEvent(
        kind,
        message.revision,
        job(message.job) if message.HasField("job") else None,
        tuple(message.changed),
        message.store_id,
    )


def iter_feed(
    connection: Connection,
    cursor: FeedCursor,
    job: Callable[[pb.Job], J],
    bookmarks: bool,
    on_lost: Callable[[AihubdError], None] | None = None,
) -> Iterator[JobEvent[J]]:
    """The blocking iterator behind ``Client.watch_jobs``; ``on_lost`` hears of each wait for
    the daemon to come back (e.g. to say "reconnecting…")."""
    while True:
        # A stream the daemon ends without a status: it is stopping (or gone).
        error: AihubdError = daemon_unavailable(connection.socket_path, "the watch stream ended")
        try:
            with connection.stream(cursor.call()) as responses:
                for message in responses:
                    kind = cursor.take(message)
                    if kind != "BOOKMARK" or bookmarks:
                        yield _event(message, kind, job)
        except AihubdError as exc:
            error = exc
        pause = cursor.lost(error)
        if on_lost is not None and pause > 0:
            on_lost(error)
        time.sleep(pause)


async def aiter_feed(
    connection: AsyncConnection,
    cursor: FeedCursor,
    job: Callable[[pb.Job], J],
    bookmarks: bool,
    on_lost: Callable[[AihubdError], None] | None = None,
) -> AsyncIterator[JobEvent[J]]:
    """The asyncio iterator behind ``AsyncClient.watch_jobs`` (``on_lost``: as ``iter_feed``)."""
    while True:
        # A stream the daemon ends without a status: it is stopping (or gone).
        error: AihubdError = daemon_unavailable(connection.socket_path, "the watch stream ended")
        try:
            async with connection.stream(cursor.call()) as responses:
                async for message in responses:
                    kind = cursor.take(message)
                    if kind != "BOOKMARK" or bookmarks:
                        yield _event(message, kind, job)
        except AihubdError as exc:
            error = exc
        pause = cursor.lost(error)
        if on_lost is not None and pause > 0:
            on_lost(error)
        await asyncio.sleep(pause)
