"""The trivial grpc.aio baseline the daemon is compared with, on its own Unix socket.

It serves two methods under the daemon's own method names and message types, so the bench's
client code is byte-for-byte the same for both servers:

* ``/aihubd.v1.LinkJobService/GetJob``: returns one prebuilt ``Job`` (a copy of a real job read
  from the daemon) without looking anything up — an echo of a fixed answer.
* ``/aihubd.v1.LinkJobService/ReadTargetModel``: streams ``--stream-bytes`` bytes as 1 MiB
  ``Chunk`` messages cut from one preallocated random block, serialized once up front (no disk,
  no Hub, no per-chunk work: the trivial byte stream, ~1 GB/s per reference/ceilings.md).
* ``/aihubd.v1.LinkJobService/WaitJob`` and ``RefreshJobs``: a trivial fan-out. Every WaitJob
  stream gets the current job, then each new version; RefreshJobs makes a new version at once
  (next state, ``last_refresh_time`` = now) and wakes every stream with one event.

Run: ``python -m tools.bench.echo --socket PATH --job-file FILE --stream-bytes N``; prints
``echo ready on unix:PATH`` once serving, stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time
from pathlib import Path

import grpc

from aihubd_api.v1 import aihubd_pb2 as api

CHUNK = 1 << 20
SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", 1 << 20),
    ("grpc.max_send_message_length", 4 << 20),
    ("grpc.server.max_pending_requests", 100_000),
    ("grpc.server.max_pending_requests_hard_limit", 100_000),
    ("grpc.so_reuseport", 0),
]
SERVICE = "aihubd.v1.LinkJobService"


_NEXT_STATE = {api.JOB_STATE_CREATED: api.JOB_STATE_LINKING_MODELS, api.JOB_STATE_LINKING_MODELS: api.JOB_STATE_FAILED}
_TERMINAL = (api.JOB_STATE_DONE, api.JOB_STATE_FAILED)


class _FanOut:
    """The latest version of one job and a bell that wakes every stream when it changes."""

    def __init__(self, job: api.Job) -> None:
        self.job = api.Job()
        self.job.CopyFrom(job)
        self.job.state = api.JOB_STATE_CREATED
        self.version = 0
        self.bell = asyncio.Event()

    def change(self) -> None:
        new = api.Job()
        new.CopyFrom(self.job)
        new.state = _NEXT_STATE.get(self.job.state, api.JOB_STATE_CREATED)
        new.last_refresh_time.FromNanoseconds(time.time_ns())
        self.job, self.version = new, self.version + 1
        bell, self.bell = self.bell, asyncio.Event()
        bell.set()


def _handlers(job: api.Job, stream_bytes: int) -> grpc.GenericRpcHandler:
    block = os.urandom(CHUNK)
    fan = _FanOut(job)

    async def wait_job(request: api.WaitJobRequest, context: grpc.aio.ServicerContext):
        seen, current = fan.version, fan.job
        yield current
        while current.state not in _TERMINAL:
            if fan.version == seen:
                await fan.bell.wait()
            seen, current = fan.version, fan.job
            yield current

    async def refresh_jobs(request: api.RefreshJobsRequest, context: grpc.aio.ServicerContext):
        fan.change()
        return api.RefreshJobsResponse(polled=1, changed=1)

    async def get_job(request: api.GetJobRequest, context: grpc.aio.ServicerContext) -> api.Job:
        return job

    full = api.Chunk(data=block).SerializeToString()

    async def read_target_model(request: api.ReadTargetModelRequest, context: grpc.aio.ServicerContext):
        left = stream_bytes
        first = True
        while left > 0:
            n = min(CHUNK, left)
            if first:
                yield api.Chunk(data=block[:n], filename="echo.bin", total_size=stream_bytes).SerializeToString()
                first = False
            elif n == CHUNK:
                yield full
            else:
                yield api.Chunk(data=block[:n]).SerializeToString()
            left -= n

    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "GetJob": grpc.unary_unary_rpc_method_handler(
                get_job,
                request_deserializer=api.GetJobRequest.FromString,
                response_serializer=api.Job.SerializeToString,
            ),
            "ReadTargetModel": grpc.unary_stream_rpc_method_handler(
                read_target_model, request_deserializer=api.ReadTargetModelRequest.FromString, response_serializer=None
            ),  # already serialized Chunk messages
            "WaitJob": grpc.unary_stream_rpc_method_handler(
                wait_job,
                request_deserializer=api.WaitJobRequest.FromString,
                response_serializer=api.Job.SerializeToString,
            ),
            "RefreshJobs": grpc.unary_unary_rpc_method_handler(
                refresh_jobs,
                request_deserializer=api.RefreshJobsRequest.FromString,
                response_serializer=api.RefreshJobsResponse.SerializeToString,
            ),
        },
    )


async def _serve(socket: Path, job: api.Job, stream_bytes: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = grpc.aio.server(options=SERVER_OPTIONS)
    server.add_generic_rpc_handlers((_handlers(job, stream_bytes),))
    server.add_insecure_port(f"unix:{socket}")
    await server.start()
    print(f"echo ready on unix:{socket}", flush=True)
    await stop.wait()
    await server.stop(1.0)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.echo")
    parser.add_argument("--socket", type=Path, required=True)
    parser.add_argument("--job-file", type=Path, help="a serialized aihubd.v1.Job to answer GetJob with")
    parser.add_argument("--stream-bytes", type=int, default=256 << 20)
    args = parser.parse_args()
    job = api.Job()
    if args.job_file is not None:
        job.ParseFromString(args.job_file.read_bytes())
    asyncio.run(_serve(args.socket, job, args.stream_bytes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
