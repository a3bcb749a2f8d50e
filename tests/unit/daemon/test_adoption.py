"""--hub-scope mine: every link job of the user is followed, wherever it was submitted; one
that started and finished between two cycles appears too; an untracked job stays hidden."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fake_hub import FakeHub

from aihubd.model import JobState
from aihubd.services.feed import FeedEvent, FeedKind, FeedService, WatchFilter
from aihubd.services.jobs import JobService
from aihubd.store.database import Database
from aihubd.store.jobs import JobStore
from aihubd.tracking.notifier import Notifier
from aihubd.tracking.poller import Poller
from aihubd.tracking.schedule import Cadence, Schedule


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "aihubd.db")
    yield database
    await database.close()


def _poller(
    db: Database, hub: FakeHub, clock: FakeClock, *, adopt: bool = True, since: datetime | None = None
) -> Poller:
    started = since or datetime.now(UTC) - timedelta(seconds=1)
    return Poller(
        hub,
        JobStore(db),
        Notifier(),
        Schedule(Cadence(base=5, cap=60), random.Random(3)),
        adopt=adopt,
        clock=clock,
        wall_clock=lambda: started,
    )


async def _events(store: JobStore) -> list[FeedEvent]:
    """Every change the store recorded, from the start of its history."""
    events: list[FeedEvent] = []
    current, _ = await store.events.revisions()
    if current == 0:
        return events
    async for event in FeedService(store, bookmark_interval=3600).watch(WatchFilter(), since=0):
        events.append(event)
        if event.revision >= current:
            break
    return events


async def test_a_job_submitted_elsewhere_appears_after_one_cycle(db: Database) -> None:
    hub, clock = FakeHub(), FakeClock()
    poller = _poller(db, hub, clock)
    elsewhere = hub.add_job(JobState.LINKING_MODELS, name="from qai-hub").job_id
    await poller._cycle(everything=False, skip_if_satisfied=False)  # one timer cycle, nothing tracked yet
    store = poller._store
    assert (await store.get(elsewhere)) is not None
    events = await _events(store)
    assert [(e.kind, e.job.job_id) for e in events if e.job] == [(FeedKind.APPEARED, elsewhere)]
    assert hub.calls == {"list_summaries": 2, "get_job": 1}  # in-flight listing, recent listing, one read
    # From then on it is followed like any other job: listed, not read, while it sits.
    hub.calls.clear()
    clock.now += 61
    await poller._cycle(everything=False, skip_if_satisfied=False)
    assert hub.calls.get("get_job", 0) == 0
    hub.set_state(elsewhere, JobState.DONE)
    clock.now += 61
    await poller._cycle(everything=False, skip_if_satisfied=False)
    assert store.cached(elsewhere).state == JobState.DONE  # type: ignore[union-attr]


async def test_scope_tracked_keeps_the_old_behaviour(db: Database) -> None:
    hub, clock = FakeHub(), FakeClock()
    poller = _poller(db, hub, clock, adopt=False)
    elsewhere = hub.add_job(JobState.LINKING_MODELS).job_id
    await poller.poll_now()
    assert (await poller._store.get(elsewhere)) is None
    assert sum(hub.calls.values()) == 0  # nothing tracked: nothing asked


async def test_a_job_that_started_and_finished_between_cycles_still_appears(db: Database) -> None:
    hub, clock = FakeHub(), FakeClock()
    poller = _poller(db, hub, clock)
    quick = hub.add_job(JobState.DONE, name="quick").job_id  # never in flight at a cycle
    await poller._cycle(everything=False, skip_if_satisfied=False)
    assert poller._store.cached(quick) is not None and poller._store.cached(quick).terminal  # type: ignore[union-attr]
    # The listing of recent jobs runs at most once a minute.
    hub.calls.clear()
    for _ in range(5):
        await poller.poll_now()
        clock.now += 10
    assert hub.calls["list_summaries"] == 5  # the in-flight listing only
    clock.now += 15
    await poller.poll_now()
    assert hub.calls["list_summaries"] == 7  # a minute passed: in-flight + recent


async def test_finished_jobs_from_before_the_daemon_started_are_not_imported(db: Database) -> None:
    hub, clock = FakeHub(), FakeClock()
    old = hub.add_job(JobState.FAILED).job_id
    poller = _poller(db, hub, clock, since=datetime.now(UTC) + timedelta(hours=1))
    await poller.poll_now()
    assert (await poller._store.get(old)) is None


async def test_untracking_hides_a_job_for_good_until_tracked_again(db: Database, tmp_path: Path) -> None:
    hub, clock = FakeHub(), FakeClock()
    poller = _poller(db, hub, clock)
    elsewhere = hub.add_job(JobState.LINKING_MODELS).job_id
    await poller.poll_now()
    jobs = JobService(hub, poller._store, Notifier(), poller, keepalive=3600)
    assert await jobs.untrack(elsewhere)
    await poller.poll_now()
    assert (await poller._store.get(elsewhere)) is None  # the listing still shows it: not re-adopted
    # A new daemon on the same database (restart): still hidden.
    await db.close()
    reopened = await Database.open(tmp_path / "aihubd.db")
    try:
        again = _poller(reopened, hub, clock)
        await again.poll_now()
        assert (await again._store.get(elsewhere)) is None
        # An explicit track lifts the tombstone; a later untrack puts it back.
        tracker = JobService(hub, again._store, Notifier(), again, keepalive=3600)
        await tracker.track(elsewhere)
        assert await again._store.untracked_among([elsewhere]) == set()
        await tracker.untrack(elsewhere)
        assert await again._store.untracked_among([elsewhere]) == {elsewhere}
    finally:
        await reopened.close()
