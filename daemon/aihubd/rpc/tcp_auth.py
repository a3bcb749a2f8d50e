"""Bearer-token access for the optional loopback TCP port.

The Unix socket is protected by the filesystem (a 0700 directory, a 0600 socket). A TCP port has
no such protection: any local user can connect to 127.0.0.1. So when ``aihubd serve --tcp-port``
is given, each start makes a fresh random token, writes it to a 0600 file in the socket's private
directory, and every call that did not come over the Unix socket must carry
``authorization: Bearer <token>`` metadata, else it ends ``UNAUTHENTICATED`` before any servicer
code runs.

gRPC interceptors apply to a whole server, not to one port, so the interceptor lets calls whose
peer is ``unix:`` through and checks the token for every other peer.
"""

from __future__ import annotations

import contextlib
import hmac
import inspect
import os
import secrets
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeAlias

import grpc

from .context import Context

__all__ = ["AUTH_METADATA", "TOKEN_FILE_NAME", "BearerTokenInterceptor", "new_token", "write_token_file"]

TOKEN_FILE_NAME = "tcp-token"
AUTH_METADATA = "authorization"
SCHEME = "bearer"
UNAUTHENTICATED_MESSAGE = (
    "aihubd's TCP port needs 'authorization: Bearer <token>' metadata; the token is in the "
    f"{TOKEN_FILE_NAME} file next to the daemon's socket and changes at every start"
)


def new_token() -> str:
    """A fresh, unguessable token (256 bits)."""
    return secrets.token_urlsafe(32)


def write_token_file(path: Path, token: str) -> None:
    """Write ``token`` to ``path`` mode 0600, atomically (a reader never sees a partial token)."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mkstemp: 0600, O_EXCL
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, f"{token}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


def _presented_token(metadata: Any) -> str | None:
    for key, value in metadata or ():
        if key.lower() != AUTH_METADATA:
            continue
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        scheme, _, credential = text.strip().partition(" ")
        if scheme.lower() == SCHEME and credential.strip():
            return credential.strip()
        return None
    return None


def _over_unix_socket(context: Context) -> bool:
    return (context.peer() or "").startswith("unix:")


Behavior = Callable[..., Any]


def _guard_unary(behavior: Behavior) -> Behavior:
    async def guarded(request_or_iterator: Any, context: Context) -> Any:
        if not _over_unix_socket(context):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED_MESSAGE)
        result = behavior(request_or_iterator, context)
        if inspect.isawaitable(result):
            result = await result
        return result

    return guarded


def _guard_stream(behavior: Behavior) -> Behavior:
    async def guarded(request_or_iterator: Any, context: Context) -> Any:
        if not _over_unix_socket(context):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED_MESSAGE)
        result = behavior(request_or_iterator, context)
        if inspect.isasyncgen(result):
            async for item in result:
                yield item
            return
        if inspect.isawaitable(result):  # a handler that writes with context.write()
            await result
            return
        for item in result or ():
            yield item

    return guarded


Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"


def _guarded_handler(handler: Handler) -> Handler:
    codec: dict[str, Any] = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(_guard_unary(handler.unary_unary), **codec)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(_guard_stream(handler.unary_stream), **codec)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(_guard_unary(handler.stream_unary), **codec)
    assert handler.stream_stream is not None  # a handler has exactly one of the four behaviours
    return grpc.stream_stream_rpc_method_handler(_guard_stream(handler.stream_stream), **codec)


class BearerTokenInterceptor(grpc.aio.ServerInterceptor):
    """Calls over TCP must present the bearer token; calls over the Unix socket need none."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ValueError("an empty bearer token would let anyone in")
        self._token = token.encode()

    def authorized(self, metadata: Any) -> bool:
        presented = _presented_token(metadata)
        return presented is not None and hmac.compare_digest(presented.encode(), self._token)

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = await continuation(handler_call_details)
        authorized = self.authorized(handler_call_details.invocation_metadata)
        if handler is None:  # an unknown method: TCP callers without the token learn nothing
            return grpc.unary_unary_rpc_method_handler(_not_found if authorized else _unknown_method)
        return handler if authorized else _guarded_handler(handler)


async def _not_found(request: Any, context: Context) -> Any:
    await context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not found!")


async def _unknown_method(request: Any, context: Context) -> Any:
    if not _over_unix_socket(context):
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, UNAUTHENTICATED_MESSAGE)
    await context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not found!")
