"""DaemonService: facts about the daemon itself (never the token)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_api.v1 import aihubd_pb2_grpc as api_grpc

from ..errors import FailedPrecondition
from ..services.daemon_check import DaemonCheck
from ..services.daemon_status import DaemonStatusService
from .context import Context
from .convert import timestamp
from .errors import rpc_errors

__all__ = ["DaemonServicer"]


class DaemonServicer(api_grpc.DaemonServiceServicer):
    def __init__(
        self,
        status: DaemonStatusService,
        hub_url: str,
        web_url: str,
        hub_kind: str,
        stop: Callable[[], None] | None = None,
        check: DaemonCheck | None = None,
    ) -> None:
        self._status = status
        self._stop = stop
        self._check = check
        self._hub_url = hub_url
        self._web_url = web_url
        self._hub_kind = hub_kind

    async def GetDaemonInfo(self, request: api.GetDaemonInfoRequest, context: Context) -> api.DaemonInfo:
        async with rpc_errors(context, "GetDaemonInfo"):
            s = await self._status.status()
            return api.DaemonInfo(
                version=s.version,
                hub_url=self._hub_url,
                web_url=self._web_url,
                hub_kind=self._hub_kind,
                tracked_jobs=s.tracked_jobs,
                in_flight_jobs=s.in_flight_jobs,
                hub_reachable=s.hub_reachable,
                account_email=s.account_email,
                cache_bytes=s.cache_bytes,
                hub_error=s.hub_error,
                pid=s.pid,
                socket_path=s.socket_path,
                uptime_seconds=s.uptime_seconds,
                token_source=s.token_source,
                emulator_token=s.emulator_token,
                state_dir=s.state_dir,
                hub_protocol_version=s.hub_protocol_version,
                hub_auth_state=s.hub_auth_state,
                hub_auth_parked_since=timestamp(s.hub_auth_parked_since),
                hub_auth_next_probe=timestamp(s.hub_auth_next_probe),
                hub_paused_until=timestamp(s.hub_paused_until),
                watch_streams=s.watch_streams,
                wait_streams=s.wait_streams,
            )

    async def StopDaemon(self, request: api.StopDaemonRequest, context: Context) -> api.StopDaemonResponse:
        async with rpc_errors(context, "StopDaemon"):
            if self._stop is None:
                raise FailedPrecondition("this daemon cannot be stopped over its socket; send it SIGTERM")
            asyncio.get_running_loop().call_soon(self._stop)  # after this answer is on its way
            return api.StopDaemonResponse(pid=os.getpid())

    async def CheckDaemon(self, request: api.CheckDaemonRequest, context: Context) -> api.CheckDaemonResponse:
        async with rpc_errors(context, "CheckDaemon"):
            if self._check is None:
                raise FailedPrecondition("this daemon was started without its self-check")
            report = await self._check.check()
            return api.CheckDaemonResponse(
                database_ok=not report.database_problems,
                database_problems=report.database_problems,
                blobs_checked=report.blobs_checked,
                blobs_dropped=report.blobs_dropped,
            )
