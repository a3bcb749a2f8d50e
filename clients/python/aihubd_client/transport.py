"""The gRPC channel to the daemon's Unix socket, and the one place RPC errors are translated.

Every call goes through ``Connection.unary`` or ``Connection.stream``: the call is started with
Ctrl-C held back (see ``interrupts``), awaited in a way Ctrl-C can interrupt, cancelled when
the caller stops waiting (the job itself is never touched), and its failure is translated into
this library's errors (``DEADLINE_EXCEEDED`` of a caller's timeout into ``TimeoutError``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import grpc

from aihubd_api.v1 import aihubd_pb2_grpc as pb_grpc

from .errors import AihubdError, daemon_unavailable, from_rpc_error
from .interrupts import deferred_keyboard_interrupt

__all__ = ["CHANNEL_OPTIONS", "Connection", "TimeoutFactory", "raise_call_error"]

# Builds the TimeoutError raised when the caller's timeout passes (None: no timeout was given).
TimeoutFactory = Callable[[], TimeoutError]

CHANNEL_OPTIONS: tuple[tuple[str, Any], ...] = (
    # A Unix socket never goes through an HTTP proxy, whatever the environment says.
    ("grpc.enable_http_proxy", 0),
    # Chunks are at most 1 MiB; leave room for message overhead.
    ("grpc.max_receive_message_length", 8 * 1024 * 1024),
    # A restarted daemon is found again within a second (gRPC's default backs off to minutes).
    ("grpc.initial_reconnect_backoff_ms", 100),
    # (No grpc.min_reconnect_backoff_ms: it also caps the connect timeout, and under a burst of
    # new clients 100 ms made some connections fail; `make bench` caught it.)
    ("grpc.max_reconnect_backoff_ms", 1000),
)


class Connection:
    """A lazily opened channel to ``unix:<socket_path>`` with both service stubs (thread-safe)."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self._channel: grpc.Channel | None = None
        self._jobs: pb_grpc.LinkJobServiceStub | None = None
        self._daemon: pb_grpc.DaemonServiceStub | None = None
        self._closed = False
        self._lock = threading.Lock()

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

    def unary(
        self,
        rpc: Any,
        request: Any,
        *,
        timeout: float | None = None,
        on_timeout: TimeoutFactory | None = None,
    ) -> Any:
        """One unary call; Ctrl-C (or any exception here) cancels it and propagates."""
        future = None
        try:
            with deferred_keyboard_interrupt():
                future = rpc.future(request, timeout=timeout)
            return future.result()
        except grpc.RpcError as exc:
            raise_call_error(exc, self.socket_path, on_timeout)
        except BaseException:
            if future is not None:
                future.cancel()
            raise

    @contextmanager
    def stream(
        self,
        rpc: Any,
        request: Any,
        *,
        timeout: float | None = None,
        on_timeout: TimeoutFactory | None = None,
    ) -> Iterator[Iterator[Any]]:
        """A server stream to iterate inside the block; leaving the block cancels it."""
        call = None
        try:
            with deferred_keyboard_interrupt():
                call = rpc(request, timeout=timeout)
            yield call
        except grpc.RpcError as exc:
            raise_call_error(exc, self.socket_path, on_timeout)
        finally:
            if call is not None:
                call.cancel()

    def close(self) -> None:
        """Close the channel (cancelling calls in flight); idempotent."""
        with self._lock:
            self._closed = True
            channel, self._channel = self._channel, None
        if channel is not None:
            channel.close()

    def _open(self) -> None:
        if self._closed:
            raise AihubdError("this aihubd Client is closed")
        if not os.path.exists(self.socket_path):
            raise daemon_unavailable(self.socket_path, "no socket file there")
        with self._lock:
            if self._closed:
                raise AihubdError("this aihubd Client is closed")
            if self._channel is None:
                self._channel = grpc.insecure_channel(
                    f"unix:{self.socket_path}", options=CHANNEL_OPTIONS
                )
                self._jobs = pb_grpc.LinkJobServiceStub(self._channel)
                self._daemon = pb_grpc.DaemonServiceStub(self._channel)


def raise_call_error(
    exc: grpc.RpcError, socket_path: str | os.PathLike[str], on_timeout: TimeoutFactory | None
) -> NoReturn:
    """Raise the library's error for a failed call: the caller's ``TimeoutError`` when its
    deadline passed (no gRPC chain: it is the caller's own doing), else the table's error."""
    code = getattr(exc, "code", None)
    if on_timeout is not None and callable(code) and code() is grpc.StatusCode.DEADLINE_EXCEEDED:
        raise on_timeout() from None
    raise from_rpc_error(exc, socket_path) from exc
