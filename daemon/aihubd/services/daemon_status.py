"""What `aihubctl daemon status` shows: version, Hub reachability, account, counts, cache size,
what the daemon knows about itself, and whether Hub traffic is parked by a 401 or paused by a
Retry-After (until when).

Answered at once from what the daemon knows: the account's email is asked of the Hub in the
background (one request at a time, again after a failure or a credentials reload), never inline,
so a hanging or paused Hub cannot hold a status call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from .. import __version__
from ..errors import AihubdError
from ..hub.client import AiohttpHubClient
from ..hub.identity import PROTOCOL_VERSION
from .jobs import JobService

__all__ = ["AUTH_OK", "AUTH_PARKED", "DaemonFacts", "DaemonStatus", "DaemonStatusService"]

log = logging.getLogger(__name__)

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
    pid: int = 0
    socket_path: str = ""
    uptime_seconds: float = 0.0
    token_source: str = ""
    emulator_token: str = ""
    state_dir: str = ""
    hub_protocol_version: str = PROTOCOL_VERSION
    hub_auth_state: str = AUTH_OK
    hub_auth_parked_since: datetime | None = None
    hub_auth_next_probe: datetime | None = None
    hub_paused_until: datetime | None = None
    watch_streams: int = 0
    wait_streams: int = 0


@dataclass(frozen=True)
class DaemonFacts:
    """What the daemon knows about itself from its start (``emulator_token``: the embedded
    emulator's loopback token, shown so the official client can be pointed at it; else "")."""

    socket_path: str = ""
    token_source: str = ""
    emulator_token: str = ""
    state_dir: str = ""


class DaemonStatusService:
    def __init__(
        self,
        hub: AiohttpHubClient,
        jobs: JobService,
        cache_bytes: Callable[[], int],
        facts: DaemonFacts | None = None,
        clock: Callable[[], float] = time.monotonic,
        *,
        wall_clock: Callable[[], float] = time.time,
        watch_streams: Callable[[], int] = lambda: 0,
    ) -> None:
        self._facts = facts or DaemonFacts()
        self._clock = clock
        self._wall_clock = wall_clock
        self._started = clock()
        self._hub = hub
        self._jobs = jobs
        self._cache_bytes = cache_bytes
        self._watch_streams = watch_streams
        self._lookup: asyncio.Task[None] | None = None

    async def status(self) -> DaemonStatus:
        """The daemon's view now; reachability is the last Hub call's outcome, and not reachable
        while the poller is in Hub trouble (its reason is the error). Starts a background
        look-up of the account when it is not known yet (not while Hub traffic is held)."""
        traffic = self._hub.traffic()
        email = self._hub.known_email  # the hub client keeps it per set of credentials
        if not email and traffic.paused_for is None and not traffic.auth.parked:
            self._look_up_account()
        health = self._hub.health
        trouble = self._jobs.trouble()  # the poller's last cycle failed: say why
        tracked, in_flight = await self._jobs.counts()
        now = self._wall_clock()
        return DaemonStatus(
            version=__version__,
            hub_reachable=bool(health and health.reachable) and not (trouble is not None and trouble[1]),
            hub_error=f"polling paused: {trouble[0]}" if trouble is not None else (health.error if health else ""),
            account_email=email,
            tracked_jobs=tracked,
            in_flight_jobs=in_flight,
            cache_bytes=self._cache_bytes(),
            pid=os.getpid(),
            socket_path=self._facts.socket_path,
            uptime_seconds=self._clock() - self._started,
            token_source=self._facts.token_source,
            emulator_token=self._facts.emulator_token,
            state_dir=self._facts.state_dir,
            hub_auth_state=AUTH_PARKED if traffic.auth.parked else AUTH_OK,
            hub_auth_parked_since=_at(now, traffic.auth_parked_for, ago=True),
            hub_auth_next_probe=_at(now, traffic.auth_next_probe_in),
            hub_paused_until=_at(now, traffic.paused_for),
            watch_streams=self._watch_streams(),
            wait_streams=self._jobs.wait_streams,
        )

    async def start(self, wait: float) -> None:
        """Begin the account look-up, giving it up to ``wait`` seconds (a healthy Hub answers in
        milliseconds, so the first status already names the account); it goes on in the background."""
        self._look_up_account()
        assert self._lookup is not None
        await asyncio.wait({self._lookup}, timeout=wait)

    def forget_account(self) -> None:
        """The credentials may have changed (SIGHUP; the hub client forgot the old account): ask
        the Hub who we are again."""
        self._look_up_account()

    def _look_up_account(self) -> None:
        if self._lookup is None or self._lookup.done():
            self._lookup = asyncio.create_task(self._fetch_email(), name="account-lookup")

    async def _fetch_email(self) -> None:
        with contextlib.suppress(AihubdError):  # reported through health
            log.info("Hub account: %s", await self._hub.get_auth_user_email())

    async def close(self) -> None:
        if self._lookup is not None:
            self._lookup.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lookup


def _at(now: float, seconds: float | None, *, ago: bool = False) -> datetime | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(now - seconds if ago else now + seconds, tz=UTC)
