"""What `aihubctl daemon status` shows: version, Hub reachability, account, counts, cache size."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

from .. import __version__
from ..errors import AihubdError
from ..hub.client import AiohttpHubClient
from .jobs import JobService

__all__ = ["DaemonStatus", "DaemonStatusService"]


@dataclass(frozen=True)
class DaemonStatus:
    version: str
    hub_reachable: bool
    hub_error: str
    account_email: str
    tracked_jobs: int
    in_flight_jobs: int
    cache_bytes: int


class DaemonStatusService:
    def __init__(self, hub: AiohttpHubClient, jobs: JobService, cache_bytes: Callable[[], int]) -> None:
        self._hub = hub
        self._jobs = jobs
        self._cache_bytes = cache_bytes
        self._email = ""

    async def status(self) -> DaemonStatus:
        """Asks the Hub who we are once; after that, reachability is the last call's outcome."""
        if not self._email:
            with contextlib.suppress(AihubdError):  # reported through health below
                self._email = await self._hub.get_auth_user_email()
        health = self._hub.health
        tracked, in_flight = await self._jobs.counts()
        return DaemonStatus(
            version=__version__,
            hub_reachable=bool(health and health.reachable),
            hub_error=health.error if health else "",
            account_email=self._email,
            tracked_jobs=tracked,
            in_flight_jobs=in_flight,
            cache_bytes=self._cache_bytes(),
        )
