"""2. Notification latency: W open WaitJob streams on one job, the job changes on the Hub.

For each W the daemon adopts a fresh in-flight job (TrackJob); a loadgen process opens W WaitJob
streams at once (a burst, spread over ⌈W/125⌉ connections) and reports how many were accepted
(delivered their first message) and how many failed. Then, twice (CREATED -> LINKING_MODELS,
then -> FAILED), the bench advances the job on the emulator and asks the daemon for a poll cycle
now (RefreshJobs), so the poll interval is out of the picture; every stream timestamps the
message that carries the change.

Latency per stream = time it received the change - the time the daemon observed it (the Job's
``last_refresh_time``, stamped by the daemon when the Hub answered). Reported: median and p99
over all streams and changes, and the last receiver. The wall time from the emulator's change
(advance returned) to the last receiver, including the Hub round trip of the cycle, is in the note.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from typing import Any

from aihubd_api.v1 import aihubd_pb2 as api

from . import procs
from .common import HUB_RATE, Ctx, aio_stub, median, percentile
from .hubrest import HubRest
from .report import FAIL, PASS, Row, fmt_ms

NAME = "notify"
TITLE = "2 notify"
TARGET_P99 = 0.100
STREAMS_PER_CONNECTION = 125


async def _new_tracked_job(emu: procs.Emulator, daemon: procs.Daemon) -> str:
    async with HubRest(emu.base_url, emu.token) as hub:
        job_id = await hub.create_link_job([await hub.create_model()], name="bench-notify")
    channel, stub, _ = aio_stub(daemon.target)
    async with channel:
        await stub.TrackJob(api.TrackJobRequest(job_id=job_id), timeout=60)
    return job_id


async def _refresh(target: str) -> None:
    channel, stub, _ = aio_stub(target)
    async with channel:
        await stub.RefreshJobs(api.RefreshJobsRequest(), timeout=120)


def _one_job(
    loadgen: procs.Proc, target: str, job_id: str, waiters: int, advance: Any, settle: float
) -> dict[str, Any]:
    """Open ``waiters`` streams on ``job_id`` at ``target``, then twice: ``advance()`` (the change on
    the Hub) and RefreshJobs on ``target`` (the poll), and collect every stream's receipts."""
    loadgen.send(
        {
            "op": "waiters",
            "target": target,
            "job_id": job_id,
            "count": waiters,
            "connections": math.ceil(waiters / STREAMS_PER_CONNECTION),
            "changes": 2,
            "timeout": 60,
        }
    )
    opened = loadgen.receive(timeout=120)
    if opened.get("event") != "open":
        raise procs.BenchError(f"loadgen: {opened}")
    time.sleep(settle)  # cycles nudged by the new waiters are over
    changes = []
    for k in (1, 2):
        t_change = time.time()
        advance()
        t_advanced = time.time()
        asyncio.run(_refresh(target))
        got = loadgen.receive(timeout=120)
        changes.append({"k": k, "t_change": t_change, "t_advanced": t_advanced, "received": got.get("received")})
        time.sleep(0.2)
    result = loadgen.receive(timeout=120)
    if result.get("event") != "result":
        raise procs.BenchError(f"loadgen: {result}")
    return {"job_id": job_id, "open": opened, "changes": changes, "receipts": result["receipts"]}


def _summary(jobs: list[dict[str, Any]]) -> dict[str, Any]:
    observed: list[float] = []
    from_change: list[float] = []
    accepted = failed = missing = no_stamp = 0
    errors: list[str] = []
    for job in jobs:
        accepted += job["open"]["accepted"]
        failed += job["open"]["failed"]
        errors += job["open"]["errors"]
        t_adv = {c["k"]: c["t_advanced"] for c in job["changes"]}
        per_k: dict[int, int] = {}
        for k, t_recv, t_obs, _state in job["receipts"]:
            k = int(k)
            per_k[k] = per_k.get(k, 0) + 1
            if t_obs > 0:
                observed.append(t_recv - t_obs)
            else:
                no_stamp += 1
            from_change.append(t_recv - t_adv[k])
        missing += sum(job["open"]["accepted"] - per_k.get(c["k"], 0) for c in job["changes"])
    lat = observed if observed else from_change
    receipts = [r for job in jobs for r in job["receipts"]]
    by_change = {
        k: percentile([t_recv - t_obs for kk, t_recv, t_obs, _ in receipts if int(kk) == k and t_obs > 0], 99)
        for k in (1, 2)
    }  # 1: a state change; 2: the final one, which also ends every stream
    return {
        "p50": median(lat),
        "p99": percentile(lat, 99),
        "max": max(lat) if lat else math.nan,
        "p99_by_change": by_change,
        "samples": len(lat),
        "from_change_p50": median(from_change),
        "from_change_p99": percentile(from_change, 99),
        "from_change_max": max(from_change) if from_change else math.nan,
        "accepted": accepted,
        "failed": failed,
        "missing": missing,
        "no_stamp": no_stamp,
        "errors": errors[:5],
        "open_seconds": [j["open"]["open_seconds"] for j in jobs],
    }


