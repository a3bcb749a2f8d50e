"""Bounds on what clients can hold open: file descriptors, connections, streams.

An idle-connection flood must not lock everyone out, and open streams must not eat the daemon's
memory and descriptors. At start the soft ``RLIMIT_NOFILE`` is raised to the hard limit. gRPC
accepts at most the fd limit minus what is open at start minus a reserve (descriptors kept for
blobs, the store and the Hub); past that a new connection is closed at once. A connection that
never speaks HTTP/2 is dropped after a short handshake timeout, so a flood drains and new clients
get in. Each connection may open a bounded number of HTTP/2 streams, and ``StreamLimit`` ends a
server stream past the per-client cap with RESOURCE_EXHAUSTED (it wraps the streaming methods, so
unary calls pay nothing). The client is ``peers.peer_key``: the gRPC peer plus the channel's
client id, so each aihubd client channel on the Unix socket has its own cap, and callers without
an id there (gRPC names every Unix-socket peer ``unix:``) share one.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import resource
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor

from ..errors import TooManyStreams
from .errors import rpc_errors
from .peers import describe_peer, peer_key

__all__ = [
    "StreamLimit",
    "connection_cap",
    "raise_fd_limit",
    "server_options",
]

log = logging.getLogger(__name__)

FD_RESERVE_MIN = 64  # descriptors never given to connections, whatever the limit
STREAM_HEADROOM = 100  # HTTP/2 streams beyond the stream cap, for unary calls beside full streams
_MAX_RAISE = 1 << 20  # an "unlimited" hard limit is raised to this (Linux nr_open's default)


def raise_fd_limit() -> int:
    """Raise the soft ``RLIMIT_NOFILE`` to the hard limit (logged); returns the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _MAX_RAISE if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            log.info("file descriptor limit raised from %d to the hard limit %d", soft, target)
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("file descriptor limit stays at %d (cannot raise it to %d: %s)", soft, target, exc)
    else:
        log.info("file descriptor limit: %d (the hard limit)", soft)
    return int(soft) if soft != resource.RLIM_INFINITY else _MAX_RAISE


def connection_cap(fd_limit: int, in_use: int | None = None) -> int:
    """Incoming connections gRPC may hold: the fd limit minus what is open now (``in_use``, default
    counted in /proc/self/fd) minus a reserve (a quarter of the limit, at least 64)."""
    if in_use is None:
        try:
            in_use = len(os.listdir("/proc/self/fd"))
        except OSError:
            in_use = 0
    return max(8, fd_limit - in_use - max(FD_RESERVE_MIN, fd_limit // 4))


def server_options(fd_limit: int | None, *, max_streams: int, handshake_timeout: float) -> list[tuple[str, int]]:
    """gRPC server arguments bounding connections (count, handshake time) and streams per connection;
    ``fd_limit`` None: the current soft ``RLIMIT_NOFILE``."""
    if fd_limit is None:
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        fd_limit = _MAX_RAISE if soft == resource.RLIM_INFINITY else int(soft)
    return [
        ("grpc.max_allowed_incoming_connections", connection_cap(fd_limit)),
        ("grpc.server_handshake_timeout_ms", max(1, int(handshake_timeout * 1000))),
        ("grpc.max_concurrent_streams", max_streams + STREAM_HEADROOM),
    ]


Behaviour = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Any]


class StreamLimit:
    """At most ``cap`` open server-streaming calls per client (``peer_key``); the next one ends
    RESOURCE_EXHAUSTED.

    ``limit_servicer`` wraps a servicer's server-streaming methods before it is registered, so
    unary calls pay nothing (a server interceptor would run on every call).
    """

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._open: Counter[str] = Counter()

    @property
    def open_streams(self) -> int:
        return sum(self._open.values())

    def limit_servicer(self, servicer: object, service: ServiceDescriptor) -> None:
        for method in service.methods:
            if method.server_streaming and not method.client_streaming:
                behaviour = getattr(servicer, method.name)
                setattr(servicer, method.name, self._wrap(behaviour, f"/{service.full_name}/{method.name}"))

    async def _enter(self, context: grpc.aio.ServicerContext[Any, Any], method: str) -> str:
        async with rpc_errors(context, method):
            peer = peer_key(context)
            if self._open[peer] >= self.cap:
                raise TooManyStreams(
                    f"too many open streams: {describe_peer(peer)} hold {self._open[peer]}, the limit "
                    f"(--max-streams); close streams you no longer read (waits, watches, reads) before "
                    f"opening {method}"
                )
        self._open[peer] += 1
        return peer

    def _leave(self, peer: str) -> None:
        self._open[peer] -= 1
        if self._open[peer] <= 0:
            del self._open[peer]

    def _wrap(self, behaviour: Behaviour, method: str) -> Behaviour:
        if inspect.isasyncgenfunction(behaviour):

            async def generator(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
                peer = await self._enter(context, method)
                try:
                    async with contextlib.aclosing(behaviour(request, context)) as messages:
                        async for message in messages:
                            yield message
                finally:
                    self._leave(peer)

            return generator
        if not inspect.iscoroutinefunction(behaviour):
            return behaviour  # synchronous (e.g. the generated base's UNIMPLEMENTED): nothing held open

        async def writer(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
            peer = await self._enter(context, method)
            try:
                await behaviour(request, context)
            finally:
                self._leave(peer)

        return writer
