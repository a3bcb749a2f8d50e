"""What `aihubctl daemon status` shows: version, Hub reachability, account, counts, cache size,
and whether Hub traffic is parked by a 401 or paused by a Retry-After (until when)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from .. import __version__
from ..errors import AihubdError
from ..hub.client import AiohttpHubClient
from ..hub.identity import PROTOCOL_VERSION
from .jobs import JobService

__all__ = ["AUTH_OK", "AUTH_PARKED", "DaemonStatus", "DaemonStatusService"]

AUTH_OK = "ok"
AUTH_PARKED = "parked-for-auth"


@dataclass(frozen=True)
class DaemonStatus:
    version: str
    hub_reachable: bool
    hub_error: str
    account_email: str
    tracked_jobs: int
    in_flight_jobs: int
    cache_bytes: int
    hub_protocol_version: str = PROTOCOL_VERSION
    hub_auth_state: str = AUTH_OK
    hub_auth_parked_since: datetime | None = None
    hub_auth_next_probe: datetime | None = None
    hub_paused_until: datetime | None = None


class DaemonStatusService:
    def __init__(
        self,
        hub: AiohttpHubClient,
        jobs: JobService,
        cache_bytes: Callable[[], int],
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._hub = hub
        self._jobs = jobs
        self._cache_bytes = cache_bytes
        self._wall_clock = wall_clock

    async def status(self) -> DaemonStatus:
        """Asks the Hub who we are once per credentials (not while traffic is held: status never
        waits); after that, reachability is the last call's outcome."""
        traffic = self._hub.traffic()
        email = ""
        if traffic.paused_for is None and not traffic.auth.parked:  # never wait out a pause here
            with contextlib.suppress(AihubdError):  # reported through health below
                email = await self._hub.get_auth_user_email()
        health = self._hub.health
        tracked, in_flight = await self._jobs.counts()
        now = self._wall_clock()
        return DaemonStatus(
            version=__version__,
            hub_reachable=bool(health and health.reachable),
            hub_error=health.error if health else "",
            account_email=email,
            tracked_jobs=tracked,
            in_flight_jobs=in_flight,
            cache_bytes=self._cache_bytes(),
            hub_auth_state=AUTH_PARKED if traffic.auth.parked else AUTH_OK,
            hub_auth_parked_since=_at(now, traffic.auth_parked_for, ago=True),
            hub_auth_next_probe=_at(now, traffic.auth_next_probe_in),
            hub_paused_until=_at(now, traffic.paused_for),
        )


def _at(now: float, seconds: float | None, *, ago: bool = False) -> datetime | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(now - seconds if ago else now + seconds, tz=UTC)
