"""The asyncio (``grpc.aio``) channel to the daemon, with the same error translation.

Cancelling the awaiting task cancels the RPC (the job itself is never touched). What is not
about awaiting is shared with the blocking ``transport`` (see ``channel``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import grpc
import grpc.aio

from .channel import CHANNEL_OPTIONS, Call, ConnectionBase, R, raise_call_error

__all__ = ["AsyncConnection"]


class AsyncConnection(ConnectionBase):
    """A lazily opened ``grpc.aio`` channel; use it from one event loop."""

    _client_name = "AsyncClient"
    _channel: grpc.aio.Channel | None

    async def unary(self, call: Call[R]) -> R:
        """One unary call, and what its answer becomes; cancelling the caller cancels it."""
        pending = self.rpc(call)(call.request, timeout=call.timeout, metadata=self.metadata)
        try:
            answer = await pending
        except grpc.RpcError as exc:
            raise_call_error(exc, self.socket_path, call.on_timeout)
        except BaseException:
            pending.cancel()
            raise
        return call.reply(answer)

    @asynccontextmanager
    async def stream(self, call: Call[Any]) -> AsyncIterator[Any]:
        """A server stream to iterate (``async for``) inside the block; leaving it cancels it."""
        responses = self.rpc(call)(call.request, timeout=call.timeout, metadata=self.metadata)
        try:
            yield responses
        except grpc.RpcError as exc:
            raise_call_error(exc, self.socket_path, call.on_timeout)
        finally:
            responses.cancel()

    async def close(self) -> None:
        """Close the channel (cancelling calls in flight); idempotent."""
        self._closed = True
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()

    def _open(self) -> None:
        self._check_open()
        if self._channel is None:
            self._attach(grpc.aio.insecure_channel(self._target, options=CHANNEL_OPTIONS))
