"""GetDaemonInfo answers at once from what the daemon knows, even when every Hub request hangs
(issue 11, item 17)."""

from __future__ import annotations

import asyncio

from aihubd.hub.auth_gate import AuthState
from aihubd.hub.client import HubHealth, HubTraffic
from aihubd.services.daemon_status import DaemonStatusService


class HangingHub:
    """Every Hub request waits until the test releases it."""

    def __init__(self) -> None:
        self.health: HubHealth | None = None
        self.release = asyncio.Event()
        self.answered = asyncio.Event()
        self.asked = 0
        self.known_email = ""  # as AiohttpHubClient: the account once a look-up answered

    def traffic(self) -> HubTraffic:
        return HubTraffic(auth=AuthState(parked=False), auth_parked_for=None, auth_next_probe_in=None, paused_for=None)

    async def get_auth_user_email(self) -> str:
        self.asked += 1
        await self.release.wait()
        self.health = HubHealth(reachable=True)
        self.known_email = "someone@example.com"
        self.answered.set()
        return self.known_email


class Jobs:
    wait_streams = 0  # WaitJob streams open (read by the status)

    async def counts(self) -> tuple[int, int]:
        return 3, 1

    def trouble(self) -> tuple[str, bool] | None:
        return None  # the poller is not in trouble


async def test_status_answers_at_once_while_the_hub_hangs() -> None:
    hub = HangingHub()
    service = DaemonStatusService(hub, Jobs(), lambda: 42)  # type: ignore[arg-type]
    try:
        await asyncio.wait_for(service.start(wait=0.0), timeout=10)  # start-up does not wait for the Hub either
        for _ in range(3):  # bounded only to fail instead of hanging: the answer needs no Hub
            status = await asyncio.wait_for(service.status(), timeout=10)
            assert (status.tracked_jobs, status.in_flight_jobs, status.cache_bytes) == (3, 1, 42)
            assert status.account_email == "" and not status.hub_reachable
        assert hub.asked == 1  # one background look-up, not one per call
        hub.release.set()
        await asyncio.wait_for(hub.answered.wait(), timeout=10)
        status = await service.status()
        assert status.account_email == "someone@example.com" and status.hub_reachable
    finally:
        await service.close()
