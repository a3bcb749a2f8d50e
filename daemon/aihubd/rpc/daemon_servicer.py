"""DaemonService: facts about the daemon itself (never the token)."""

from __future__ import annotations

from datetime import datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from aihubd_api.v1 import aihubd_pb2 as api
from aihubd_api.v1 import aihubd_pb2_grpc as api_grpc

from ..services.daemon_status import DaemonStatusService
from .errors import rpc_errors

__all__ = ["DaemonServicer"]


class DaemonServicer(api_grpc.DaemonServiceServicer):
    def __init__(self, status: DaemonStatusService, hub_url: str, web_url: str, hub_kind: str) -> None:
        self._status = status
        self._hub_url = hub_url
        self._web_url = web_url
        self._hub_kind = hub_kind

    async def GetDaemonInfo(
        self, request: api.GetDaemonInfoRequest, context: grpc.aio.ServicerContext
    ) -> api.DaemonInfo:
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
                hub_protocol_version=s.hub_protocol_version,
                hub_auth_state=s.hub_auth_state,
                hub_auth_parked_since=_timestamp(s.hub_auth_parked_since),
                hub_auth_next_probe=_timestamp(s.hub_auth_next_probe),
                hub_paused_until=_timestamp(s.hub_paused_until),
            )


def _timestamp(when: datetime | None) -> Timestamp | None:
    if when is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(when)
    return stamp
