"""The polling engine: batched listing, adaptive jittered schedule, one budget for all traffic."""

from __future__ import annotations

import dataclasses
import random
import statistics
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fake_hub import FakeHub

from aihubd.errors import HubError
from aihubd.hub.budget import BudgetConfig, RequestBudget
from aihubd.model import JobState
from aihubd.store.database import Database
from aihubd.store.jobs import JobStore
from aihubd.tracking.notifier import Notifier
from aihubd.tracking.poller import Poller
from aihubd.tracking.schedule import Cadence, Schedule

DEFAULT_CADENCE = Cadence(base=5, cap=60)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "aihubd.db")
    yield database
    await database.close()


async def _poller(
    db: Database, hub: FakeHub, clock: FakeClock, *, page: int = 50, cadence: Cadence = DEFAULT_CADENCE
) -> tuple[Poller, JobStore]:
    store = JobStore(db)
    poller = Poller(
        hub,
        store,
        Notifier(),
        Schedule(cadence, random.Random(1)),
        page_size=page,
        clock=clock,
    )
    return poller, store


async def _track(store: JobStore, poller: Poller, hub: FakeHub, count: int) -> list[str]:
    ids = [hub.add_job(JobState.CREATED).job_id for _ in range(count)]
    await store.save([await hub.get_job(i) for i in ids])
    for i in ids:
        poller.follow(store.cached(i), soon=False)  # type: ignore[arg-type]
    hub.calls.clear()
    return ids


async def test_one_listing_per_page_and_gets_only_for_changes(db: Database) -> None:
    hub, clock = FakeHub(), FakeClock()
    poller, store = await _poller(db, hub, clock, page=50)
    ids = await _track(store, poller, hub, 120)

    result = await poller.poll_now()
    assert (result.polled, result.changed) == (120, 0)
    assert hub.calls == {"list_summaries": 3}  # ceil(120 / 50) pages, no per-job GET

    hub.set_state(ids[3], JobState.LINKING_MODELS)
    hub.set_state(ids[70], JobState.DONE)  # finished: leaves the in-flight listing
    hub.calls.clear()
    result = await poller.poll_now()
    assert result.changed == 2
    assert hub.calls == {"list_summaries": 3, "get_job": 2}  # <= 1 + M/page + changes
    assert store.cached(ids[70]).state == JobState.DONE  # type: ignore[union-attr]


async def test_jobs_the_listing_cannot_see_are_polled_directly(db: Database) -> None:
    hub, clock = FakeHub(), FakeClock()
    poller, store = await _poller(db, hub, clock)
    ids = await _track(store, poller, hub, 5)
    hub.unlisted.add(ids[0])  # shared by another user: not in our listing
    await poller.poll_now()
    assert hub.calls == {"list_summaries": 1, "get_job": 1}
    hub.calls.clear()
    await poller.poll_now()
    assert hub.calls == {"list_summaries": 1, "get_job": 1}  # still only that one


async def test_terminal_jobs_cost_nothing(db: Database) -> None:
    hub, clock = FakeHub(), FakeClock()
    poller, store = await _poller(db, hub, clock)
    ids = await _track(store, poller, hub, 3)
    for i in ids:
        hub.set_state(i, JobState.FAILED, "x")
    await poller.poll_now()
    hub.calls.clear()
    assert (await poller.poll_now()).polled == 0
    assert sum(hub.calls.values()) == 0


async def test_only_due_jobs_are_looked_at_on_the_timer(db: Database) -> None:
    hub, clock = FakeHub(), FakeClock()
    poller, store = await _poller(db, hub, clock, cadence=Cadence(base=10, cap=100, jitter=0.2))
    await _track(store, poller, hub, 4)
    assert (await poller._cycle(everything=False, skip_if_satisfied=False)).polled == 0  # nothing due yet
    assert sum(hub.calls.values()) == 0
    clock.now += 12.1  # past base + 20 % jitter
    assert (await poller._cycle(everything=False, skip_if_satisfied=False)).polled == 4


def test_jitter_spreads_due_times() -> None:
    schedule = Schedule(Cadence(base=10, cap=60, jitter=0.2), random.Random(42))
    for i in range(1000):
        schedule.track(f"j{i}", 0.0, soon=False)
    dues = [schedule._entries[f"j{i}"].due for i in range(1000)]
    assert min(dues) >= 8.0 and max(dues) <= 12.0
    assert max(dues) - min(dues) > 3.5  # spread across most of the ±20 % band (width 4)
    assert statistics.pstdev(dues) > 1.0
    assert len(set(dues)) == 1000  # never in lock-step


def test_interval_stretches_while_unchanged_and_resets_on_change() -> None:
    schedule = Schedule(Cadence(base=2, cap=30, growth=1.5, jitter=0.0), random.Random(0))
    schedule.track("j", 0.0, soon=True)
    assert schedule.is_due("j", 0.0)  # just submitted: look soon
    intervals = []
    for _ in range(10):
        schedule.observed("j", 0.0, changed=False)
        intervals.append(schedule.interval("j"))
    assert intervals[:4] == [3.0, 4.5, 6.75, 10.125]
    assert intervals[-1] == 30.0  # capped
    schedule.observed("j", 0.0, changed=True)
    assert schedule.interval("j") == 2.0


