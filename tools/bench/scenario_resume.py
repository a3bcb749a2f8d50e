"""6. WatchJobs resume: a watcher sees every store revision exactly once across a daemon kill -9.

The daemon adopts J jobs; writers rename them (SetJobName, one store revision each) at a paced
R changes/s. A watcher (``AsyncClient.watch_jobs``, as an application would use it) lists, then
follows. After ``before`` seconds the daemon is killed with SIGKILL and started again on the same
state dir and socket, while the writers keep going (their calls fail during the outage and are
counted); ``after`` seconds later the writers stop. The store's final revision is read with a
fresh WatchJobs (its SNAPSHOT_END), and the watcher must have seen every revision from its
snapshot to that one exactly once, without listing again.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_client import AihubdError, AsyncClient, DaemonUnavailableError
from aihubd_client.resume import ReconnectPolicy

from . import procs
from .common import HUB_RATE, Ctx, aio_stub, gather_limited
from .hubrest import HubRest
from .report import FAIL, INFO, PASS, Row, fmt_ms, fmt_rate

NAME = "resume"
TITLE = "6 resume"
WRITERS = 4


async def _adopt(emu: procs.Emulator, daemon: procs.Daemon, count: int) -> list[str]:
    async with HubRest(emu.base_url, emu.token) as hub:
        model = await hub.create_model()
        job_ids = [await hub.create_link_job([model], name=f"bench-resume-{i}") for i in range(count)]
    channel, stub, _ = aio_stub(daemon.target)
    async with channel:
        await gather_limited(job_ids, lambda j: stub.TrackJob(api.TrackJobRequest(job_id=j), timeout=120))
    return job_ids


class _Watcher:
    """Every event of one resuming watch, with when it arrived."""

    def __init__(self, socket: str) -> None:
        self.client = AsyncClient(socket, reconnect=ReconnectPolicy(window=120))
        self.snapshot_ends: list[int] = []
        self.revisions: list[int] = []
        self.arrived: list[float] = []
        self.progress = asyncio.Condition()

    async def run(self) -> None:
        async for event in self.client.watch_jobs():
            async with self.progress:
                if event.kind == "SNAPSHOT_END":
                    self.snapshot_ends.append(event.revision)
                elif event.kind != "SNAPSHOT":
                    self.revisions.append(event.revision)
                    self.arrived.append(time.monotonic())
                self.progress.notify_all()

    async def arrival_after(self, moment: float, timeout: float) -> bool:
        """Wait until an event arrives after ``moment``."""
        async with self.progress:
            try:
                async with asyncio.timeout(timeout):
                    await self.progress.wait_for(lambda: bool(self.arrived and self.arrived[-1] >= moment))
            except TimeoutError:
                return False
        return True

    async def reach(self, revision: int, timeout: float) -> bool:
        async with self.progress:
            try:
                async with asyncio.timeout(timeout):
                    await self.progress.wait_for(
                        lambda: bool(self.revisions and self.revisions[-1] >= revision)
                        or bool(self.snapshot_ends and self.snapshot_ends[-1] >= revision)
                    )
            except TimeoutError:
                return False
        return True


async def _write(writer: int, jobs: list[Any], rate: float, stop: asyncio.Event, tally: dict[str, int]) -> None:
    """One writer: renames at ``rate``/s, paced on a schedule (a late call is not made up twice)."""
    start = time.monotonic()
    i = 0
    while not stop.is_set():
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing the load, not synchronisation
        job = jobs[i % len(jobs)]
        i += 1
        try:
            await job.set_name(f"bench-resume w{writer} #{i}")  # always a new name: one revision each
            tally["ok"] += 1
        except AihubdError:
            tally["failed"] += 1  # the daemon is down for a moment


async def _latest(socket: str) -> int:
    """The store's current revision. Retried: just after a restart, grpc's shared subchannel can
    still be in its reconnect backoff, and a watch that never connected does not wait."""
    for _ in range(50):
        try:
            async with AsyncClient(socket) as client:
                async for event in client.watch_jobs():
                    if event.kind == "SNAPSHOT_END":
                        return event.revision
        except DaemonUnavailableError:
            await asyncio.sleep(0.1)
    raise procs.BenchError("the restarted daemon never answered a new watch")


async def _measure(ctx: Ctx, wd: Any, emu: procs.Emulator, p: dict[str, Any]) -> dict[str, Any]:
    flags = ctx.daemon_flags({"--hub-rate": HUB_RATE, "--max-poll-interval": "3600"})
    daemon = procs.start_daemon(wd, emu, poll_interval=3600, extra=flags)
    state_dir = daemon.state_dir
    try:
        job_ids = await _adopt(emu, daemon, p["jobs"])
        socket = str(daemon.socket)
        watcher = _Watcher(socket)
        watching = asyncio.create_task(watcher.run())
        if not await watcher.reach(0, 60):
            raise procs.BenchError("the watcher never got its snapshot")
        stop = asyncio.Event()
        tally = {"ok": 0, "failed": 0}
        clients = [AsyncClient(socket) for _ in range(WRITERS)]
        jobs = [[await c.get_job(j) for j in job_ids] for c in clients]  # before the clock starts
        writers = [asyncio.create_task(_write(w, jobs[w], p["rate"] / WRITERS, stop, tally)) for w in range(WRITERS)]
        t0 = time.monotonic()
        await asyncio.sleep(p["before"])  # the load runs for this long: a duration, not a sync point
        daemon.proc.kill()
        killed_at = time.monotonic()
        daemon = await asyncio.to_thread(
            procs.start_daemon, wd, emu, poll_interval=3600, state_dir=state_dir, extra=flags
        )
        ready_at = time.monotonic()
        if not await watcher.arrival_after(ready_at, 60):
            raise procs.BenchError("the watcher never resumed after the restart")
        await asyncio.sleep(p["after"])
        stop.set()
        await asyncio.gather(*writers)
        for c in clients:
            await c.close()
        elapsed = time.monotonic() - t0
        latest = await _latest(socket)
        caught_up = await watcher.reach(latest, 60)
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
        await watcher.client.close()
    finally:
        daemon.stop()
    first = watcher.snapshot_ends[0] if watcher.snapshot_ends else 0
    expected = list(range(first + 1, latest + 1))
    seen = watcher.revisions
    after_restart = [t for t in watcher.arrived if t >= ready_at]
    return {
        "revisions": len(expected),
        "missing": len(set(expected) - set(seen)),
        "twice": len(seen) - len(set(seen)),
        "listings": len(watcher.snapshot_ends),
        "caught_up": caught_up,
        "in_order": seen == sorted(seen),
        "changes_per_s": tally["ok"] / elapsed,
        "failed_writes": tally["failed"],
        "outage_s": ready_at - killed_at,
        "resume_s": (after_restart[0] - ready_at) if after_restart else None,
    }


def run(ctx: Ctx) -> None:
    p = ctx.params(NAME)
    wd = ctx.subdir(NAME)
    emu = procs.start_emulator(wd, manual=True)
    try:
        r = asyncio.run(_measure(ctx, wd, emu, p))
    finally:
        emu.stop()
    exact = r["missing"] == 0 and r["twice"] == 0 and r["listings"] == 1 and r["caught_up"] and r["in_order"]
    ctx.report.add(
        Row(
            TITLE,
            f"WatchJobs resume after kill -9 under {p['rate']:g} changes/s",
            f"{r['revisions']} revisions · {r['missing']} missing · {r['twice']} twice · {r['listings']} listing(s)",
            target="every revision exactly once, one listing",
            status=PASS if exact else FAIL,
            note=f"caught up: {r['caught_up']}; in order: {r['in_order']}",
            data=r,
        )
    )
    resume = fmt_ms(r["resume_s"]) if r["resume_s"] is not None else "—"
    ctx.report.add(
        Row(
            TITLE,
            "changes committed, outage, first event after restart",
            f"{fmt_rate(r['changes_per_s'])} · outage {fmt_ms(r['outage_s'])} · resume {resume}",
            status=INFO,
            note=f"{r['failed_writes']} writes failed while the daemon was down",
            data=r,
        )
    )
