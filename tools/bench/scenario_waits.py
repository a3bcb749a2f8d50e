"""11. Notification to waiters of one process: W ``iter_status`` waits sharing one stream.

The Python client carries every wait of a process over one WatchJobs stream (aio_watch_hub,
watch_hub). For each layout — one waiter in one process (the baseline), ``waiters`` asyncio tasks
in one process, ``procs`` processes x ``per_proc`` tasks, and ``waiters`` threads in one process
(``LinkJob``; CPython wakes one thread at a time under the GIL, which the row shows) — the daemon
adopts a fresh in-flight job (TrackJob), the waiter processes (tools/bench/wait_load.py) join
it, and twice (CREATED -> LINKING_MODELS,
then -> DONE) the bench advances the job on the emulator and asks the daemon for a poll cycle
now (RefreshJobs), so the poll interval is out of the picture. While they wait, the daemon's open
server streams are counted (DaemonInfo: WatchJobs + WaitJob streams): one per process.

Latency per waiter = when it got the change - when the daemon observed it (the job's
``last_refresh_time``). Reported: p50 and p99 over every waiter and change, the last waiter
(max), and the ratio of the p99 to the same run's single waiter.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from aihubd_api.v1 import aihubd_pb2 as api

from . import procs
from .common import HUB_RATE, Ctx, aio_stub, median, percentile
from .report import FAIL, PASS, Row, fmt_ms
from .scenario_notify import _new_tracked_job, _refresh

NAME = "waits"
TITLE = "11 waits"
TARGET_P99 = 0.025
TARGET_RATIO = 2.0


async def _open_streams(target: str) -> int:
    channel, _, dstub = aio_stub(target)
    async with channel:
        info = await dstub.GetDaemonInfo(api.GetDaemonInfoRequest(), timeout=60)
    return info.watch_streams + info.wait_streams


def _round(
    wd: Any, emu: procs.Emulator, daemon: procs.Daemon, processes: int, waiters: int, p: dict[str, Any], threads: bool
) -> dict[str, Any]:
    """One job, ``processes`` x ``waiters`` waits on it, two changes; every receipt."""
    job_id = asyncio.run(_new_tracked_job(emu, daemon))
    argv = [sys.executable, "-m", "tools.bench.wait_load", "--socket", str(daemon.socket), "--job-id", job_id]
    argv += ["--waiters", str(waiters), "--changes", "2", "--timeout", str(p["timeout"])]
    argv += ["--threads"] if threads else []
    fleet = [procs.start_argv(f"wait-{processes}x{waiters}-{i}", argv, logdir=wd / "logs") for i in range(processes)]
    try:
        for proc in fleet:
            if proc.wait_first_line(p["timeout"]) != "ready":
                raise procs.BenchError(f"{proc.name} did not start waiting: {proc.first_line!r}\n{proc.log_tail()}")
        time.sleep(p["settle"])  # reopens and the cycles nudged by new waiters are over
        streams = asyncio.run(_open_streams(daemon.target))
        for k in (1, 2):
            emu.advance(job_id)
            asyncio.run(_refresh(daemon.target))
            for proc in fleet:  # every waiter has change k before the next one is made
                got = proc.receive(p["timeout"] + 30)
                if got != {"event": "got", "k": k}:
                    raise procs.BenchError(f"{proc.name}: {got}\n{proc.log_tail()}")
        results = [proc.receive(p["timeout"] + 30) for proc in fleet]
    finally:
        for proc in fleet:
            proc.stop()
    receipts = [r for result in results for r in result["receipts"]]
    return {
        "latencies": [t_recv - t_obs for _, t_recv, t_obs, _ in receipts if t_obs > 0],
        "expected": processes * waiters * 2,
        "receipts": len(receipts),
        "streams": streams,
        "errors": [e for result in results for e in result["errors"]][:5],
    }


def _layout(
    wd: Any,
    emu: procs.Emulator,
    daemon: procs.Daemon,
    processes: int,
    waiters: int,
    p: dict[str, Any],
    threads: bool = False,
) -> dict[str, Any]:
    rounds = [_round(wd, emu, daemon, processes, waiters, p, threads) for _ in range(p["rounds"])]
    lat = [x for r in rounds for x in r["latencies"]]
    return {
        "processes": processes,
        "waiters": waiters,
        "kind": "threads" if threads else "tasks",
        "p50": median(lat),
        "p99": percentile(lat, 99),
        "max": max(lat, default=float("nan")),
        "samples": len(lat),
        "missing": sum(r["expected"] - r["receipts"] for r in rounds),
        "streams": [r["streams"] for r in rounds],
        "errors": [e for r in rounds for e in r["errors"]][:5],
    }


def run(ctx: Ctx) -> None:
    p = ctx.params(NAME)
    wd = ctx.subdir(NAME)
    emu = procs.start_emulator(wd, manual=True)
    daemon = procs.start_daemon(
        wd, emu, poll_interval=3600, extra=ctx.daemon_flags({"--hub-rate": HUB_RATE, "--max-poll-interval": "3600"})
    )
    try:
        single = _layout(wd, emu, daemon, 1, 1, p)
        layouts = [
            _layout(wd, emu, daemon, 1, p["waiters"], p),
            _layout(wd, emu, daemon, p["procs"], p["per_proc"], p),
            _layout(wd, emu, daemon, 1, p["waiters"], p, threads=True),
        ]
    finally:
        daemon.stop()
        emu.stop()

    for d in layouts:
        ratio = d["p99"] / single["p99"] if single["p99"] else None
        one_each = all(s == d["processes"] for s in d["streams"])
        ok = (
            d["missing"] == 0
            and not d["errors"]
            and one_each
            and d["p99"] <= TARGET_P99
            and ratio is not None
            and ratio <= TARGET_RATIO
        )
        note = [
            f"last waiter {fmt_ms(d['max'])}",
            f"daemon streams while waiting {d['streams']} (one per process)",
            f"{d['samples']} receipts",
        ]
        if d["missing"]:
            note.append(f"{d['missing']} receipt(s) missing")
        if d["errors"]:
            note.append(f"errors: {d['errors'][0]}")
        ctx.report.add(
            Row(
                TITLE,
                f"{d['processes']} process(es) x {d['waiters']} waiting {d['kind']}: daemon's observation → each",
                f"p50 {fmt_ms(d['p50'])} · p99 {fmt_ms(d['p99'])}",
                baseline=f"1 waiter p50 {fmt_ms(single['p50'])} · p99 {fmt_ms(single['p99'])}",
                ratio=ratio,
                target=f"p99 ≤ {TARGET_P99 * 1e3:.0f} ms and ≤ {TARGET_RATIO:g}x 1 waiter; 1 stream per process",
                status=PASS if ok else FAIL,
                note="; ".join(note),
                data={"layout": d, "single_waiter": single},
            )
        )
    ctx.report.note(
        "waits: AsyncLinkJob.iter_status tasks, or LinkJob.iter_status threads (tools/bench/wait_load.py), "
        "all waits of a process over its one shared WatchJobs stream; latency from the daemon's observation "
        "(last_refresh_time) to each waiter holding the change (the next change once all have it), the poll "
        f"forced by RefreshJobs; {p['rounds']} job(s) per layout, "
        "2 changes each."
    )
