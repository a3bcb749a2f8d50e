"""Job state is monotonic in the daemon (issue 11, item 19): a backwards report from the Hub is
logged once and ignored; waiters never see a job go back."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fake_hub import FakeHub

from aihubd.model import JobState
from aihubd.store.database import Database
from aihubd.store.jobs import JobStore
from aihubd.tracking.notifier import Notifier
from aihubd.tracking.poller import Poller
from aihubd.tracking.schedule import Cadence, Schedule


@pytest.fixture
async def tracked(tmp_path: Path) -> AsyncIterator[tuple[FakeHub, JobStore, Poller, Database]]:
    db = await Database.open(tmp_path / "aihubd.db")
    hub = FakeHub()
    store = JobStore(db)
    poller = Poller(hub, store, Notifier(), Schedule(Cadence(base=3600, cap=3600)))
    yield hub, store, poller, db
    await db.close()


async def test_a_backwards_report_is_logged_once_and_ignored(
    tracked: tuple[FakeHub, JobStore, Poller, Database], caplog: pytest.LogCaptureFixture
) -> None:
    hub, store, poller, db = tracked
    job = hub.add_job(JobState.CREATED)
    await store.save([await hub.get_job(job.job_id)])
    poller.follow(job, soon=True)
    hub.set_state(job.job_id, JobState.LINKING_MODELS)
    await poller.poll_now()
    assert (await store.get(job.job_id)).state == JobState.LINKING_MODELS  # type: ignore[union-attr]

    caplog.set_level(logging.WARNING, logger="aihubd")
    for _ in range(2):  # the Hub says CREATED again, twice
        hub.set_state(job.job_id, JobState.CREATED)
        await poller.poll_now()
        assert store.cached(job.job_id).state == JobState.LINKING_MODELS  # type: ignore[union-attr]
    backwards = [r for r in caplog.records if "backwards" in r.getMessage()]
    assert len(backwards) == 1 and job.job_id in backwards[0].getMessage()
    assert [state for state, _m, _t in await store.history(job.job_id)] == [
        JobState.CREATED,
        JobState.LINKING_MODELS,
    ]
    async with db.conn.execute("SELECT state FROM jobs WHERE job_id = ?", (job.job_id,)) as cur:
        assert (await cur.fetchone())[0] == int(JobState.LINKING_MODELS)  # type: ignore[index]

    hub.set_state(job.job_id, JobState.DONE)  # forward still moves
    await poller.poll_now()
    assert store.cached(job.job_id).state == JobState.DONE  # type: ignore[union-attr]


async def test_a_finished_job_of_an_earlier_life_does_not_go_back(tmp_path: Path) -> None:
    hub = FakeHub()
    job = hub.add_job(JobState.CREATED)
    hub.set_state(job.job_id, JobState.DONE)
    db = await Database.open(tmp_path / "aihubd.db")
    try:
        await JobStore(db).save([await hub.get_job(job.job_id)])
        store = JobStore(db)  # a restart: the finished job is on disk, not in memory
        hub.set_state(job.job_id, JobState.LINKING_MODELS)
        await store.save([await hub.get_job(job.job_id)])  # e.g. TrackJob of that id again
        assert (await store.get(job.job_id)).state == JobState.DONE  # type: ignore[union-attr]
    finally:
        await db.close()
