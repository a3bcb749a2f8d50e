"""``AsyncWatchHub``: ``watch_hub`` for asyncio code, one WatchJobs stream per ``AsyncConnection``.

Every ``AsyncLinkJob.wait()`` and ``iter_status()`` on the connection (any number of tasks of
its event loop) joins it; one reader task holds the stream, opened for the first wait, reopened
when a wait adds a job, let go when the last wait leaves. The bookkeeping is ``watch_set``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc
import grpc.aio

from aihubd_api.v1 import aihubd_pb2 as pb

from .aio_transport import AsyncConnection
from .channel import Call
from .errors import AihubdError, InternalError, daemon_unavailable, from_rpc_error
from .resume import ReconnectPolicy
from .watch_set import Item, JobFeed, Waiter, WatchSet

__all__ = ["AsyncWaiter", "AsyncWatchHub", "aio_watch_hub"]


def aio_watch_hub(connection: AsyncConnection, reconnect: ReconnectPolicy) -> AsyncWatchHub:
    """The hub of ``connection`` (made by its first wait, with that wait's reconnect policy)."""
    if connection.watch_hub is None:
        connection.watch_hub = AsyncWatchHub(connection, reconnect)
    hub: AsyncWatchHub = connection.watch_hub
    return hub


class _AsyncFeed(JobFeed):
    """A job's feed whose waiters are tasks: a new item resolves the future of each one blocked
    in ``get`` (one ``call_soon`` per waiter, by the future; no queue, no timer per item)."""

    __slots__ = ()

    def wake(self) -> None:
        for waiter in self.waiters:
            waiter.wake()


class AsyncWaiter(Waiter):
    """A waiter of a task; after ``timeout`` seconds (None: never) ``get`` returns None (one
    timer per wait)."""

    def __init__(self, job_id: str, seen: pb.Job, timeout: float | None) -> None:
        super().__init__(job_id, seen)
        self._loop = asyncio.get_running_loop()
        self._blocked: asyncio.Future[None] | None = None
        self._timer = None if timeout is None else self._loop.call_later(timeout, self._time_up)

    async def get(self) -> Item | None:
        """The next item, or None once the wait's time is up (the items published before that
        come first)."""
        while True:
            item = self.next_item()
            if item is not None or self.expired:
                return item
            await self.changed()

    def changed(self) -> asyncio.Future[None]:
        """Done when something is new for this waiter: await it while ``next_item`` is None and
        the wait has not ``expired`` (awaited directly, unlike ``get``, it makes no coroutine
        per change: fewer objects for the garbage collector when a thousand tasks wait)."""
        self._blocked = blocked = self._loop.create_future()
        return blocked

    def wake(self) -> None:
        blocked, self._blocked = self._blocked, None
        if blocked is not None and not blocked.done():  # done: cancelled with its task
            blocked.set_result(None)

    def _time_up(self) -> None:
        self.expire()
        self.wake()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


class AsyncWatchHub:
    """The shared stream of one asyncio connection (use it from the connection's event loop)."""

    def __init__(self, connection: AsyncConnection, reconnect: ReconnectPolicy) -> None:
        self._connection = connection
        self._set = WatchSet(reconnect, _AsyncFeed)
        self._call: Any = None  # the stream now open (a grpc.aio call)
        self._reader: asyncio.Task[None] | None = None

    def mark(self) -> int | None:
        """Take before reading the job; pass to ``joined``."""
        return self._set.mark()

    @contextmanager
    def joined(self, job_id: str, seen: pb.Job, mark: int | None, timeout: float | None) -> Iterator[AsyncWaiter]:
        """Wait on ``job_id`` (whose view, read after ``mark`` was taken, is ``seen``) inside, for
        up to ``timeout`` seconds (None: no limit)."""
        waiter = AsyncWaiter(job_id, seen, timeout)
        reopen = self._set.join(waiter, mark)
        if self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._run(), name="aihubd-watch-hub")
        elif reopen:
            self._cancel()
        try:
            yield waiter
        finally:
            waiter.close()
            if self._set.leave(waiter):
                self._cancel()  # the reader sees nobody waits and stops

    def _cancel(self) -> None:
        if self._call is not None:
            self._call.cancel()

    async def _run(self) -> None:
        """The reader task: one stream after another while anyone waits. Whatever ends it
        unexpectedly ends every wait with that error; none is left waiting on a dead reader."""
        try:
            while self._set.waiting():
                error = await self._stream(self._set.request())
                if error is None:
                    continue  # cancelled to be reopened (or closed: nobody waits)
                pause = self._set.lost(error)
                if pause is None:
                    self._set.fail_all(error)
                    return
                await asyncio.sleep(pause)
        except Exception as exc:
            self._set.fail_all(InternalError(f"the client's shared watch stream failed: {exc!r}"))
        finally:
            self._reader = self._call = None

    async def _stream(self, request: pb.WatchJobsRequest) -> AihubdError | None:
        """Read one stream to its end: the error that ended it, None when this hub cancelled it."""
        socket = self._connection.socket_path
        try:
            call = self._connection.rpc(Call("WatchJobs", request))(request, metadata=self._connection.metadata)
        except AihubdError as exc:
            return exc
        self._call = call
        try:
            while True:
                message = await call.read()
                if message is grpc.aio.EOF:  # type: ignore[attr-defined]
                    return daemon_unavailable(socket, "the watch stream ended")  # a stopping daemon's end
                self._set.take(message)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # the reader itself is cancelled (its loop is ending)
            return None if self._reopening() else AihubdError("the shared watch stream was cancelled")
        except grpc.RpcError as exc:
            if self._reopening() and call.cancelled():
                return None
            return from_rpc_error(exc, socket)
        finally:
            call.cancel()

    def _reopening(self) -> bool:
        return self._set.dirty or not self._set.waiting()
