"""3. Cached status reads: GetJob calls/s and latency at C concurrent callers, next to a trivial
grpc.aio echo that answers the same method with a fixed copy of the same Job.

The daemon adopts one in-flight job (its cached view is what GetJob serves). Load comes from
loadgen processes (grpc.aio, C tasks calling back to back; one process for C = 1, two sharing C
otherwise), with identical client code for both servers; both servers are measured in the same
run, alternately in several short rounds (so drifting background load hits both alike), each
after a short warm-up.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aihubd_api.v1 import aihubd_pb2 as api

from . import procs
from .common import HUB_RATE, Ctx, aio_stub, median, percentile
from .hubrest import HubRest
from .report import FAIL, PASS, Row, fmt_ms, fmt_rate

NAME = "reads"
TITLE = "3 reads"
TARGET_RATIO = 0.70


async def _tracked_job(emu: procs.Emulator, daemon: procs.Daemon) -> api.Job:
    async with HubRest(emu.base_url, emu.token) as hub:
        job_id = await hub.create_link_job([await hub.create_model()], name="bench-reads")
    channel, stub, _ = aio_stub(daemon.target)
    async with channel:
        await stub.TrackJob(api.TrackJobRequest(job_id=job_id), timeout=60)
        return await stub.GetJob(api.GetJobRequest(job_id=job_id), timeout=60)


def _load(
    loadgens: list[procs.Proc], target: str, job_id: str, concurrency: int, duration: float, warmup: float
) -> dict[str, Any]:
    used = loadgens[:1] if concurrency == 1 else loadgens
    shares = [concurrency // len(used) + (1 if i < concurrency % len(used) else 0) for i in range(len(used))]
    start_at = time.time() + 0.3
    for lg, share in zip(used, shares, strict=True):
        lg.send(
            {
                "op": "unary",
                "target": target,
                "job_id": job_id,
                "concurrency": share,
                "duration": duration,
                "warmup": warmup,
                "start_at": start_at,
            }
        )
    calls = errors = 0
    lat: list[int] = []
    samples: list[str] = []
    for lg in used:
        out = lg.receive(timeout=duration + warmup + 120)
        if out.get("event") == "error":
            raise procs.BenchError(f"{lg.name}: {out['error']}")
        calls += out["calls"]
        errors += out["errors"]
        samples += out.get("error_samples", [])
        lat += out["lat_us"]
    return {
        "calls": calls,
        "seconds": duration,
        "errors": errors,
        "error_samples": samples[:3],
        "lat_us": lat,
        "processes": len(used),
    }


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    lat = [x for part in parts for x in part["lat_us"]]
    calls = sum(part["calls"] for part in parts)
    seconds = sum(part["seconds"] for part in parts)
    return {
        "calls_per_s": calls / seconds,
        "calls": calls,
        "seconds": seconds,
        "errors": sum(part["errors"] for part in parts),
        "error_samples": [e for part in parts for e in part["error_samples"]][:3],
        "p50_s": median(lat) / 1e6,
        "p99_s": percentile(lat, 99) / 1e6,
        "processes": parts[0]["processes"],
        "rounds_calls_per_s": [round(part["calls"] / part["seconds"]) for part in parts],
    }


def run(ctx: Ctx) -> None:
    p = ctx.params(NAME)
    wd = ctx.subdir(NAME)
    emu = procs.start_emulator(wd, manual=True)
    daemon = procs.start_daemon(
        wd, emu, poll_interval=3600, extra=ctx.daemon_flags({"--hub-rate": HUB_RATE, "--max-poll-interval": "3600"})
    )
    job = asyncio.run(_tracked_job(emu, daemon))
    job_file = wd / "job.pb"
    job_file.write_bytes(job.SerializeToString())
    echo_socket = procs.socket_path(wd, "echo-reads")
    echo = procs.start_module(
        "echo-reads",
        "tools.bench.echo",
        ["--socket", str(echo_socket), "--job-file", str(job_file)],
        logdir=wd / "logs",
    )
    echo_target = f"unix:{echo_socket}"
    loadgens = [
        procs.start_module(f"loadgen-reads-{i}", "tools.bench.loadgen", [], logdir=wd / "logs", interactive=True)
        for i in range(2)
    ]
    results: dict[int, dict[str, Any]] = {}
    rounds = max(1, int(p.get("rounds", 1)))
    piece = p["duration"] / rounds
    try:
        for c in p["concurrency"]:
            parts: dict[str, list[dict[str, Any]]] = {"daemon": [], "echo": []}
            for _ in range(rounds):
                parts["daemon"].append(_load(loadgens, daemon.target, job.job_id, c, piece, p["warmup"]))
                parts["echo"].append(_load(loadgens, echo_target, job.job_id, c, piece, p["warmup"]))
            results[c] = {k: _merge(v) for k, v in parts.items()}
    finally:
        for lg in loadgens:
            lg.stop()
        echo.stop()
        daemon.stop()
        emu.stop()

    for c, r in results.items():
        d, e = r["daemon"], r["echo"]
        note = (
            f"{d['processes']} client process(es); per round daemon {d['rounds_calls_per_s']} "
            f"vs echo {e['rounds_calls_per_s']} calls/s"
        )
        if d["errors"]:
            note += f"; {d['errors']} errors: {d['error_samples'][:1]}"
        ctx.report.add(rate_vs_echo_row(TITLE, "GetJob", c, d, e, TARGET_RATIO, note))
    ctx.report.note(
        "Cached reads: the echo is a grpc.aio server on its own Unix socket answering the same "
        "GetJob method with a prebuilt copy of the same Job; the same loadgen code drives both, "
        f"{p['duration']:g} s per server and concurrency, in {rounds} alternating round(s), each after "
        f"{p['warmup']:g} s of warm-up."
    )


def rate_vs_echo_row(
    title: str, what: str, c: int, d: dict[str, Any], e: dict[str, Any], target: float, note: str
) -> Row:
    """A row of cached GetJob calls/s against the echo baseline at concurrency ``c`` (PASS at ``target``)."""
    ratio = d["calls_per_s"] / e["calls_per_s"] if e["calls_per_s"] else None
    ok = ratio is not None and ratio >= target and d["errors"] == 0
    return Row(
        title,
        f"{what}, {c} concurrent caller{'s' if c > 1 else ''}",
        f"{fmt_rate(d['calls_per_s'])} · p50 {fmt_ms(d['p50_s'])} · p99 {fmt_ms(d['p99_s'])}",
        baseline=f"echo {fmt_rate(e['calls_per_s'])} · p50 {fmt_ms(e['p50_s'])} · p99 {fmt_ms(e['p99_s'])}",
        ratio=ratio,
        target=f"≥ {target:.2f} of echo calls/s",
        status=PASS if ok else FAIL,
        note=note,
        data={"concurrency": c, "daemon": d, "echo": e},
    )
