"""The bench's gRPC client process: load, streams and waiters, driven by JSON lines on stdin.

It talks to the daemon and to the echo baseline with the same code (same method names, same
message types), so a ratio of the two measures the servers, not the client. Prints
``loadgen ready`` first, then one JSON line per event. Commands (one JSON object per line):

* ``{"op": "unary", "target", "job_id", "concurrency", "duration", "warmup", "start_at"}``:
  ``concurrency`` tasks call GetJob back to back; calls completing within
  ``[start_at + warmup, start_at + warmup + duration]`` count. Replies
  ``{"calls", "seconds", "errors", "lat_us": [...]}``.
* ``{"op": "stream", "target", "job_id", "repeat", "warmup"}``: reads ReadTargetModel to the end
  ``warmup`` (default 1, not timed: HTTP/2 flow-control windows grow on a new connection) plus
  ``repeat`` times on one channel. Replies ``{"runs": [{"bytes", "seconds"}], "errors"}``.
* ``{"op": "waiters", "target", "job_id", "count", "connections", "changes", "timeout"}``: opens
  ``count`` WaitJob streams at once over ``connections`` connections; replies
  ``{"event": "open", ...}`` once each stream delivered its first message (or failed), then
  ``{"event": "got", "k": k}`` when every open stream has received its k-th change, and finally
  ``{"event": "result", "receipts": [[k, t_received, t_observed_by_daemon, state], ...]}``.
* ``{"op": "exit"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from typing import Any

import grpc

from aihubd_api.v1 import aihubd_pb2 as api

SERVICE = "/aihubd.v1.LinkJobService/"
CHANNEL_OPTIONS = [
    ("grpc.enable_http_proxy", 0),
    ("grpc.max_receive_message_length", 8 << 20),
]


def _emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def _channel(target: str, own_connection: bool = False) -> grpc.aio.Channel:
    options = list(CHANNEL_OPTIONS)
    if own_connection:
        options.append(("grpc.use_local_subchannel_pool", 1))
    return grpc.aio.insecure_channel(target, options=options)


async def unary(cmd: dict[str, Any]) -> dict[str, Any]:
    concurrency = int(cmd["concurrency"])
    start_at = float(cmd.get("start_at") or time.time())
    warmup = float(cmd.get("warmup", 0.5))
    duration = float(cmd["duration"])
    request = api.GetJobRequest(job_id=cmd["job_id"])
    async with _channel(cmd["target"]) as channel:
        call = channel.unary_unary(
            SERVICE + "GetJob",
            request_serializer=api.GetJobRequest.SerializeToString,
            response_deserializer=api.Job.FromString,
        )
        await call(request, timeout=30)  # connect before the clock starts
        delay = start_at - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        # The window in perf_counter time.
        now_wall, now_perf = time.time(), time.perf_counter()
        begin = now_perf + (start_at - now_wall) + warmup
        end = begin + duration
        lat: list[int] = []
        errors: list[str] = []

        async def worker() -> None:
            while True:
                t0 = time.perf_counter()
                if t0 >= end:
                    return
                try:
                    await call(request, timeout=30)
                except grpc.aio.AioRpcError as exc:
                    if len(errors) < 5:
                        errors.append(f"{exc.code().name}: {exc.details()}")
                    else:
                        errors.append("")
                    continue
                t1 = time.perf_counter()
                if begin <= t1 <= end:
                    lat.append(int((t1 - t0) * 1e6))

        await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))), timeout=duration + warmup + 60)
    return {
        "calls": len(lat),
        "seconds": duration,
        "errors": len(errors),
        "error_samples": [e for e in errors if e][:5],
        "lat_us": lat,
    }


async def stream(cmd: dict[str, Any]) -> dict[str, Any]:
    runs = []
    errors: list[str] = []
    request = api.ReadTargetModelRequest(job_id=cmd["job_id"])
    async with _channel(cmd["target"]) as channel:
        method = channel.unary_stream(
            SERVICE + "ReadTargetModel",
            request_serializer=api.ReadTargetModelRequest.SerializeToString,
            response_deserializer=api.Chunk.FromString,
        )
        warmup = int(cmd.get("warmup", 1))
        for i in range(warmup + int(cmd.get("repeat", 1))):
            size = 0
            t0 = time.perf_counter()
            try:
                async for chunk in method(request, timeout=float(cmd.get("timeout", 300))):
                    size += len(chunk.data)
            except grpc.aio.AioRpcError as exc:
                errors.append(f"{exc.code().name}: {exc.details()}")
                break
            if i >= warmup:  # the first read(s) grow the connection's flow-control window
                runs.append({"bytes": size, "seconds": time.perf_counter() - t0})
    return {"runs": runs, "errors": errors}


def _seconds(ts: Any) -> float:
    return ts.seconds + ts.nanos / 1e9


async def waiters(cmd: dict[str, Any]) -> dict[str, Any]:
    count = int(cmd["count"])
    changes = int(cmd.get("changes", 1))
    timeout = float(cmd.get("timeout", 60))
    connections = max(1, min(int(cmd.get("connections", 1)), count))
    channels = [_channel(cmd["target"], own_connection=True) for _ in range(connections)]
    request = api.WaitJobRequest(job_id=cmd["job_id"])
    methods = [
        ch.unary_stream(
            SERVICE + "WaitJob",
            request_serializer=api.WaitJobRequest.SerializeToString,
            response_deserializer=api.Job.FromString,
        )
        for ch in channels
    ]
    receipts: list[list[float]] = []
    got = [0] * (changes + 1)  # got[k]: streams that received their k-th change
    opened = 0
    failed: list[str] = []
    all_open = asyncio.Event()
    progress = asyncio.Event()
    settled = 0
    dropped = 0  # open streams that ended before delivering every change

    def settle() -> None:
        nonlocal settled
        settled += 1
        if settled >= count:
            all_open.set()

    async def one(i: int) -> None:
        nonlocal opened, dropped
        call = methods[i % connections](request, timeout=timeout)
        is_open = False
        try:
            first = await call.read()
            if first is grpc.aio.EOF:
                failed.append("stream ended before the first message")
                settle()
                return
            opened += 1
            is_open = True
            settle()
            k = 0
            while k < changes:
                message = await call.read()
                t = time.time()
                if message is grpc.aio.EOF:
                    dropped += 1
                    progress.set()
                    return
                k += 1
                receipts.append([k, t, _seconds(message.last_refresh_time), int(message.state)])
                got[k] += 1
                progress.set()
        except grpc.aio.AioRpcError as exc:
            if not is_open:
                failed.append(f"{exc.code().name}: {exc.details()}")
                settle()
            else:
                dropped += 1
                progress.set()
        finally:
            call.cancel()

    t0 = time.perf_counter()
    tasks = [asyncio.create_task(one(i)) for i in range(count)]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(all_open.wait(), timeout=timeout)
    _emit(
        {
            "event": "open",
            "accepted": opened,
            "failed": len(failed) + (count - settled),
            "errors": failed[:5],
            "open_seconds": time.perf_counter() - t0,
        }
    )
    deadline = time.monotonic() + timeout
    for k in range(1, changes + 1):
        while got[k] < opened - dropped and time.monotonic() < deadline:
            progress.clear()
            try:
                await asyncio.wait_for(progress.wait(), timeout=max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                break
        _emit({"event": "got", "k": k, "received": got[k], "dropped": dropped})
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for ch in channels:
        await ch.close()
    return {"event": "result", "receipts": receipts, "accepted": opened}


async def main() -> None:
    loop = asyncio.get_running_loop()
    _emit({"event": "ready"})
    handlers = {"unary": unary, "stream": stream, "waiters": waiters}
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        cmd = json.loads(line)
        op = cmd.get("op")
        if op == "exit":
            return
        try:
            _emit(await handlers[op](cmd))
        except Exception as exc:  # reported to the bench, which decides
            _emit({"event": "error", "error": f"{type(exc).__name__}: {exc}"})


if __name__ == "__main__":
    asyncio.run(main())
