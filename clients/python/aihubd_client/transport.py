"""The gRPC channel to the daemon's Unix socket, and the one place RPC errors are translated."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc

from aihubd_api.v1 import aihubd_pb2_grpc as pb_grpc

from .errors import AihubdError, daemon_unavailable, from_rpc_error

__all__ = ["Connection"]

_CHANNEL_OPTIONS = (
    # A Unix socket never goes through an HTTP proxy, whatever the environment says.
    ("grpc.enable_http_proxy", 0),
    # Chunks are at most 1 MiB; leave room for message overhead.
    ("grpc.max_receive_message_length", 8 * 1024 * 1024),
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

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Translate ``grpc.RpcError`` raised inside the block into this library's errors."""
        try:
            yield
        except grpc.RpcError as exc:
            raise from_rpc_error(exc, self.socket_path) from exc

    def translate(self, exc: grpc.RpcError) -> AihubdError:
        """The library error for one failed call (for code that cannot use ``errors()``)."""
        return from_rpc_error(exc, self.socket_path)

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
                    f"unix:{self.socket_path}", options=_CHANNEL_OPTIONS
                )
                self._jobs = pb_grpc.LinkJobServiceStub(self._channel)
                self._daemon = pb_grpc.DaemonServiceStub(self._channel)
