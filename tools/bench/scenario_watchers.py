"""6. WatchJobs fan-out: one stream of renames delivered to 100 Node watchers and 100 Python watchers.

Both fleets run at the same time against one daemon, so they see the very same changes: a Node
process with W ``watchJobs`` streams on one ``AihubdClient`` (clients/node/bench/watch-load.ts)
and a Python process with W ``AsyncClient.watch_jobs`` streams (tools/bench/watch_load.py). Once
every stream has its listing, one writer renames a job N times at a paced R/s (each rename is one
store revision and one CHANGED event for every watcher). Per fleet: the latency from sending the
rename to each watcher receiving it (an upper bound of commit-to-receipt; both clocks are this
machine's wall clock), and the time from the first rename sent to the last watcher holding all N.
Every watcher must get every rename exactly once.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from aihubd_client import AsyncClient

from . import procs
from .common import HUB_RATE, Ctx, median, percentile
from .report import FAIL, PASS, Row, fmt_ms
from .scenario_node import NODE_DIR, _build
from .scenario_resume import _adopt

NAME = "watchers"
TITLE = "6 watchers"
PREFIX = "bench-watch #"
WATCH_LOAD = NODE_DIR / "dist" / "bench" / "watch-load.js"


async def _rename(socket: str, job_id: str, count: int, rate: float) -> list[float]:
    """``count`` renames at a paced ``rate``/s; the wall-clock ms each was sent."""
    sent: list[float] = []
    async with AsyncClient(socket) as client:
        job = await client.get_job(job_id)
        start = time.monotonic()
        for i in range(count):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing the load, not synchronisation
            sent.append(time.time() * 1000)
            await job.set_name(f"{PREFIX}{i}")
    return sent


def _summary(result: dict[str, Any], sent: list[float]) -> dict[str, Any]:
    arrivals: list[list[float | None]] = result["arrivals"]
    latencies = [(t - sent[i]) / 1000 for row in arrivals for i, t in enumerate(row) if t is not None]
    missing = sum(1 for row in arrivals for t in row if t is None)
    last = max((t for row in arrivals for t in row if t is not None), default=sent[0])
    return {
        "watchers": len(arrivals),
        "delivered": len(latencies),
        "missing": missing,
        "dupes": result["dupes"],
        "p50_s": median(latencies) if latencies else 0.0,
        "p99_s": percentile(latencies, 99) if latencies else 0.0,
        "max_s": max(latencies, default=0.0),
        "all_delivered_s": (last - sent[0]) / 1000,
    }


def run(ctx: Ctx) -> None:
    p = ctx.params(NAME)
    wd = ctx.subdir(NAME)
    node = _build()
    emu = procs.start_emulator(wd, manual=True)
    daemon = procs.start_daemon(
        wd, emu, poll_interval=3600, extra=ctx.daemon_flags({"--hub-rate": HUB_RATE, "--max-poll-interval": "3600"})
    )
    socket = str(daemon.socket)
    watchers, changes = str(p["watchers"]), str(p["changes"])
    common = ["--socket", socket, "--watchers", watchers, "--changes", changes, "--prefix", PREFIX]
    common += ["--timeout", str(p["timeout"])]
    fleets: dict[str, procs.Proc] = {}
    try:
        (job_id,) = asyncio.run(_adopt(emu, daemon, 1))
        fleets["node"] = procs.start_argv("watch-node", [node, str(WATCH_LOAD), *common], logdir=wd / "logs")
        fleets["python"] = procs.start_argv(
            "watch-python", [sys.executable, "-m", "tools.bench.watch_load", *common], logdir=wd / "logs"
        )
        for proc in fleets.values():
            if proc.wait_first_line(120) != "ready":
                raise procs.BenchError(f"{proc.name} did not list: {proc.first_line!r}\n{proc.log_tail()}")
        sent = asyncio.run(_rename(socket, job_id, p["changes"], p["rate"]))
        results = {lang: _summary(proc.receive(p["timeout"] + 60), sent) for lang, proc in fleets.items()}
    finally:
        for proc in fleets.values():
            proc.stop()
        daemon.stop()
        emu.stop()

    py = results["python"]
    span = (sent[-1] - sent[0]) / 1000
    achieved = (len(sent) - 1) / span if span > 0 else float("inf")
    for lang, r in results.items():
        complete = r["missing"] == 0 and r["dupes"] == 0
        ratio = r["p50_s"] / py["p50_s"] if py["p50_s"] else None
        ctx.report.add(
            Row(
                TITLE,
                f"watchJobs delivery to {r['watchers']} {'Node' if lang == 'node' else 'Python'} watchers",
                f"p50 {fmt_ms(r['p50_s'])} · p99 {fmt_ms(r['p99_s'])} · all {r['delivered']} in "
                f"{r['all_delivered_s']:.2f} s",
                baseline="" if lang == "python" else f"Python p50 {fmt_ms(py['p50_s'])} · p99 {fmt_ms(py['p99_s'])}",
                ratio=None if lang == "python" else ratio,
                target="every change to every watcher once",
                status=PASS if complete else FAIL,
                note=f"missing {r['missing']}, twice {r['dupes']}, max {fmt_ms(r['max_s'])}; "
                f"renames sent at {achieved:.0f}/s",
                data={"fleet": lang, **r, "changes": p["changes"], "rate": p["rate"], "achieved_rate": achieved},
            )
        )
    ctx.report.note(
        f"watchers: {p['watchers']} Node watchJobs streams (one AihubdClient) and {p['watchers']} Python "
        f"AsyncClient.watch_jobs streams (one client) at once; {p['changes']} renames paced at {p['rate']:g}/s "
        "(one writer, each a Hub round trip: it may fall short of that pace); latency from sending each rename "
        "to each watcher receiving it."
    )
