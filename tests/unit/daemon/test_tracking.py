"""Store, poller and waiters working together over an in-memory Hub (no HTTP, no timers)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fake_hub import FakeHub

from aihubd.model import JobState
from aihubd.services.jobs import JobService, ShuttingDown
from aihubd.services.submissions import ModelSource, Submitter
from aihubd.services.uploads import UploadService
from aihubd.store.artifacts import ArtifactIndex
from aihubd.store.database import Database
from aihubd.store.jobs import JobStore
from aihubd.store.submissions import SubmissionJournal
from aihubd.tracking.notifier import Notifier
from aihubd.tracking.poller import Poller
from aihubd.tracking.schedule import Cadence, Schedule


class World:
    def __init__(self, db: Database, hub: FakeHub) -> None:
        self.db, self.hub = db, hub
        self.store = JobStore(db)
        self.notifier = Notifier()
        self.poller = Poller(hub, self.store, self.notifier, Schedule(Cadence(base=3600, cap=3600)))
        self.jobs = JobService(hub, self.store, self.notifier, self.poller, keepalive=3600)
        self.submitter = Submitter(
            hub, self.store, self.poller, UploadService(hub, ArtifactIndex(db)), SubmissionJournal(db)
        )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    db = await Database.open(tmp_path / "aihubd.db")
    yield World(db, FakeHub())
    await db.close()


async def _collect(jobs: JobService, job_id: str, first: asyncio.Event, out: list[JobState]) -> None:
    async for job in jobs.watch(job_id):
        out.append(job.state)
        first.set()


async def test_waiters_see_every_change_and_cost_no_hub_calls(world: World, tmp_path: Path) -> None:
    dlc = tmp_path / "a.dlc"
    dlc.write_bytes(b"x")
    job = await world.submitter.submit([ModelSource(path=str(dlc))], "Snapdragon 8 Elite QRD")
    gets_after_submit = world.hub.calls["get_job"]

    seen: list[list[JobState]] = [[] for _ in range(5)]
    firsts = [asyncio.Event() for _ in seen]
    tasks = [asyncio.create_task(_collect(world.jobs, job.job_id, f, s)) for f, s in zip(firsts, seen, strict=True)]
    await asyncio.gather(*(f.wait() for f in firsts))
    assert world.hub.calls["get_job"] == gets_after_submit  # opening waits asks the Hub nothing

    for state in (JobState.LINKING_MODELS, JobState.DONE):
        world.hub.set_state(job.job_id, state)
        result = await world.poller.poll_now()
        assert (result.polled, result.changed) == (1, 1)
    await asyncio.wait_for(asyncio.gather(*tasks), 10)

    assert all(s == [JobState.CREATED, JobState.LINKING_MODELS, JobState.DONE] for s in seen)
    assert world.hub.calls["get_job"] == gets_after_submit + 2  # one per cycle, not per waiter
    assert (await world.poller.poll_now()).polled == 0  # terminal jobs cost nothing


async def test_changes_are_durable_and_resume_after_restart(world: World, tmp_path: Path) -> None:
    running = world.hub.add_job(JobState.LINKING_MODELS)
    done = world.hub.add_job(JobState.DONE)
    await world.jobs.get(running.job_id)
    await world.jobs.get(done.job_id)
    world.hub.set_state(running.job_id, JobState.FAILED, "bad input")
    await world.poller.poll_now()
    history = await world.store.history(running.job_id)
    assert [(s, m) for s, m, _ in history] == [(JobState.LINKING_MODELS, ""), (JobState.FAILED, "bad input")]

    another = world.hub.add_job(JobState.CREATED)
    await world.jobs.get(another.job_id)
    await world.db.close()

    db = await Database.open(tmp_path / "aihubd.db")  # a restarted daemon
    try:
        restarted = World(db, world.hub)
        assert await restarted.store.load_in_flight() == 1
        world.hub.set_state(another.job_id, JobState.DONE)  # finished while the daemon was down
        assert (await restarted.poller.poll_now()).changed == 1
        assert (await restarted.jobs.get(another.job_id)).state == JobState.DONE
        assert (await restarted.jobs.get(running.job_id)).message == "bad input"
        assert await db.integrity_ok()
    finally:
        await db.close()
        world.db = await Database.open(tmp_path / "aihubd.db")


async def test_nudge_is_satisfied_by_any_later_cycle(world: World) -> None:
    runner = asyncio.create_task(world.poller.run())
    try:
        while world.poller.started_cycles == 0:  # the run loop's start-up cycle
            await asyncio.sleep(0)
        job = world.hub.add_job()
        await world.jobs.get(job.job_id)  # nudges: a cycle is wanted
        await world.poller.poll_now()
        calls = world.hub.calls["get_job"]
        for _ in range(20):  # let the run loop act on the (already satisfied) nudge
            await asyncio.sleep(0)
        assert world.hub.calls["get_job"] == calls
    finally:
        runner.cancel()


async def test_shutdown_ends_waits_with_shutting_down(world: World) -> None:
    job = world.hub.add_job()
    first = asyncio.Event()
    states: list[JobState] = []
    task = asyncio.create_task(_collect(world.jobs, job.job_id, first, states))
    await first.wait()
    world.notifier.close()
    with pytest.raises(ShuttingDown):
        await asyncio.wait_for(task, 10)


async def test_keepalive_rereads_a_change_whose_ring_was_missed(world: World) -> None:
    """A waiter re-reads the store every ``keepalive`` seconds, so a change stored without a ring
    (there is none today; this is the safety net) still reaches it."""
    jobs = JobService(world.hub, world.store, world.notifier, world.poller, keepalive=0.01)
    job = await jobs.get(world.hub.add_job().job_id)
    first = asyncio.Event()
    states: list[JobState] = []
    task = asyncio.create_task(_collect(jobs, job.job_id, first, states))
    await first.wait()
    await world.store.save([dataclasses.replace(job, state=JobState.FAILED)])  # stored, never rung
    await asyncio.wait_for(task, 10)
    assert states == [JobState.CREATED, JobState.FAILED]
