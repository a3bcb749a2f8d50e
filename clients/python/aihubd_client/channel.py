"""What the blocking and the asyncio connection to the daemon share; no I/O happens here.

``Connection`` (``transport``) and ``AsyncConnection`` (``aio_transport``) differ only in how a
call is started and waited for. The rest is here: the channel options, the ``Call`` that names
one RPC with its request, timeout and what its answer becomes, the two service stubs, the
checks made before a channel is opened, and the one place a failed call is translated into
this library's errors.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, NoReturn, TypeVar

import grpc

from aihubd_api.v1 import aihubd_pb2_grpc as pb_grpc

from .errors import AihubdError, daemon_unavailable, from_rpc_error

__all__ = [
    "CHANNEL_OPTIONS",
    "CLIENT_ID_METADATA",
    "Call",
    "ConnectionBase",
    "R",
    "TimeoutFactory",
    "as_is",
    "raise_call_error",
]

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

# Every call carries this channel's random id under this key: the daemon counts its per-client
# bounds (look-ups of untracked jobs, open streams) by it, since gRPC names every Unix-socket
# peer alike. A fairness key among the user's own clients, not a credential.
CLIENT_ID_METADATA = "aihubd-client-id"


def as_is(message: Any) -> Any:
    """A ``Call.reply`` that returns the answer unchanged."""
    return message


R = TypeVar("R")


@dataclass(frozen=True)
class Call(Generic[R]):
    """One RPC to make: which one, its request, the caller's timeout, what the answer becomes.

    ``method`` names a method of the ``service`` stub (``"jobs"``: LinkJobService, ``"daemon"``:
    DaemonService, ``"catalog"``: CatalogService). ``timeout`` is the gRPC deadline in seconds
    (None: none) and ``on_timeout`` builds the caller's ``TimeoutError`` when it passes.
    ``reply`` turns a unary call's answer into what the method returns (a stream's messages are
    read by the caller).
    """

    method: str
    request: Any
    timeout: float | None = None
    on_timeout: TimeoutFactory | None = None
    reply: Callable[[Any], R] = as_is
    service: str = "jobs"


class ConnectionBase:
    """A lazily opened channel to ``unix:<socket_path>`` with both service stubs.

    Subclasses open the channel (``_open``, by way of ``_check_open`` and ``_attach``) and make
    the calls, each with ``metadata`` (this channel's client id).
    """

    # Named in the error raised after close().
    _client_name = "Client"

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self._channel: Any = None
        self._jobs: pb_grpc.LinkJobServiceStub | None = None
        self._daemon: pb_grpc.DaemonServiceStub | None = None
        self._catalog: pb_grpc.CatalogServiceStub | None = None
        self._closed = False
        # One random id per channel, sent with every call (CLIENT_ID_METADATA).
        self.client_id = uuid.uuid4().hex
        self.metadata: tuple[tuple[str, str], ...] = ((CLIENT_ID_METADATA, self.client_id),)
        # The shared WatchJobs stream of every wait on this channel (watch_hub, aio_watch_hub).
        self.watch_hub: Any = None

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

    @property
    def catalog(self) -> pb_grpc.CatalogServiceStub:
        """The CatalogService stub (models, devices); raises DaemonUnavailableError when the socket is missing."""
        self._open()
        assert self._catalog is not None
        return self._catalog

    def rpc(self, call: Call[Any]) -> Any:
        """The stub's method that ``call`` names (opening the channel first)."""
        if call.service == "daemon":
            return getattr(self.daemon, call.method)
        if call.service == "catalog":
            return getattr(self.catalog, call.method)
        return getattr(self.jobs, call.method)

    def _open(self) -> None:
        raise NotImplementedError

    def _check_open(self) -> None:
        """Raise when this connection was closed, or when no socket file is there."""
        self._check_not_closed()
        if not os.path.exists(self.socket_path):
            raise daemon_unavailable(self.socket_path, "no socket file there")

    def _check_not_closed(self) -> None:
        if self._closed:
            raise AihubdError(f"this aihubd {self._client_name} is closed")

    @property
    def _target(self) -> str:
        return f"unix:{self.socket_path}"

    def _attach(self, channel: Any) -> None:
        """Use ``channel`` (just opened) for every call from now on."""
        self._channel = channel
        self._jobs = pb_grpc.LinkJobServiceStub(channel)
        self._daemon = pb_grpc.DaemonServiceStub(channel)
        self._catalog = pb_grpc.CatalogServiceStub(channel)


def raise_call_error(
    exc: grpc.RpcError, socket_path: str | os.PathLike[str], on_timeout: TimeoutFactory | None
) -> NoReturn:
    """Raise the library's error for a failed call: the caller's ``TimeoutError`` when its
    deadline passed (no gRPC chain: it is the caller's own doing), else the table's error."""
    code = getattr(exc, "code", None)
    if on_timeout is not None and callable(code) and code() is grpc.StatusCode.DEADLINE_EXCEEDED:
        raise on_timeout() from None
    raise from_rpc_error(exc, socket_path) from exc
