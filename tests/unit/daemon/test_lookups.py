"""Look-ups of untracked jobs (issue 11, item 9): one Hub request per id however many ask at
once; a bounded number going per client, past it Throttled with a retry delay."""

from __future__ import annotations

import asyncio

import pytest

from aihubd.errors import NotFound, Throttled
from aihubd.services.lookups import Lookups


async def test_concurrent_look_ups_of_one_id_share_one_request() -> None:
    lookups = Lookups(per_peer=2, concurrent=1)
    release = asyncio.Event()
    calls: list[str] = []

    async def look_up() -> str:
        calls.append("j1")
        await release.wait()
        raise NotFound("'j1' was not found on the Hub")

    callers = [asyncio.create_task(lookups.run("j1", "unix:", look_up)) for _ in range(300)]
    await asyncio.sleep(0)
    callers[0].cancel()  # a caller that gives up does not fail the others
    release.set()
    outcomes = await asyncio.gather(*callers, return_exceptions=True)
    assert calls == ["j1"]
    assert isinstance(outcomes[0], asyncio.CancelledError)
    assert all(isinstance(o, NotFound) for o in outcomes[1:])
    assert lookups.going("unix:") == 0


async def test_each_peer_has_a_bounded_number_of_look_ups_going() -> None:
    lookups = Lookups(per_peer=16, concurrent=4, retry_after=1.5)
    release = asyncio.Event()
    asked: list[str] = []
    running = 0
    most = 0

    async def look_up(job_id: str) -> str:
        nonlocal running, most
        asked.append(job_id)
        running += 1
        most = max(most, running)
        await release.wait()
        running -= 1
        return job_id

    flood = [
        asyncio.create_task(lookups.run(f"j{i}", "ipv4:127.0.0.1:5000", lambda i=i: look_up(f"j{i}")))
        for i in range(300)
    ]
    other = asyncio.create_task(lookups.run("k", "ipv4:127.0.0.1:6000", lambda: look_up("k")))
    for _ in range(10):
        await asyncio.sleep(0)
    assert lookups.going("ipv4:127.0.0.1:5000") == 16
    assert most <= 4 + 1  # four of the flooding peer's at a time (plus the other peer's)
    release.set()
    outcomes = await asyncio.gather(*flood, return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, Throttled)]
    assert len(refused) == 300 - 16
    assert refused[0].retry_after == 1.5 and "at most 16" in str(refused[0])
    assert await other == "k"  # another client is not refused
    assert len(asked) == 17
    assert await lookups.run("j0", "ipv4:127.0.0.1:5000", lambda: look_up("again")) == "again"  # room again


def test_limits_must_make_sense() -> None:
    with pytest.raises(ValueError):
        Lookups(per_peer=2, concurrent=3)
