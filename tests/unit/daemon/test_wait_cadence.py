"""News no later than polling: while a client waits, the listing runs with gaps of at most the
wait interval (jitter only shortens them); the x1.5 stretch applies only while nobody waits."""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fake_hub import FakeHub

from aihubd.model import JobState
from aihubd.services.feed import FeedKind, FeedService, WatchFilter
from aihubd.services.jobs import JobService
from aihubd.store.database import Database
from aihubd.store.events import EventLog
from aihubd.store.jobs import JobStore
from aihubd.tracking.notifier import Notifier
from aihubd.tracking.poller import Poller
from aihubd.tracking.schedule import Cadence, Schedule

REAL_HUB = Cadence(base=5, cap=60, growth=1.5, jitter=0.2, wait=10)


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


class Rig:
    def __init__(self, db: Database, jobs: int) -> None:
        self.hub, self.clock = FakeHub(), FakeClock()
        self.store = JobStore(db)
        self.schedule = Schedule(REAL_HUB, random.Random(7))
        self.poller = Poller(self.hub, self.store, Notifier(), self.schedule, page_size=50, clock=self.clock)
        self.count = jobs
        self.ids: list[str] = []

    async def start(self) -> None:
        self.ids = [self.hub.add_job(JobState.LINKING_MODELS).job_id for _ in range(self.count)]
        await self.store.save([await self.hub.get_job(i) for i in self.ids])
        for i in self.ids:
            self.poller.follow(self.store.cached(i), soon=False)  # type: ignore[arg-type]
        self.hub.calls.clear()

    async def listing_times(self, cycles: int) -> tuple[list[float], list[int]]:
        """Run the poller's timer for ``cycles`` cycles, as its loop does (sleep to the next due
        time); returns when each cycle listed and how many listing requests it made."""
        times: list[float] = []
        requests: list[int] = []
        for _ in range(cycles):
            next_due = self.schedule.next_due()
            assert next_due is not None
            self.clock.now = max(self.clock.now, next_due)
            before = self.hub.calls.get("list_summaries", 0)
            await self.poller._cycle(everything=False, skip_if_satisfied=False)
            made = self.hub.calls.get("list_summaries", 0) - before
            if made:
                times.append(self.clock.now)
                requests.append(made)
        return times, requests


def _gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in itertools.pairwise(times)]


async def test_idle_listing_stretches_to_the_cap(db: Database) -> None:
    rig = Rig(db, 1)
    await rig.start()
    times, _ = await rig.listing_times(12)
    gaps = _gaps(times)
    assert max(gaps) > 40  # stretched x1.5 per quiet cycle towards 60 s
    assert all(g <= 60 * 1.2 + 1e-9 for g in gaps)


async def test_while_a_client_waits_gaps_stay_within_the_wait_interval(db: Database) -> None:
    rig = Rig(db, 1)
    await rig.start()
    await rig.listing_times(10)  # idle first: the interval has stretched far past 10 s
    assert rig.schedule.interval(rig.ids[0]) > 10
    start = rig.clock.now
    with rig.poller.waiting(rig.ids):
        times, _ = await rig.listing_times(40)
    assert times[0] - start <= 10.0  # the next look was pulled in from up to 72 s away
    gaps = _gaps(times)
    assert len(gaps) == 39
    assert all(8.0 - 1e-9 <= g <= 10.0 + 1e-9 for g in gaps)  # jitter only shortens: 8-10 s
    mean = sum(gaps) / len(gaps)
    assert 10 / mean <= 1.25  # at most 1.25x the requests of qai_hub's wait() polling every 10 s
    # Nobody waits any more: the stretch applies again.
    after, _ = await rig.listing_times(6)
    assert max(_gaps(after)) > 10


async def test_while_a_client_waits_a_state_change_does_not_shorten_the_next_gaps(db: Database) -> None:
    """After a change the idle cadence looks again after ``base`` (5 s, then 7.5 s); while someone
    waits that would exceed the official wait()'s requests, so the gaps stay 8-10 s throughout."""
    rig = Rig(db, 1)
    await rig.start()
    job = rig.ids[0]
    states = itertools.cycle([JobState.OPTIMIZING_MODEL, JobState.LINKING_MODELS])
    times: list[float] = []
    with rig.poller.waiting(rig.ids):
        for _ in range(8):  # a change every fourth look: each one would restart the 5 s interval
            rig.hub.set_state(job, next(states))
            seen, _ = await rig.listing_times(4)
            times.extend(seen)
    assert rig.hub.calls.get("get_job", 0) >= 8  # every change was seen (and read in full)
    gaps = _gaps(times)
    assert len(gaps) == 31
    assert all(8.0 - 1e-9 <= g <= 10.0 + 1e-9 for g in gaps), sorted(gaps)[:3]
    assert 10 / (sum(gaps) / len(gaps)) <= 1.25


