"""The poller and the Hub adapter under faults (issue 11, items 1, 2 and 12): a failed store write
loses no state change; a Hub answering HTML, garbage, a redirect loop or a huge body is Hub
trouble (backoff, stale, health, one log line each way, UNAVAILABLE), never success or a crash;
API bodies are capped and read incrementally.

Against the emulator, directly or through the project's fault-injecting proxy (``hub_proxy``),
with fake clocks for everything timed."""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
import tracemalloc
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from hub_proxy import Fault, HubProxy

from aihubd.emulator import EmulatorConfig, HubEmulator
from aihubd.errors import HubUnavailable
from aihubd.hub.budget import BudgetConfig, RequestBudget
from aihubd.hub.client import MAX_API_BODY, MAX_REDIRECTS, AiohttpHubClient
from aihubd.hub.credentials import HubCredentials
from aihubd.hub.retry import RetryPolicy
from aihubd.model import JobState
from aihubd.rpc.errors import status_for
from aihubd.rpc.watch_servicer import event_to_proto
from aihubd.services.daemon_status import DaemonStatusService
from aihubd.services.feed import FeedEvent, FeedKind
from aihubd.services.jobs import JobService
from aihubd.store.database import Database
from aihubd.store.jobs import JobStore
from aihubd.tracking.notifier import Notifier
from aihubd.tracking.poller import Poller
from aihubd.tracking.schedule import Cadence, Schedule

TOKEN = "poller-faults-token"
DEVICE = "Snapdragon 8 Elite QRD"
WAIT = 30.0  # the bound of any condition wait


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@dataclass
class Rig:
    emulator: HubEmulator
    proxy: HubProxy
    hub: AiohttpHubClient
    budget: RequestBudget
    clock: FakeClock
    db: Database
    store: JobStore
    poller: Poller
    jobs: JobService


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    emulator = HubEmulator(EmulatorConfig(manual=True, state_dir=tmp_path / "emu"))
    await emulator.start()
    proxy = HubProxy(emulator.base_url)
    base = await proxy.start()
    clock = FakeClock()
    budget = RequestBudget(BudgetConfig(rate=1000, burst=1000), clock=clock, sleep=clock.sleep)
    hub = AiohttpHubClient(HubCredentials(base, base, TOKEN), retry=RetryPolicy(attempts=1), budget=budget)
    db = await Database.open(tmp_path / "aihubd.db")
    await db.conn.execute("PRAGMA busy_timeout=50")  # the daemon waits 5 s; the tests' locks outlast any wait
    store = JobStore(db)
    notifier = Notifier()
    schedule = Schedule(Cadence(base=5, cap=60), random.Random(7))
    poller = Poller(hub, store, notifier, schedule, clock=clock, sleep=clock.sleep)
    jobs = JobService(hub, store, notifier, poller)
    try:
        yield Rig(emulator, proxy, hub, budget, clock, db, store, poller, jobs)
    finally:
        await hub.close()
        await db.close()
        await proxy.stop()
        await emulator.stop()


async def _submitted(rig: Rig, tmp_path: Path) -> str:
    """A link job on the emulator (CREATED), tracked by the daemon and listed once by the poller."""
    dlc = tmp_path / "a.dlc"
    dlc.write_bytes(b"model" * 200)
    model_id = await rig.hub.upload_model(dlc, "a.dlc")
    (device,) = await rig.hub.select_devices(DEVICE)
    job_id = await rig.hub.create_link_job([model_id], device, "faults", "")
    job = await rig.jobs.track(job_id)
    assert job.state == JobState.CREATED
    await rig.poller.poll_now()  # the poller has seen the listing show it CREATED
    assert not rig.jobs.stale(job)
    return job_id


async def _until(condition: object, what: str) -> None:
    """Wait (bounded) for ``condition()`` to hold, yielding to the event loop in between."""
    async with asyncio.timeout(WAIT):
        while not condition():  # type: ignore[operator]
            await asyncio.sleep(0.01)
    assert condition(), what  # type: ignore[operator]


