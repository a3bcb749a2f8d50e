"""DaemonService: facts about the daemon itself (never the token)."""

from __future__ import annotations

import grpc
from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_api.v1 import aihubd_pb2_grpc as api_grpc

from .. import __version__
from ..services.jobs import JobService
from .errors import rpc_errors

__all__ = ["DaemonServicer"]


class DaemonServicer(api_grpc.DaemonServiceServicer):
    def __init__(self, jobs: JobService, hub_url: str, web_url: str, hub_kind: str) -> None:
        self._jobs = jobs
        self._hub_url = hub_url
        self._web_url = web_url
        self._hub_kind = hub_kind

    async def GetDaemonInfo(self, request: api.GetDaemonInfoRequest,
                            context: grpc.aio.ServicerContext) -> api.DaemonInfo:
        async with rpc_errors(context, "GetDaemonInfo"):
            tracked, in_flight = await self._jobs.counts()
            return api.DaemonInfo(version=__version__, hub_url=self._hub_url, web_url=self._web_url,
                                  hub_kind=self._hub_kind, tracked_jobs=tracked, in_flight_jobs=in_flight)
