"""The shared stream's fan-out (watch_set feeds, aio_watch_hub, watch_hub) on an in-memory
stream: one conversion per event shared by every waiter of the job, and threads woken one after
another without a busy thread holding the others up."""

from __future__ import annotations

import asyncio
import queue
import threading
from pathlib import Path
from typing import Any

import grpc
from client_fakes import make_job

from aihubd_api.v1 import aihubd_pb2 as pb
from aihubd_client import AsyncLinkJob, LinkJob, watch_set
from aihubd_client.channel import Call

SOCKET = Path("/nonexistent/aihubd.sock")


def _job(state: int, learned_at: int) -> pb.Job:
    job = make_job("j1", state)
    job.last_refresh_time.seconds = learned_at
    return job


def _changed(state: int, revision: int) -> pb.JobEvent:
    return pb.JobEvent(kind=pb.JOB_EVENT_KIND_CHANGED, revision=revision, store_id="s", job=_job(state, revision))


class _AioStream:
    def __init__(self, events: asyncio.Queue[pb.JobEvent | None]) -> None:
        self._events = events
        self._cancelled = False

    async def read(self) -> pb.JobEvent:
        event = await self._events.get()
        if event is None or self._cancelled:
            raise asyncio.CancelledError
        return event

    def cancel(self) -> None:
        self._cancelled = True
        self._events.put_nowait(None)

    def cancelled(self) -> bool:
        return self._cancelled


class _AioConnection:
    """The part of an AsyncConnection a wait uses: GetJob answers ``current``, WatchJobs reads ``events``."""

    socket_path = SOCKET

    def __init__(self) -> None:
        self.watch_hub: Any = None
        self.current = _job(pb.JOB_STATE_CREATED, 1)
        self.events: asyncio.Queue[pb.JobEvent | None] = asyncio.Queue()
        self.opened = asyncio.Event()

    def rpc(self, call: Call[Any]) -> Any:
        self.opened.set()
        return lambda request, timeout=None: _AioStream(self.events)

    async def unary(self, call: Call[Any]) -> Any:
        return call.reply(self.current)


class _SyncStream:
    def __init__(self, events: queue.SimpleQueue[pb.JobEvent | None]) -> None:
        self._events = events
        self._cancelled = False

    def __iter__(self) -> Any:
        while (event := self._events.get()) is not None and not self._cancelled:
            yield event
        raise _Cancelled()

    def cancel(self) -> None:
        self._cancelled = True
        self._events.put(None)

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.CANCELLED


class _Cancelled(grpc.RpcError):
    pass


class _SyncConnection:
    socket_path = SOCKET

    def __init__(self) -> None:
        self.watch_hub: Any = None
        self.current = _job(pb.JOB_STATE_CREATED, 1)
        self.events: queue.SimpleQueue[pb.JobEvent | None] = queue.SimpleQueue()

    def rpc(self, call: Call[Any]) -> Any:
        return lambda request, timeout=None: _SyncStream(self.events)

    def unary(self, call: Call[Any]) -> Any:
        return call.reply(self.current)


def test_each_change_is_converted_once_and_every_waiting_task_gets_that_same_view(monkeypatch):
    conversions: list[pb.Job] = []
    convert = getattr(watch_set, "job_values", None)  # the stream's conversion of a job's view

    def counted(message: pb.Job) -> Any:
        conversions.append(message)
        return convert(message)  # type: ignore[misc]

    monkeypatch.setattr(watch_set, "job_values", counted, raising=False)

    async def scenario() -> None:
        connection = _AioConnection()
        jobs = [AsyncLinkJob(_job(pb.JOB_STATE_CREATED, 1), connection) for _ in range(3)]  # type: ignore[arg-type]
        seen: list[list[str]] = [[] for _ in jobs]
        have = [asyncio.Event() for _ in range(3)]  # every waiter has its k-th status

        async def wait(i: int) -> None:
            async for status in jobs[i].iter_status(timeout=30):
                seen[i].append(status.code)
                k = len(seen[i]) - 1
                if all(len(s) > k for s in seen):
                    have[k].set()

        tasks = [asyncio.create_task(wait(i)) for i in range(3)]
        await asyncio.wait_for(asyncio.gather(have[0].wait(), connection.opened.wait()), 10)
        models, artifacts = jobs[0].models, jobs[0].available_artifacts
        connection.events.put_nowait(_changed(pb.JOB_STATE_LINKING_MODELS, 2))
        await asyncio.wait_for(have[1].wait(), 10)
        assert jobs[0].last_status is jobs[1].last_status is jobs[2].last_status  # one view, shared
        # Unchanged, the lists stay as they were: no new objects per waiter for the collector.
        assert jobs[0].models is models and jobs[0].available_artifacts is artifacts
        connection.events.put_nowait(_changed(pb.JOB_STATE_DONE, 3))
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        assert seen == [["CREATED", "LINKING_MODELS", "SUCCESS"]] * 3
        assert [m.state for m in conversions] == [pb.JOB_STATE_LINKING_MODELS, pb.JOB_STATE_DONE]  # once per event
        assert jobs[0].models == jobs[1].models and jobs[0].models is not jobs[1].models  # each its own list

    asyncio.run(scenario())


def test_a_thread_busy_between_two_statuses_holds_up_none_of_the_other_waiting_threads():
    connection = _SyncConnection()
    waiters = 12
    jobs = [LinkJob(_job(pb.JOB_STATE_CREATED, 1), connection) for _ in range(waiters)]  # type: ignore[arg-type]
    seen: list[list[str]] = [[] for _ in jobs]
    lock = threading.Lock()
    joined, linking, done = threading.Semaphore(0), threading.Semaphore(0), threading.Semaphore(0)
    busy = threading.Event()  # the first waiter stays in its own code until this is set

    def wait(i: int) -> None:
        for status in jobs[i].iter_status(timeout=30):
            with lock:
                seen[i].append(status.code)
            {"CREATED": joined, "LINKING_MODELS": linking, "SUCCESS": done}[status.code].release()
            if i == 0 and status.code == "LINKING_MODELS":
                assert busy.wait(30)

    threads = [threading.Thread(target=wait, args=(i,), daemon=True) for i in range(waiters)]
    for thread in threads:
        thread.start()
    assert all(joined.acquire(timeout=10) for _ in threads)
    connection.events.put(_changed(pb.JOB_STATE_LINKING_MODELS, 2))
    assert all(linking.acquire(timeout=10) for _ in threads)
    connection.events.put(_changed(pb.JOB_STATE_DONE, 3))  # the first waiter is busy, the rest wait
    assert all(done.acquire(timeout=10) for _ in threads[1:])
    with lock:
        assert seen[0] == ["CREATED", "LINKING_MODELS"]
        assert all(s == ["CREATED", "LINKING_MODELS", "SUCCESS"] for s in seen[1:])
    busy.set()
    assert done.acquire(timeout=10)  # back in iter_status, it finds the change waiting for it
    for thread in threads:
        thread.join(10)
    assert seen[0] == ["CREATED", "LINKING_MODELS", "SUCCESS"]