def _hold_write_lock(db_path: Path) -> sqlite3.Connection:
    """Another process's writer: holds the database's write lock until rolled back."""
    other = sqlite3.connect(db_path, timeout=0, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


# -- item 1: a failed store write loses no state change ----------------------------------------


async def test_a_failed_store_write_loses_no_state_change(
    rig: Rig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The emulator moves the job CREATED -> LINKING_MODELS while another connection holds the
    SQLite write lock longer than the daemon's busy timeout: RefreshJobs commits nothing, the job
    reads as stale; once the lock is gone, RefreshJobs fetches and commits the change."""
    job_id = await _submitted(rig, tmp_path)
    await rig.emulator.advance(job_id)
    caplog.set_level(logging.INFO, logger="aihubd")
    other = _hold_write_lock(rig.db.path)
    try:
        for _ in range(2):
            result = await rig.jobs.refresh()  # RefreshJobs: the cycle's save cannot commit
            assert result.changed == 0
            job = rig.store.cached(job_id)
            assert job is not None and job.state == JobState.CREATED and rig.jobs.stale(job)
        assert rig.poller.backoff_remaining() > 0
    finally:
        other.rollback()
        other.close()
    result = await rig.jobs.refresh()
    assert result.changed == 1
    job = rig.store.cached(job_id)
    assert job is not None and job.state == JobState.LINKING_MODELS and not rig.jobs.stale(job)
    assert (await rig.store.get(job_id)).state == JobState.LINKING_MODELS  # type: ignore[union-attr]
    assert rig.poller.backoff_remaining() == 0
    paused = [r for r in caplog.records if "polling paused" in r.getMessage()]
    assert len(paused) == 1 and "database" in paused[0].getMessage() and paused[0].exc_info is None
    assert len([r for r in caplog.records if "polling resumed" in r.getMessage()]) == 1


async def test_the_scheduled_cycle_commits_a_change_a_failed_write_missed(rig: Rig, tmp_path: Path) -> None:
    """The poll loop itself: failing cycles back off on the clock; the first cycle after the
    lock is released fetches and commits the change the failed one could not."""
    job_id = await _submitted(rig, tmp_path)
    await rig.emulator.advance(job_id)
    rig.clock.now += 3600  # the job is due
    other = _hold_write_lock(rig.db.path)
    loop = asyncio.create_task(rig.poller.run())
    try:
        started = rig.poller.started_cycles
        await _until(lambda: rig.poller.started_cycles >= started + 3, "three cycles failed")
        assert rig.poller.hub_trouble and rig.store.cached(job_id).state == JobState.CREATED  # type: ignore[union-attr]
        assert rig.clock.slept[:2] and 2 <= rig.clock.slept[0] <= 2.5 and 4 <= rig.clock.slept[1] <= 5
        other.rollback()
        await _until(lambda: not rig.poller.hub_trouble, "a cycle succeeded")
        job = rig.store.cached(job_id)
        assert job is not None and job.state == JobState.LINKING_MODELS and not rig.jobs.stale(job)
    finally:
        other.close()
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop


# -- item 2: an unusable Hub answer is Hub trouble -----------------------------------------------


@pytest.mark.parametrize("kind", ["html", "garbage", "redirect-loop", "bad-redirect", "cut", "teapot"])
async def test_an_unusable_answer_is_hub_trouble_never_internal(rig: Rig, tmp_path: Path, kind: str) -> None:
    job_id = await _submitted(rig, tmp_path)
    path = f"/api/v1/jobs/{job_id}/"
    rig.proxy.faults[path] = Fault(kind)
    rig.proxy.seen.clear()
    granted = rig.budget.granted
    with pytest.raises(HubUnavailable) as info:
        await rig.hub.get_job(job_id)
    assert status_for(info.value) == grpc.StatusCode.UNAVAILABLE
    assert rig.hub.health is not None and not rig.hub.health.reachable and rig.hub.health.error == str(info.value)
    hops = rig.proxy.seen[path]
    if kind == "redirect-loop":
        assert hops == 1 + MAX_REDIRECTS and "redirected" in str(info.value)
    else:
        assert hops == 1
    assert rig.budget.granted - granted == hops  # every hop took a token from the budget


async def test_a_misbehaving_hub_pauses_polling_with_backoff_stale_health_and_two_log_lines(
    rig: Rig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = await _submitted(rig, tmp_path)
    status = DaemonStatusService(rig.hub, rig.jobs, lambda: 0)
    caplog.set_level(logging.INFO, logger="aihubd")
    rig.proxy.faults["/api/v1/job_summaries/"] = Fault("html")
    rig.proxy.faults[f"/api/v1/jobs/{job_id}/"] = Fault("garbage")
    rig.clock.now += 3600  # the job is due
    loop = asyncio.create_task(rig.poller.run())
    try:
        started = rig.poller.started_cycles
        await _until(lambda: rig.poller.started_cycles >= started + 5, "five cycles failed")
        job = rig.store.cached(job_id)
        assert job is not None and rig.jobs.stale(job)
        info = await status.status()
        assert not info.hub_reachable and "not protobuf" in info.hub_error
        assert event_to_proto(FeedEvent(FeedKind.CHANGED, 1, job), "", "s", rig.jobs.stale).job.stale  # the feed
        # Backoff, on the clock: 2, 4, 8, 16 s (+ up to 25 %) between the failing cycles, one
        # listing each, not the full budget.
        waits = rig.clock.slept[:4]
        assert len(waits) == 4, (
            f"the loop backed off {len(waits)} times in {rig.poller.started_cycles - started} cycles"
        )
        assert all(b <= w <= b * 1.25 for w, b in zip(waits, (2, 4, 8, 16), strict=True)), waits
        listings = rig.proxy.requests_to("/api/v1/job_summaries/")
        assert listings <= rig.poller.started_cycles - started + 1
        rig.proxy.faults.clear()
        await rig.emulator.advance(job_id)
        await _until(lambda: not rig.poller.hub_trouble, "a cycle succeeded")
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
    job = rig.store.cached(job_id)
    assert job is not None and job.state == JobState.LINKING_MODELS and not rig.jobs.stale(job)
    assert (await status.status()).hub_reachable
    assert not event_to_proto(FeedEvent(FeedKind.CHANGED, 2, job), "", "s", rig.jobs.stale).job.stale
    await status.close()
    messages = [r for r in caplog.records if r.levelno >= logging.INFO and r.name.startswith("aihubd.tracking")]
    paused = [r for r in messages if "polling paused by Hub trouble" in r.getMessage()]
    resumed = [r for r in messages if "polling resumed" in r.getMessage()]
    assert len(paused) == 1 and len(resumed) == 1, [r.getMessage() for r in messages]
    assert all(r.exc_info is None for r in caplog.records)  # no traceback, not once
    assert [r for r in messages if r.levelno >= logging.WARNING] == paused


# -- item 12: API bodies are capped and read incrementally ---------------------------------------


@pytest.mark.parametrize("declare_length", [False, True])
async def test_a_huge_api_answer_is_refused_with_bounded_memory(rig: Rig, tmp_path: Path, declare_length: bool) -> None:
    job_id = await _submitted(rig, tmp_path)
    size = 96 * 2**20
    rig.proxy.faults[f"/api/v1/jobs/{job_id}/"] = Fault("huge", size=size, declare_length=declare_length)
    tracemalloc.start()
    try:
        with pytest.raises(HubUnavailable) as info:
            await rig.hub.get_job(job_id)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * MAX_API_BODY, f"{peak / 2**20:.1f} MiB held while reading a {size >> 20} MiB answer"
    assert "larger than 8 MiB" in str(info.value) and status_for(info.value) == grpc.StatusCode.UNAVAILABLE
    assert rig.proxy.huge_sent < size  # the daemon hung up instead of reading it all


async def test_a_nudge_does_not_cut_a_backoff_short(rig: Rig, tmp_path: Path) -> None:
    """A RefreshJobs whose cycle failed starts a backoff; a waiter's nudge then waits it out
    before the loop's next cycle, instead of asking the troubled Hub at once."""
    await _submitted(rig, tmp_path)
    loop = asyncio.create_task(rig.poller.run())
    try:
        await _until(lambda: rig.poller.started_cycles >= 2, "the loop's first look (nothing due)")
        rig.proxy.faults["/api/v1/job_summaries/"] = Fault("html")
        await rig.jobs.refresh()  # fails: trouble, a backoff of 2-2.5 s on the clock
        assert rig.poller.hub_trouble and rig.poller.backoff_remaining() >= 2
        listings = rig.proxy.requests_to("/api/v1/job_summaries/")
        started = rig.poller.started_cycles
        rig.poller.nudge()
        await _until(lambda: rig.poller.started_cycles > started, "the nudged cycle")
        assert rig.clock.slept and rig.clock.slept[0] >= 2, rig.clock.slept  # the backoff came first
        assert rig.proxy.requests_to("/api/v1/job_summaries/") <= listings + 1
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
