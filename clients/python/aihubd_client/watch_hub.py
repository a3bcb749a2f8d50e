"""``WatchHub``: one WatchJobs stream per blocking connection for every wait of the process.

``LinkJob.wait()`` and ``iter_status()`` (any number of threads) read the job (GetJob), then join
the hub of their connection (``watch_hub``) and read their job's events from its feed. One reader
thread holds the stream: it opens it when the first wait joins, reopens it (cancel, resume from
the joining wait's mark) when a wait adds a job, and lets it go when the last wait leaves. The
bookkeeping is ``watch_set.WatchSet``, shared with the asyncio ``aio_watch_hub``.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import grpc

from aihubd_api.v1 import aihubd_pb2 as pb

from .channel import Call
from .errors import AihubdError, InternalError, daemon_unavailable, from_rpc_error
from .interrupts import deferred_keyboard_interrupt
from .resume import ReconnectPolicy
from .transport import Connection
from .watch_set import Item, JobFeed, Waiter, WatchSet

__all__ = ["SyncWaiter", "WatchHub", "watch_hub"]

_hubs_lock = threading.Lock()
_SLICE = 0.1  # seconds: how long a blocked wait may go without noticing Ctrl-C


def watch_hub(connection: Connection, reconnect: ReconnectPolicy) -> WatchHub:
    """The hub of ``connection`` (made by its first wait, with that wait's reconnect policy)."""
    with _hubs_lock:
        if connection.watch_hub is None:
            connection.watch_hub = WatchHub(connection, reconnect)
        hub: WatchHub = connection.watch_hub
        return hub


class _SyncFeed(JobFeed):
    """A job's feed whose waiters are threads, woken as a relay.

    Waking a thousand threads at once makes a thousand threads fight for the GIL. So a new item
    wakes one blocked waiter; each woken waiter wakes the next blocked one before it goes on
    (``relay``), and only blocked waiters are in the relay, so a thread busy elsewhere holds
    nobody up: it sees the item at its next ``get``.
    """

    __slots__ = ("_relay",)

    def __init__(self) -> None:
        super().__init__()
        self._relay: list[SyncWaiter] = []

    def wake(self) -> None:
        self._relay = cast("list[SyncWaiter]", list(self.waiters))  # a new item: everyone again
        self.relay()

    def relay(self) -> None:
        """Wake the next blocked waiter of the relay, if any (list.pop is atomic)."""
        relay = self._relay
        while relay:
            try:
                waiter = relay.pop()
            except IndexError:
                return
            if waiter.blocked:
                waiter.signal.put(None)
                return


class SyncWaiter(Waiter):
    """A waiter of a thread: a blocking ``get``, woken through a queue of its own (a token)."""

    feed: _SyncFeed

    def __init__(self, job_id: str, seen: pb.Job) -> None:
        super().__init__(job_id, seen)
        self.signal: queue.SimpleQueue[None] = queue.SimpleQueue()
        self.blocked = False  # in ``get`` with nothing to take: the relay wakes it

    def get(self, timeout: float | None) -> Item | None:
        """The next item, or None when ``timeout`` seconds pass first (None: no timeout).

        The main thread waits in slices, as grpc does, so that Ctrl-C (a signal it handles only
        between bytecodes) ends the wait here, outside grpc. Other threads never see a signal:
        they block until an item comes (a thousand threads waking every slice would cost more
        than the waits themselves).
        """
        try:
            return self._get(timeout)
        finally:
            self.blocked = False
            self.feed.relay()  # woken or not, pass the relay on

    def _get(self, timeout: float | None) -> Item | None:
        main = threading.current_thread() is threading.main_thread()
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            item = self.next_item()
            if item is not None:
                return item
            self.blocked = True  # then look again: an item published before this is seen now
            item = self.next_item()
            if item is not None:
                return item
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                return None
            if main:
                left = _SLICE if left is None else min(_SLICE, left)
            try:
                self.signal.get(timeout=left)
            except queue.Empty:
                continue


class WatchHub:
    """The shared stream of one blocking connection (thread-safe)."""

    def __init__(self, connection: Connection, reconnect: ReconnectPolicy) -> None:
        self._connection = connection
        self._lock = threading.Lock()
        self._set = WatchSet(reconnect, _SyncFeed)
        self._call: Any = None  # the stream now open (a grpc call: cancel() from any thread)
        self._reader: threading.Thread | None = None

    def mark(self) -> int | None:
        """Take before reading the job; pass to ``joined``."""
        with self._lock:
            return self._set.mark()

    @contextmanager
    def joined(self, job_id: str, seen: pb.Job, mark: int | None) -> Iterator[SyncWaiter]:
        """Wait on ``job_id`` (whose view, read after ``mark`` was taken, is ``seen``) inside."""
        waiter = SyncWaiter(job_id, seen)
        with self._lock:
            reopen = self._set.join(waiter, mark)
            if self._reader is None:
                self._reader = threading.Thread(target=self._run, name="aihubd-watch-hub", daemon=True)
                self._reader.start()
            elif reopen:
                self._cancel()
        try:
            yield waiter
        finally:
            with self._lock:
                if self._set.leave(waiter):
                    self._cancel()  # the reader sees nobody waits and stops

    def _cancel(self) -> None:
        if self._call is not None:
            with deferred_keyboard_interrupt():
                self._call.cancel()

    def _run(self) -> None:
        """The reader thread: one stream after another while anyone waits. Whatever ends it
        unexpectedly ends every wait with that error; none is left waiting on a dead reader."""
        try:
            self._read_while_waited()
        except Exception as exc:
            with self._lock:
                self._set.fail_all(InternalError(f"the client's shared watch stream failed: {exc!r}"))
                self._reader = self._call = None

    def _read_while_waited(self) -> None:
        while True:
            with self._lock:
                if not self._set.waiting():
                    self._reader = self._call = None
                    return
                request = self._set.request()
            error = self._stream(request)
            if error is None:
                continue  # cancelled to be reopened (or closed: nobody waits)
            with self._lock:
                pause = self._set.lost(error)
                if pause is None:
                    self._set.fail_all(error)
                    self._reader = self._call = None
            if pause is None:
                return
            time.sleep(pause)

    def _stream(self, request: pb.WatchJobsRequest) -> AihubdError | None:
        """Read one stream to its end: the error that ended it, None when this hub cancelled it."""
        socket = self._connection.socket_path
        try:
            call = self._connection.rpc(Call("WatchJobs", request))(request, metadata=self._connection.metadata)
        except AihubdError as exc:
            return exc
        with self._lock:
            self._call = call
            if self._set.dirty or not self._set.waiting():
                call.cancel()
        try:
            for message in call:
                with self._lock:
                    self._set.take(message)
        except grpc.RpcError as exc:
            with self._lock:
                ours = self._set.dirty or not self._set.waiting()
            if ours and call.code() is grpc.StatusCode.CANCELLED:
                return None
            return from_rpc_error(exc, socket)
        return daemon_unavailable(socket, "the watch stream ended")  # a stopping daemon's end
