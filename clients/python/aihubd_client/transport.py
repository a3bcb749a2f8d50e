"""The gRPC channel to the daemon's Unix socket, and how a blocking call is made.

Every call goes through ``Connection.unary`` or ``Connection.stream``: the call is started with
Ctrl-C held back, awaited with Ctrl-C cancelling it rather than raising inside grpc (see
``interrupts``: an exception raised inside grpc can leave the channel's lock held and every
later call hanging), cancelled when the caller stops waiting (the job itself is never touched),
and its failure is translated into this library's errors (``DEADLINE_EXCEEDED`` of a caller's
timeout into ``TimeoutError``; see ``channel``, which this shares with the asyncio
``aio_transport``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc

from .channel import CHANNEL_OPTIONS, Call, ConnectionBase, R, TimeoutFactory, raise_call_error
from .interrupts import cancel_on_keyboard_interrupt, deferred_keyboard_interrupt

__all__ = ["CHANNEL_OPTIONS", "Connection", "TimeoutFactory", "raise_call_error"]


class Connection(ConnectionBase):
    """A lazily opened channel to ``unix:<socket_path>`` with both service stubs (thread-safe)."""

    _channel: grpc.Channel | None

    def __init__(self, socket_path: Path) -> None:
        super().__init__(socket_path)
        self._lock = threading.Lock()

    def unary(self, call: Call[R]) -> R:
        """One unary call, and what its answer becomes (``call.reply``).

        Ctrl-C (or any exception here) cancels the call and propagates.
        """
        future = None
        try:
            with deferred_keyboard_interrupt():
                future = self.rpc(call).future(call.request, timeout=call.timeout, metadata=self.metadata)
            with cancel_on_keyboard_interrupt(future.cancel):
                answer = future.result()
        except grpc.RpcError as exc:
            with deferred_keyboard_interrupt():  # reading its status takes grpc's locks
                raise_call_error(exc, self.socket_path, call.on_timeout)
        except BaseException:
            if future is not None:
                with deferred_keyboard_interrupt():
                    future.cancel()
            raise
        return call.reply(answer)

    @contextmanager
    def stream(self, call: Call[Any]) -> Iterator[Iterator[Any]]:
        """A server stream to iterate inside the block; leaving the block cancels it.

        Ctrl-C while waiting for a message cancels the call and raises KeyboardInterrupt.
        """
        responses = None
        try:
            with deferred_keyboard_interrupt():
                responses = self.rpc(call)(call.request, timeout=call.timeout, metadata=self.metadata)
            yield _Messages(responses)
        except grpc.RpcError as exc:
            with deferred_keyboard_interrupt():  # reading its status takes grpc's locks
                raise_call_error(exc, self.socket_path, call.on_timeout)
        finally:
            if responses is not None:
                with deferred_keyboard_interrupt():
                    responses.cancel()

    def close(self) -> None:
        """Close the channel (cancelling calls in flight); idempotent."""
        with self._lock:
            self._closed = True
            channel, self._channel = self._channel, None
        if channel is not None:
            with deferred_keyboard_interrupt():
                channel.close()

    def _open(self) -> None:
        self._check_open()
        with self._lock:
            self._check_not_closed()
            if self._channel is None:
                self._attach(grpc.insecure_channel(self._target, options=CHANNEL_OPTIONS))


class _Messages:
    """A server stream's messages, each waited for with Ctrl-C cancelling the call."""

    def __init__(self, responses: Any) -> None:
        self._responses = responses

    def __iter__(self) -> _Messages:
        return self

    def __next__(self) -> Any:
        with cancel_on_keyboard_interrupt(self._responses.cancel):
            return next(self._responses)