async def test_a_watch_of_every_job_counts_as_waiting_on_each(db: Database) -> None:
    rig = Rig(db, 3)
    await rig.start()
    await rig.listing_times(10)
    with rig.poller.waiting(None):
        times, _ = await rig.listing_times(20)
    assert all(g <= 10.0 + 1e-9 for g in _gaps(times))


async def test_a_new_waiter_nudges_a_poll(db: Database) -> None:
    rig = Rig(db, 1)
    await rig.start()
    await rig.listing_times(3)
    asked = rig.poller._wanted
    with rig.poller.waiting(rig.ids):
        assert rig.poller._wanted > asked and rig.poller._wake.is_set()


async def test_requests_per_cycle_stay_one_listing_per_50_jobs_while_waiting(db: Database) -> None:
    rig = Rig(db, 120)
    await rig.start()
    with rig.poller.waiting(rig.ids[:1]):  # one waiter among 120 jobs
        times, requests = await rig.listing_times(15)
    assert requests and set(requests) == {3}  # ceil(120/50) pages per cycle, never one per job
    assert all(g <= 10.0 + 1e-9 for g in _gaps(times))
    assert rig.hub.calls.get("get_job", 0) == 0  # nothing changed: no per-job reads


async def test_waits_are_counted_so_the_last_one_leaving_restores_idle(db: Database) -> None:
    rig = Rig(db, 1)
    await rig.start()
    job = rig.ids[0]
    with rig.poller.waiting([job]):
        with rig.poller.waiting([job]):
            assert rig.schedule.waited_on(job)
        assert rig.schedule.waited_on(job)  # one of two waits left: still waited on
    assert not rig.schedule.waited_on(job) and not rig.schedule.waiting


async def test_wait_job_and_watch_jobs_streams_are_waiters_while_open(db: Database) -> None:
    rig = Rig(db, 2)
    await rig.start()
    jobs = JobService(rig.hub, rig.store, Notifier(), rig.poller, keepalive=3600)
    feed = FeedService(JobStore(db, EventLog(db)), bookmark_interval=3600, poller=rig.poller)
    first, second = rig.ids

    waits = jobs.watch(first)
    assert (await anext(waits)).job_id == first
    assert rig.schedule.waited_on(first) and not rig.schedule.waited_on(second)
    await waits.aclose()
    assert not rig.schedule.waiting

    by_id = feed.watch(WatchFilter(job_ids=frozenset({second})))
    while (await anext(by_id)).kind != FeedKind.SNAPSHOT_END:
        pass
    assert rig.schedule.waited_on(second) and not rig.schedule.waited_on(first)
    await by_id.aclose()
    everything = feed.watch(WatchFilter())
    while (await anext(everything)).kind != FeedKind.SNAPSHOT_END:
        pass
    assert rig.schedule.waited_on(first) and rig.schedule.waited_on(second)
    await everything.aclose()
    assert not rig.schedule.waiting


async def test_a_job_leaving_the_listing_is_read_in_the_same_cycle_even_when_not_due(db: Database) -> None:
    """A finished job leaves the in-flight listing; a cycle another job's due time started must
    read it at once rather than when its own due time comes (up to a wait gap later)."""
    rig = Rig(db, 2)
    await rig.start()
    finished, other = rig.ids
    await rig.poller.poll_now()  # both listed once
    rig.hub.set_state(finished, JobState.DONE)
    rig.schedule._entries[finished].due = rig.clock.now + 3600  # not due for an hour
    rig.schedule._entries[other].due = rig.clock.now  # the cycle is for the other job
    rig.hub.calls.clear()
    await rig.poller._cycle(everything=False, skip_if_satisfied=False)
    assert rig.store.cached(finished).state == JobState.DONE  # type: ignore[union-attr]
    assert rig.hub.calls == {"list_summaries": 1, "get_job": 1}  # one listing, one read of the finished job
