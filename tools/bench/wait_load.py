"""`make bench` waiter fleet in Python (tools/bench/scenario_waits.py): ``--waiters`` asyncio tasks
of one process, each in ``AsyncLinkJob.iter_status`` on ``--job-id`` through one ``AsyncClient``
(``--threads``: threads in ``LinkJob.iter_status`` through one ``Client``), so all of them share
the client's one WatchJobs stream. Prints "ready" once every waiter has its job's current
status, then records when each waiter receives each change (epoch s) next to when the daemon
observed it (the job's ``last_refresh_time``); once every waiter has ``--changes`` changes (or
``--timeout`` s passed) prints one JSON line (after a ``{"event": "got", "k": k}`` line as
every waiter has its k-th change): ``{"receipts": [[k, t_received, t_observed,
state], ...], "waiters": n, "errors": [...]}``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from array import array
from typing import Any

from aihubd_api.v1 import aihubd_pb2 as pb
from aihubd_client import AsyncClient, AsyncLinkJob, Client, LinkJob
from aihubd_client.jobview import JobValues


class _Got:
    """Prints ``{"event": "got", "k": k}`` once every waiter has its k-th change (the bench makes
    the next change only then)."""

    def __init__(self, waiters: int) -> None:
        self._waiters = waiters
        self._counts: dict[int, int] = {}

    def note(self, k: int) -> None:
        self._counts[k] = self._counts.get(k, 0) + 1
        if self._counts[k] == self._waiters:
            print(json.dumps({"event": "got", "k": k}), flush=True)


class _StampedJob(LinkJob):
    """A LinkJob that keeps the daemon's observation time of the view it last showed (the first
    read and each view the shared stream brings go through ``_adopt``)."""

    observed = 0.0

    def _adopt(self, values: JobValues) -> None:
        self.observed = values.refreshed[0] + values.refreshed[1] / 1e9
        super()._adopt(values)


class _StampedAsyncJob(AsyncLinkJob):
    observed = 0.0

    def _adopt(self, values: JobValues) -> None:
        self.observed = values.refreshed[0] + values.refreshed[1] / 1e9
        super()._adopt(values)


async def _tasks(args: argparse.Namespace) -> dict[str, Any]:
    receipts = array("d")  # k, t_received, t_observed, state: no object per receipt for the GC
    errors: list[str] = []
    joined = 0
    all_joined = asyncio.Event()
    got = _Got(args.waiters)
    async with AsyncClient(args.socket) as client:
        await client.get_job(args.job_id)  # the job exists; the channel is open
        jobs = [
            _StampedAsyncJob(pb.Job(job_id=args.job_id, state=pb.JOB_STATE_CREATED), client._connection)
            for _ in range(args.waiters)
        ]

        async def wait(job: _StampedAsyncJob) -> None:
            nonlocal joined
            k = -1
            try:
                async for status in job.iter_status(timeout=args.timeout):
                    k += 1
                    if k == 0:
                        joined += 1
                        if joined == len(jobs):
                            all_joined.set()
                        continue
                    receipts.extend((k, time.time(), job.observed, status.state))
                    got.note(k)
                    if k == args.changes:
                        break
            except Exception as exc:  # reported to the bench
                errors.append(f"{type(exc).__name__}: {exc}")
                if k < 0:
                    joined += 1
                    if joined == len(jobs):
                        all_joined.set()

        tasks = [asyncio.create_task(wait(job)) for job in jobs]
        await asyncio.wait_for(all_joined.wait(), args.timeout)
        print("ready", flush=True)
        await asyncio.wait(tasks, timeout=args.timeout)
    return {"receipts": _rows(receipts), "waiters": args.waiters, "errors": errors[:5]}


def _rows(receipts: array[float]) -> list[list[float]]:
    """The receipts recorded flat (4 numbers each) as the rows the bench reads."""
    return [receipts[i : i + 4].tolist() for i in range(0, len(receipts), 4)]


def _main(args: argparse.Namespace) -> None:
    if not args.threads:
        print(json.dumps(asyncio.run(_tasks(args)), separators=(",", ":")), flush=True)
        return
    receipts = array("d")
    errors: list[str] = []
    lock = threading.Lock()
    joined = threading.Semaphore(0)
    got = _Got(args.waiters)
    with Client(args.socket) as client:
        client.get_job(args.job_id)  # the job exists; the channel is open
        jobs = [
            _StampedJob(pb.Job(job_id=args.job_id, state=pb.JOB_STATE_CREATED), client._connection)
            for _ in range(args.waiters)
        ]

        def wait(job: _StampedJob) -> None:
            mine = array("d")
            try:
                statuses = job.iter_status(timeout=args.timeout)
                next(statuses)
                joined.release()
                for k, status in enumerate(statuses, start=1):
                    mine.extend((k, time.time(), job.observed, status.state))
                    with lock:
                        got.note(k)
                    if k == args.changes:
                        break
                statuses.close()
            except Exception as exc:  # reported to the bench
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                joined.release()
            with lock:
                receipts.extend(mine)

        threads = [threading.Thread(target=wait, args=(job,), daemon=True) for job in jobs]
        for thread in threads:
            thread.start()
        for _ in threads:
            joined.acquire(timeout=args.timeout)
        print("ready", flush=True)
        deadline = time.monotonic() + args.timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
    result: dict[str, Any] = {"receipts": _rows(receipts), "waiters": args.waiters, "errors": errors[:5]}
    print(json.dumps(result, separators=(",", ":")), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--socket", required=True)
    parser.add_argument("--job-id", required=True)
    parser.add_argument("--waiters", type=int, default=1)
    parser.add_argument("--changes", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--threads", action="store_true", help="threads in LinkJob.iter_status, not tasks")
    _main(parser.parse_args())


if __name__ == "__main__":
    main()