def run(ctx: Ctx) -> None:
    p = ctx.params(NAME)
    wd = ctx.subdir(NAME)
    emu = procs.start_emulator(wd, manual=True)
    daemon = procs.start_daemon(
        wd, emu, poll_interval=3600, extra=ctx.daemon_flags({"--hub-rate": HUB_RATE, "--max-poll-interval": "3600"})
    )
    echo_socket = procs.socket_path(wd, "echo-notify")
    echo = procs.start_module("echo-notify", "tools.bench.echo", ["--socket", str(echo_socket)], logdir=wd / "logs")
    echo_target = f"unix:{echo_socket}"
    loadgen = procs.start_module("loadgen-notify", "tools.bench.loadgen", [], logdir=wd / "logs", interactive=True)
    runs: dict[int, dict[str, list[dict[str, Any]]]] = {}
    echo_rounds = 0
    try:
        for waiters in p["waiters"]:
            daemon_jobs, echo_jobs = [], []
            for _ in range(p["jobs_per_size"]):
                job_id = asyncio.run(_new_tracked_job(emu, daemon))
                daemon_jobs.append(
                    _one_job(
                        loadgen, daemon.target, job_id, waiters, functools.partial(emu.advance, job_id), p["settle"]
                    )
                )
                if echo_rounds:
                    asyncio.run(_refresh(echo_target))  # back to CREATED for the next round
                echo_jobs.append(_one_job(loadgen, echo_target, "echo", waiters, lambda: None, p["settle"]))
                echo_rounds += 1
            runs[waiters] = {"daemon": daemon_jobs, "echo": echo_jobs}
    finally:
        loadgen.stop()
        echo.stop()
        daemon.stop()
        emu.stop()

    report = ctx.report
    biggest = max(runs)
    for waiters, both in runs.items():
        d, e = _summary(both["daemon"]), _summary(both["echo"])
        expected = waiters * len(both["daemon"])
        burst_ok = d["failed"] == 0 and d["accepted"] == expected
        ok = burst_ok and d["missing"] == 0 and d["p99"] <= TARGET_P99
        note = [
            f"last receiver {fmt_ms(d['max'])} (trivial: {fmt_ms(e['max'])})",
            f"p99 of the state change {fmt_ms(d['p99_by_change'][1])} (trivial {fmt_ms(e['p99_by_change'][1])}), "
            f"of the final change that ends the streams {fmt_ms(d['p99_by_change'][2])} "
            f"(trivial {fmt_ms(e['p99_by_change'][2])})",
            f"Hub change→last receiver {fmt_ms(d['from_change_max'])} incl. the cycle's Hub call",
            f"{d['samples']} receipts",
        ]
        if d["missing"]:
            note.append(f"{d['missing']} stream(s) never got a change")
        if d["no_stamp"]:
            note.append(f"{d['no_stamp']} message(s) without last_refresh_time: measured from the Hub change")
        report.add(
            Row(
                TITLE,
                f"W={waiters} streams: daemon's observation → each stream",
                f"p50 {fmt_ms(d['p50'])} · p99 {fmt_ms(d['p99'])}",
                baseline=f"fan-out p50 {fmt_ms(e['p50'])} · p99 {fmt_ms(e['p99'])}",
                ratio=(d["p99"] / e["p99"]) if e["p99"] and e["p99"] == e["p99"] else None,
                target=f"p99 ≤ {TARGET_P99 * 1e3:.0f} ms",
                status=PASS if ok else FAIL,
                note="; ".join(note),
                data={"waiters": waiters, "daemon": d, "trivial_fan_out": e},
            )
        )
        if waiters == biggest:
            report.add(
                Row(
                    TITLE,
                    f"burst: {waiters} WaitJob streams opened at once",
                    f"{d['accepted']}/{expected} accepted",
                    baseline=f"fan-out {e['accepted']}/{expected}",
                    target="all accepted, 0 failed",
                    status=PASS if burst_ok else FAIL,
                    note=f"{d['failed']} failed"
                    + (f": {d['errors'][0]}" if d["errors"] else "")
                    + "; all open after "
                    + ", ".join(fmt_ms(s) for s in d["open_seconds"]),
                    data={
                        "daemon": {k: d[k] for k in ("accepted", "failed", "errors", "open_seconds")},
                        "trivial_fan_out": {k: e[k] for k in ("accepted", "failed", "errors", "open_seconds")},
                    },
                )
            )
    report.note(
        "Notification latency: from the daemon's observation of the change (the Job's last_refresh_time) "
        "to each stream's receipt, the poll triggered by RefreshJobs right after the change — i.e. minus "
        f"the poll interval. One client process holds all W streams over ⌈W/{STREAMS_PER_CONNECTION}⌉ "
        "connections; its own receive cost is in every figure, so the same client is timed against a "
        "trivial grpc.aio fan-out (one asyncio.Event waking W streams) as the baseline; ratio = p99/p99."
    )
