"""The standard gRPC services beside the daemon's own: health (grpc.health.v1) and server reflection.

Health answers ``SERVING`` for the whole server ("") and for each aihubd service once the daemon
serves (the store is open before the server starts), and ``NOT_SERVING`` from the moment it begins
to stop, so load balancers, ``grpc_health_probe`` and IDE plugins can tell a stopping daemon apart.
Reflection lets tools such as ``buf curl`` and ``grpcurl`` call the daemon without the .proto files.
"""

from __future__ import annotations

from collections.abc import Iterable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from aihubd_api.v1 import aihubd_pb2 as api

__all__ = ["AIHUBD_SERVICES", "DaemonHealth", "add_reflection"]

AIHUBD_SERVICES: tuple[str, ...] = tuple(s.full_name for s in api.DESCRIPTOR.services_by_name.values())


class DaemonHealth:
    """The daemon's health status, served over grpc.health.v1 (Check and Watch)."""

    def __init__(self, services: Iterable[str] = AIHUBD_SERVICES) -> None:
        self._servicer = health.aio.HealthServicer()
        self._names = ("", *services)

    def add_to(self, server: grpc.aio.Server) -> None:
        health_pb2_grpc.add_HealthServicer_to_server(self._servicer, server)

    async def serving(self) -> None:
        """Every aihubd service (and the server as a whole) answers SERVING."""
        for name in self._names:
            await self._servicer.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stopping(self) -> None:
        """NOT_SERVING from now on, for good: open Watch streams are told at once."""
        await self._servicer.enter_graceful_shutdown()


def add_reflection(server: grpc.aio.Server, services: Iterable[str] = AIHUBD_SERVICES) -> None:
    """Serve grpc.reflection.v1alpha for the aihubd services, health and reflection itself."""
    names = (*services, health.SERVICE_NAME, reflection.SERVICE_NAME)
    reflection.enable_server_reflection(names, server)
