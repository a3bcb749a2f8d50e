"""The shared stream's fan-out (watch_set feeds, aio_watch_hub, watch_hub) on an in-memory
stream: one conversion per event shared by every waiter of the job, and threads woken one after
another without a busy thread holding the others up."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from client_fakes import make_job

from aihubd_api.v1 import aihubd_pb2 as pb
from aihubd_client import AsyncLinkJob, LinkJob, watch_set
from aihubd_client.errors import InternalError

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tools.bench.fanout_micro import MemoryConnection, MemorySyncConnection  # noqa: E402  (the fakes the bench uses)


def _job(state: int, learned_at: int) -> pb.Job:
    job = make_job("j1", state)
    job.last_refresh_time.seconds = learned_at
    return job


def _changed(state: int, revision: int) -> pb.JobEvent:
    return pb.JobEvent(kind=pb.JOB_EVENT_KIND_CHANGED, revision=revision, store_id="s", job=_job(state, revision))


def test_each_change_is_converted_once_and_every_waiting_task_gets_that_same_view(monkeypatch):
    conversions: list[pb.Job] = []
    convert = getattr(watch_set, "job_values", None)  # the stream's conversion of a job's view

    def counted(message: pb.Job) -> Any:
        conversions.append(message)
        return convert(message)  # type: ignore[misc]

    monkeypatch.setattr(watch_set, "job_values", counted, raising=False)

    async def scenario() -> None:
        connection = MemoryConnection(_job(pb.JOB_STATE_CREATED, 1))
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
    connection = MemorySyncConnection(_job(pb.JOB_STATE_CREATED, 1))
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


class _BrokenRead:
    """A stream whose read fails in a way no gRPC error describes (a bug, a decoding failure)."""

    def __iter__(self) -> Any:
        raise ValueError("a bug in the stream")

    async def read(self) -> pb.JobEvent:
        raise ValueError("a bug in the stream")

    def cancel(self) -> None:
        pass

    def cancelled(self) -> bool:
        return False


def test_a_reader_thread_that_fails_unexpectedly_fails_the_waits_instead_of_leaving_them_hanging():
    connection = MemorySyncConnection(_job(pb.JOB_STATE_CREATED, 1))
    connection.rpc = lambda call: lambda request, timeout=None, metadata=None: _BrokenRead()  # type: ignore[method-assign]
    job = LinkJob(_job(pb.JOB_STATE_CREATED, 1), connection)  # type: ignore[arg-type]
    outcome: list[BaseException] = []

    def wait() -> None:
        try:
            job.wait(timeout=30)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "the wait hung after its reader thread died"
    assert len(outcome) == 1 and isinstance(outcome[0], InternalError), outcome
    assert "a bug in the stream" in str(outcome[0])


def test_a_reader_task_that_fails_unexpectedly_fails_the_waits_instead_of_leaving_them_hanging():
    async def scenario() -> None:
        connection = MemoryConnection(_job(pb.JOB_STATE_CREATED, 1))
        connection.rpc = lambda call: lambda request, timeout=None, metadata=None: _BrokenRead()  # type: ignore[method-assign]
        job = AsyncLinkJob(_job(pb.JOB_STATE_CREATED, 1), connection)  # type: ignore[arg-type]
        with pytest.raises(InternalError, match="a bug in the stream"):
            await asyncio.wait_for(job.wait(timeout=30), 10)  # a hang is a TimeoutError after 10 s

    asyncio.run(scenario())