async def test_budget_limits_rate_and_honours_retry_after_for_everyone() -> None:
    clock = FakeClock()
    budget = RequestBudget(BudgetConfig(rate=2.0, burst=2), clock=clock, sleep=clock.sleep)
    for _ in range(2):
        await budget.acquire()
    assert clock.slept == []  # the burst
    await budget.acquire()
    assert clock.slept == [pytest.approx(0.5)]  # then 2 per second
    budget.retry_after(7)
    started = clock.now
    await budget.acquire()  # any endpoint: the pause is global
    assert clock.now - started >= 7


async def test_one_listing_serves_every_job_on_the_timer_not_one_per_job(db: Database) -> None:
    """Jittered due times must not turn into a cycle (and a listing) per job."""
    hub, clock = FakeHub(), FakeClock()
    poller, store = await _poller(db, hub, clock, cadence=Cadence(base=1.0, cap=1.0, jitter=0.2))
    await _track(store, poller, hub, 20)
    for _ in range(200):  # ten poll intervals in steps of 1/20
        clock.now += 0.05
        await poller._cycle(everything=False, skip_if_satisfied=False)
    assert 8 <= hub.calls["list_summaries"] <= 13  # about one listing per interval for all 20 jobs
    assert hub.calls["get_job"] == 0


async def test_a_page_that_comes_back_full_is_followed_by_another(db: Database) -> None:
    """No total count to trust: a full page means there may be more, a short page is the last."""
    hub, clock = FakeHub(), FakeClock()
    poller, store = await _poller(db, hub, clock, page=50)
    await _track(store, poller, hub, 100)
    result = await poller.poll_now()
    assert result.polled == 100 and hub.calls == {"list_summaries": 3}
    assert hub.summary_offsets == [0, 50, 100]  # the third page is empty: the listing is done


async def test_summaries_without_last_updated_time_still_catch_every_change(db: Database) -> None:
    """A listing row without last_updated_time shows only the state: a state change is fetched at
    once, and a job that sits unchanged is read in full every ``full_refresh`` seconds."""
    hub, clock = FakeHub(), FakeClock()
    hub.summaries_without_update_time = True
    store = JobStore(db)
    schedule = Schedule(Cadence(base=5, cap=60), random.Random(1))
    poller = Poller(hub, store, Notifier(), schedule, page_size=50, clock=clock, full_refresh=300.0)
    ids = await _track(store, poller, hub, 3)
    await poller.poll_now()
    assert hub.calls == {"list_summaries": 1}  # nothing to fetch: the rows match the stored jobs

    hub.set_state(ids[0], JobState.LINKING_MODELS)  # a state change: visible in the row
    hub.jobs[ids[1]] = dataclasses.replace(hub.jobs[ids[1]], name="renamed on the web")  # not visible
    hub.calls.clear()
    await poller.poll_now()
    assert hub.calls == {"list_summaries": 1, "get_job": 1}
    assert store.cached(ids[0]).state == JobState.LINKING_MODELS  # type: ignore[union-attr]
    assert store.cached(ids[1]).name != "renamed on the web"  # type: ignore[union-attr]

    clock.now += 299.0
    hub.calls.clear()
    await poller.poll_now()
    assert hub.calls == {"list_summaries": 1}  # not yet long-unchanged

    clock.now += 1.0  # 300 s since the stored copies were current: read each unchanged job in full
    hub.calls.clear()
    await poller.poll_now()
    assert hub.calls == {"list_summaries": 1, "get_job": 3}
    assert store.cached(ids[1]).name == "renamed on the web"  # type: ignore[union-attr]
    hub.calls.clear()
    await poller.poll_now()
    assert hub.calls == {"list_summaries": 1}  # and then not again for another full_refresh


async def test_a_listing_the_daemon_cannot_use_falls_back_to_reading_due_jobs(db: Database) -> None:
    """E.g. the Hub does not say whose token it is: never list org-wide, read the due jobs instead."""
    hub, clock = FakeHub(), FakeClock()
    poller, store = await _poller(db, hub, clock)
    ids = await _track(store, poller, hub, 2)

    async def no_account(*args: object, **kwargs: object) -> object:
        raise HubError("the Hub did not say which account the token belongs to; cannot list only its jobs")

    hub.list_link_job_summaries = no_account  # type: ignore[method-assign]
    hub.set_state(ids[0], JobState.LINKING_MODELS)
    result = await poller.poll_now()
    assert hub.calls == {"get_job": 2} and result.changed == 1
    assert store.cached(ids[0]).state == JobState.LINKING_MODELS  # type: ignore[union-attr]


async def test_a_job_gone_from_the_hub_is_reported_once_not_every_cycle(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    hub, clock = FakeHub(), FakeClock()
    poller, store = await _poller(db, hub, clock)
    (gone,) = await _track(store, poller, hub, 1)
    del hub.jobs[gone]  # deleted on the Hub, or no longer shared with this account

    with caplog.at_level("WARNING", logger="aihubd.tracking.poller"):
        for _ in range(3):
            await poller.poll_now()
    lines = [r.getMessage() for r in caplog.records if "no longer visible" in r.getMessage()]
    assert hub.calls["get_job"] == 3  # still looked at each cycle...
    assert lines == [f"job {gone} is no longer visible on the Hub; keeping its last known state"]  # ...told once
    assert store.cached(gone).state is JobState.CREATED  # type: ignore[union-attr]
