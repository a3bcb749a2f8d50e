"""The request budget's lanes and pauses on a virtual clock (issue 11, items 9 and 10): a flood of
on-demand requests never delays the poller by more than a token's interval, and a long
Retry-After pause fails on-demand requests at once while the poller waits it out in one sleep."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from virtual_clock import VirtualClock

from aihubd.errors import HubPaused
from aihubd.hub.budget import BudgetConfig, Lane, RequestBudget, current_lane, polling

RATE = 10.0
FLOOD = 300


def _budget(clock: VirtualClock, **config: float) -> RequestBudget:
    return RequestBudget(
        BudgetConfig(**config),  # type: ignore[arg-type]
        clock=clock,
        sleep=clock.sleep,
        wall_clock=lambda: datetime(2026, 1, 2, 3, 0, 0, tzinfo=UTC),
    )


async def test_polls_are_served_ahead_of_a_flood_of_on_demand_requests() -> None:
    clock = VirtualClock()
    budget = _budget(clock, rate=RATE, burst=20)
    flood = [asyncio.create_task(budget.acquire()) for _ in range(FLOOD)]  # the default lane: on demand
    await clock.settle()
    assert budget.granted == 15  # the burst but the poller's reserve (a quarter of it)

    async def poll() -> float:
        started = clock.now
        with polling():
            await budget.acquire()
        return clock.now - started

    waits = [await clock.run(poll()) for _ in range(20)]  # one poll cycle's requests, one after another
    assert waits[:5] == [0.0] * 5  # the reserve: at once
    assert max(waits) <= 1 / RATE + 1e-9  # then each waits one token's interval at most, not the flood
    assert clock.now <= 15 / RATE + 1e-9
    assert sum(not t.done() for t in flood) >= FLOOD - 30  # the flood is still queued behind
    for task in flood:
        task.cancel()
    await asyncio.gather(*flood, return_exceptions=True)


async def test_on_demand_requests_get_the_rest_and_the_rate_holds() -> None:
    clock = VirtualClock()
    budget = _budget(clock, rate=RATE, burst=4)  # reserve 1
    await clock.run(asyncio.gather(*(budget.acquire() for _ in range(33))))
    assert budget.granted == 33
    assert clock.now == pytest.approx((33 - 3) / RATE)  # 3 back to back, then 10 per second


async def test_the_polling_lane_is_the_callers_context_and_reaches_its_tasks() -> None:
    assert current_lane() is Lane.DEMAND
    with polling():

        async def lane() -> Lane:
            return current_lane()

        assert await asyncio.create_task(lane()) is Lane.POLL  # e.g. the poller's gather of reads
    assert current_lane() is Lane.DEMAND


async def test_a_long_pause_fails_on_demand_requests_at_once_and_the_poller_waits_it_out() -> None:
    clock = VirtualClock()
    budget = _budget(clock, max_pause=300, demand_wait=10)
    budget.retry_after(3600)  # capped at max_pause
    with pytest.raises(HubPaused) as paused:
        await clock.run(budget.acquire())
    assert clock.now == 0.0 and clock.sleeps == []  # at once, nothing slept
    assert paused.value.retry_after == pytest.approx(300.0)
    assert "2026-01-02T03:05:00+00:00" in str(paused.value)  # the wall time the Hub asked to wait until

    clock.now = 120.0  # later in the pause: the delay is what is left of it
    with pytest.raises(HubPaused) as later:
        budget.check_pause()
    assert later.value.retry_after == pytest.approx(180.0)

    with polling():
        await clock.run(budget.acquire())
    assert clock.now == pytest.approx(300.0)
    assert clock.sleeps == [pytest.approx(180.0)]  # one sleep to the pause's end: no busy loop
    await clock.run(budget.acquire())  # on demand again, after the pause: a token at once


async def test_a_short_pause_is_waited_out_on_demand() -> None:
    clock = VirtualClock()
    budget = _budget(clock, demand_wait=10)
    budget.retry_after(7)
    await clock.run(budget.acquire())
    assert clock.now == pytest.approx(7.0)
