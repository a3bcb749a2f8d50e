"""The client's fan-out alone, no daemon and no I/O: ``--waiters`` waits (asyncio tasks, or
``--threads``) on one job through one fake WatchJobs stream; each change is fed to the hub and
every waiter stamps when its ``iter_status`` yields it. Prints p50 / p99 / max (ms) from the feed
to each waiter over ``--changes`` changes x ``--rounds`` rounds. ``--profile FILE`` writes a
cProfile of the run (``python -m pstats FILE``). For profiling the fan-out of aio_watch_hub and
watch_hub; the end-to-end row is ``tools.bench --only waits``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import queue
import threading
import time
from pathlib import Path
from typing import Any

import grpc

from aihubd_api.v1 import aihubd_pb2 as pb
from aihubd_client import AsyncLinkJob, LinkJob
from aihubd_client.channel import Call

_STATES = [pb.JOB_STATE_CREATED, pb.JOB_STATE_LINKING_MODELS, pb.JOB_STATE_LINKING_MODELS, pb.JOB_STATE_DONE]


def _job(job_id: str, state: int, at: int) -> pb.Job:
    job = pb.Job(job_id=job_id, name="b.dlc", state=state, url=f"https://workbench.example/jobs/{job_id}/")
    job.device.name = "Snapdragon 8 Elite QRD"
    job.models.add(model_id="mfd036f75", name="a.dlc")
    job.models.add(model_id="m26bc5548", name="b.dlc")
    job.creation_time.seconds = 1_700_000_000
    job.last_refresh_time.seconds = at
    return job


def _event(job: pb.Job, revision: int) -> pb.JobEvent:
    event = pb.JobEvent(kind=pb.JOB_EVENT_KIND_CHANGED, revision=revision, store_id="s")
    event.job.CopyFrom(job)
    return event


class MemoryStream:
    def __init__(self, events: asyncio.Queue[pb.JobEvent | None]) -> None:
        self._events = events
        self._cancelled = False

    async def read(self) -> pb.JobEvent:
        item = await self._events.get()
        if item is None or self._cancelled:
            raise asyncio.CancelledError
        return item

    def cancel(self) -> None:
        self._cancelled = True
        self._events.put_nowait(None)

    def cancelled(self) -> bool:
        return self._cancelled


class MemoryConnection:
    """What AsyncLinkJob and AsyncWatchHub use of an AsyncConnection, over in-memory queues
    (also the fake of tests/unit/client/test_client_fanout.py)."""

    socket_path = Path("/nonexistent/aihubd.sock")
    metadata = (("aihubd-client-id", "fanout-micro"),)

    def __init__(self, current: pb.Job) -> None:
        self.watch_hub: Any = None
        self.current = current
        self.events: asyncio.Queue[pb.JobEvent | None] = asyncio.Queue()
        self.opened = asyncio.Event()

    def rpc(self, call: Call[Any]) -> Any:
        self.opened.set()
        return lambda request, timeout=None, metadata=None: MemoryStream(self.events)

    async def unary(self, call: Call[Any]) -> Any:
        return call.reply(self.current)


class MemorySyncStream:
    def __init__(self, events: queue.SimpleQueue[pb.JobEvent | None]) -> None:
        self._events = events
        self._cancelled = False

    def __iter__(self) -> Any:
        while True:
            item = self._events.get()
            if item is None or self._cancelled:
                raise MemoryCancelled()
            yield item

    def cancel(self) -> None:
        self._cancelled = True
        self._events.put(None)

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.CANCELLED


class MemoryCancelled(grpc.RpcError):
    pass


class MemorySyncConnection:
    """What LinkJob and WatchHub use of a Connection, over in-memory queues."""

    socket_path = Path("/nonexistent/aihubd.sock")
    metadata = (("aihubd-client-id", "fanout-micro"),)

    def __init__(self, current: pb.Job) -> None:
        self.watch_hub: Any = None
        self.current = current
        self.events: queue.SimpleQueue[pb.JobEvent | None] = queue.SimpleQueue()

    def rpc(self, call: Call[Any]) -> Any:
        return lambda request, timeout=None, metadata=None: MemorySyncStream(self.events)

    def unary(self, call: Call[Any]) -> Any:
        return call.reply(self.current)


async def _tasks_round(waiters: int, changes: int, timeout: float) -> list[float]:
    connection = MemoryConnection(_job("j1", _STATES[0], 1))
    stamps: list[float] = []
    fed: list[float] = []
    ready = asyncio.Event()
    all_got = [asyncio.Event() for _ in range(changes + 1)]
    joined = 0

    async def wait(job: AsyncLinkJob) -> None:
        nonlocal joined
        k = -1
        async for _ in job.iter_status(timeout=timeout):
            k += 1
            if k == 0:
                joined += 1
                if joined == waiters:
                    ready.set()
                continue
            stamps.append(time.perf_counter() - fed[k - 1])
            if len(stamps) == k * waiters:
                all_got[k].set()
            if k == changes:
                return

    jobs = [AsyncLinkJob(_job("j1", _STATES[0], 1), connection) for _ in range(waiters)]  # type: ignore[arg-type]
    tasks = [asyncio.create_task(wait(job)) for job in jobs]
    await asyncio.wait_for(ready.wait(), timeout)
    await asyncio.wait_for(connection.opened.wait(), timeout)  # the hub's reader opened its stream
    for k in range(1, changes + 1):
        changed = _job("j1", _STATES[min(k, len(_STATES) - 1)] if k < changes else pb.JOB_STATE_DONE, 1 + k)
        connection.current = changed
        fed.append(time.perf_counter())
        connection.events.put_nowait(_event(changed, k))
        await asyncio.wait_for(all_got[k].wait(), timeout)
    await asyncio.wait_for(asyncio.gather(*tasks), timeout)
    return stamps


def _threads_round(waiters: int, changes: int, timeout: float) -> list[float]:
    connection = MemorySyncConnection(_job("j1", _STATES[0], 1))
    stamps: list[float] = []
    fed: list[float] = []
    lock = threading.Lock()
    joined = threading.Semaphore(0)
    counts = [0] * (changes + 1)
    all_got = [threading.Event() for _ in range(changes + 1)]

    def wait(job: LinkJob) -> None:
        statuses = job.iter_status(timeout=timeout)
        next(statuses)
        joined.release()
        for k, _ in enumerate(statuses, start=1):
            at = time.perf_counter()
            with lock:
                stamps.append(at - fed[k - 1])
                counts[k] += 1
                if counts[k] == waiters:
                    all_got[k].set()
            if k == changes:
                break
        statuses.close()

    jobs = [LinkJob(_job("j1", _STATES[0], 1), connection) for _ in range(waiters)]  # type: ignore[arg-type]
    threads = [threading.Thread(target=wait, args=(job,), daemon=True) for job in jobs]
    for thread in threads:
        thread.start()
    for _ in threads:
        joined.acquire(timeout=timeout)
    for k in range(1, changes + 1):
        changed = _job("j1", _STATES[min(k, len(_STATES) - 1)] if k < changes else pb.JOB_STATE_DONE, 1 + k)
        connection.current = changed
        fed.append(time.perf_counter())
        connection.events.put(_event(changed, k))
        if not all_got[k].wait(timeout):
            raise TimeoutError(f"change {k}: {counts[k]} of {waiters} waiters got it")
    for thread in threads:
        thread.join(timeout)
    return stamps


def _summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e3

    return {"n": len(ordered), "p50_ms": at(0.5), "p99_ms": at(0.99), "max_ms": ordered[-1] * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--waiters", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--threads", action="store_true")
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args()
    profiler = cProfile.Profile() if args.profile else None
    latencies: list[float] = []
    for _ in range(args.rounds):
        if profiler:
            profiler.enable()
        if args.threads:
            latencies += _threads_round(args.waiters, args.changes, args.timeout)
        else:
            latencies += asyncio.run(_tasks_round(args.waiters, args.changes, args.timeout))
        if profiler:
            profiler.disable()
    if profiler and args.profile:
        profiler.dump_stats(str(args.profile))
    print(json.dumps({"kind": "threads" if args.threads else "tasks", **_summary(latencies)}))


if __name__ == "__main__":
    main()
