"""The asyncio (``grpc.aio``) channel to the daemon, with the same error translation.

Cancelling the awaiting task cancels the RPC (the job itself is never touched).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import grpc.aio

from aihubd_api.v1 import aihubd_pb2_grpc as pb_grpc

from .errors import AihubdError, daemon_unavailable
from .transport import CHANNEL_OPTIONS, TimeoutFactory, raise_call_error

__all__ = ["AsyncConnection"]


class AsyncConnection:
    """A lazily opened ``grpc.aio`` channel; use it from one event loop."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self._channel: grpc.aio.Channel | None = None
        self._jobs: pb_grpc.LinkJobServiceStub | None = None
        self._daemon: pb_grpc.DaemonServiceStub | None = None
        self._closed = False

    @property
    def jobs(self) -> pb_grpc.LinkJobServiceStub:
        """The LinkJobService stub; raises DaemonUnavailableError when the socket is missing."""
        self._open()
        assert self._jobs is not None
        return self._jobs

    @property
    def daemon(self) -> pb_grpc.DaemonServiceStub:
        """The DaemonService stub; raises DaemonUnavailableError when the socket is missing."""
        self._open()
        assert self._daemon is not None
        return self._daemon

    async def unary(
        self,
        rpc: Any,
        request: Any,
        *,
        timeout: float | None = None,
        on_timeout: TimeoutFactory | None = None,
    ) -> Any:
        """One unary call; cancelling the caller cancels it."""
        call = rpc(request, timeout=timeout)
        try:
            return await call
        except grpc.RpcError as exc:
            raise_call_error(exc, self.socket_path, on_timeout)
        except BaseException:
            call.cancel()
            raise

    @asynccontextmanager
    async def stream(
        self,
        rpc: Any,
        request: Any,
        *,
        timeout: float | None = None,
        on_timeout: TimeoutFactory | None = None,
    ) -> AsyncIterator[Any]:
        """A server stream to iterate (``async for``) inside the block; leaving it cancels it."""
        call = rpc(request, timeout=timeout)
        try:
            yield call
        except grpc.RpcError as exc:
            raise_call_error(exc, self.socket_path, on_timeout)
        finally:
            call.cancel()

    async def close(self) -> None:
        """Close the channel (cancelling calls in flight); idempotent."""
        self._closed = True
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()

    def _open(self) -> None:
        if self._closed:
            raise AihubdError("this aihubd AsyncClient is closed")
        if not os.path.exists(self.socket_path):
            raise daemon_unavailable(self.socket_path, "no socket file there")
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(
                f"unix:{self.socket_path}", options=CHANNEL_OPTIONS
            )
            self._jobs = pb_grpc.LinkJobServiceStub(self._channel)
            self._daemon = pb_grpc.DaemonServiceStub(self._channel)

