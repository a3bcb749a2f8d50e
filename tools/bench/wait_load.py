"""`make bench` waiter fleet in Python (tools/bench/scenario_waits.py): ``--waiters`` threads of one
process, each in ``LinkJob.iter_status`` on ``--job-id`` through one ``Client``, so all of them
share the client's one WatchJobs stream. Prints "ready" once every waiter has its job's current
status, then records when each waiter receives each change (epoch s) next to when the daemon
observed it (the job's ``last_refresh_time``); once every waiter has ``--changes`` changes (or
``--timeout`` s passed) prints one JSON line: ``{"receipts": [[k, t_received, t_observed,
state], ...], "waiters": n, "errors": [...]}``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from typing import Any

from aihubd_api.v1 import aihubd_pb2 as pb
from aihubd_client import Client, LinkJob


class _StampedJob(LinkJob):
    """A LinkJob that keeps the daemon's observation time of the view it last applied."""

    observed = 0.0

    def _apply(self, message: pb.Job) -> None:
        self.observed = message.last_refresh_time.seconds + message.last_refresh_time.nanos / 1e9
        super()._apply(message)


def _main(args: argparse.Namespace) -> None:
    receipts: list[list[float]] = []
    errors: list[str] = []
    lock = threading.Lock()
    joined = threading.Semaphore(0)
    with Client(args.socket) as client:
        client.get_job(args.job_id)  # the job exists; the channel is open
        jobs = [
            _StampedJob(pb.Job(job_id=args.job_id, state=pb.JOB_STATE_CREATED), client._connection)
            for _ in range(args.waiters)
        ]

        def wait(job: _StampedJob) -> None:
            mine: list[list[float]] = []
            try:
                statuses = job.iter_status(timeout=args.timeout)
                next(statuses)
                joined.release()
                for k, status in enumerate(statuses, start=1):
                    mine.append([k, time.time(), job.observed, float(status.state)])
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
    result: dict[str, Any] = {"receipts": receipts, "waiters": args.waiters, "errors": errors[:5]}
    print(json.dumps(result, separators=(",", ":")), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--socket", required=True)
    parser.add_argument("--job-id", required=True)
    parser.add_argument("--waiters", type=int, default=1)
    parser.add_argument("--changes", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=120.0)
    _main(parser.parse_args())


if __name__ == "__main__":
    main()
