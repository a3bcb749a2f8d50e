"""One table from the daemon's error kinds to gRPC status codes, with google.rpc details (ErrorInfo reason,
RetryInfo where a retry makes sense), for unary and streaming RPCs."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import resource
from collections.abc import AsyncIterator

import grpc
from google.protobuf.any_pb2 import Any
from google.protobuf.duration_pb2 import Duration
from google.rpc import error_details_pb2, status_pb2

from .. import errors
from ..hub.credentials import MissingCredentials
from ..services.jobs import ShuttingDown
from .context import Context

__all__ = ["STATUS_OF", "fd_exhaustion", "rich_status", "rpc_errors", "status_for"]

STATUS_DETAILS_KEY = "grpc-status-details-bin"

log = logging.getLogger(__name__)

DOMAIN = "aihubd"

# The one table, most specific first (the first matching class wins): the status code, the
# ErrorInfo reason, and whether the client should retry (RetryInfo).
STATUS_OF: tuple[tuple[type[BaseException], grpc.StatusCode, str, bool], ...] = (
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT", False),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND, "NOT_FOUND", False),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED, "HUB_PERMISSION_DENIED", False),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION, "FAILED_PRECONDITION", False),
    (errors.Throttled, grpc.StatusCode.RESOURCE_EXHAUSTED, "TOO_MANY_HUB_LOOKUPS", True),
    (errors.ReaderTooSlow, grpc.StatusCode.RESOURCE_EXHAUSTED, "WATCH_TOO_SLOW", True),
    (errors.OutOfDescriptors, grpc.StatusCode.RESOURCE_EXHAUSTED, "OUT_OF_FILE_DESCRIPTORS", True),
    (errors.TooManyStreams, grpc.StatusCode.RESOURCE_EXHAUSTED, "TOO_MANY_STREAMS", True),
    (errors.StreamStalled, grpc.StatusCode.RESOURCE_EXHAUSTED, "STREAM_NOT_READ", False),
    (errors.ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED, "LOCAL_RESOURCE_EXHAUSTED", False),
    (errors.RevisionCompacted, grpc.StatusCode.OUT_OF_RANGE, "REVISION_COMPACTED", False),
    (errors.OutOfRange, grpc.StatusCode.OUT_OF_RANGE, "REVISION_UNKNOWN", False),
    (MissingCredentials, grpc.StatusCode.FAILED_PRECONDITION, "NO_HUB_CREDENTIALS", False),
    (errors.HubAuthError, grpc.StatusCode.FAILED_PRECONDITION, "HUB_TOKEN_REJECTED", False),
    (errors.HubProtocolTooOld, grpc.StatusCode.FAILED_PRECONDITION, "HUB_PROTOCOL_TOO_OLD", False),
    (errors.HubPaused, grpc.StatusCode.UNAVAILABLE, "HUB_RETRY_AFTER", True),
    (errors.HubUnavailable, grpc.StatusCode.UNAVAILABLE, "HUB_UNAVAILABLE", True),
    (ShuttingDown, grpc.StatusCode.UNAVAILABLE, "DAEMON_SHUTTING_DOWN", True),
    (errors.HubError, grpc.StatusCode.INTERNAL, "HUB_PROTOCOL_ERROR", False),
)
DEFAULT_RETRY_SECONDS = 1.0


def status_for(exc: BaseException) -> grpc.StatusCode:
    return _entry(exc)[0]


def _entry(exc: BaseException) -> tuple[grpc.StatusCode, str, bool]:
    for kind, code, reason, retry in STATUS_OF:
        if isinstance(exc, kind):
            return code, reason, retry
    return grpc.StatusCode.INTERNAL, "INTERNAL", False


def rich_status(exc: BaseException, message: str) -> tuple[grpc.StatusCode, tuple[tuple[str, bytes], ...]]:
    """The code and the ``grpc-status-details-bin`` trailer (google.rpc.Status with ErrorInfo,
    plus RetryInfo when retrying makes sense) for an error."""
    code, reason, retry = _entry(exc)
    info = Any()
    metadata: dict[str, str] = getattr(exc, "metadata", None) or {}  # e.g. the revision to resume from
    info.Pack(error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN, metadata=metadata))
    details = [info]
    if retry:
        seconds = float(getattr(exc, "retry_after", None) or DEFAULT_RETRY_SECONDS)
        delay = Any()
        delay.Pack(
            error_details_pb2.RetryInfo(retry_delay=Duration(seconds=int(seconds), nanos=int(seconds % 1 * 1e9)))
        )
        details.append(delay)
    status = status_pb2.Status(code=code.value[0], message=message, details=details)
    return code, ((STATUS_DETAILS_KEY, status.SerializeToString()),)


def fd_exhaustion(exc: BaseException) -> errors.OutOfDescriptors | None:
    """An OutOfDescriptors naming the fd limit when EMFILE/ENFILE is anywhere in ``exc``'s chain
    (an OSError re-raised as another error ``from None`` keeps it as ``__context__``)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.EMFILE, errno.ENFILE):
            if current.errno == errno.ENFILE:
                which = "the system's file table is full"
            else:
                which = f"limit {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}"
            with contextlib.suppress(OSError):
                which += f", {len(os.listdir('/proc/self/fd'))} open"
            return errors.OutOfDescriptors(
                f"the daemon is out of file descriptors ({which}): too many open connections or streams; "
                "close idle clients and retry, or raise the daemon's `ulimit -n`"
            )
        todo += [current.__cause__, current.__context__]
    return None


@contextlib.asynccontextmanager
async def rpc_errors(context: Context, method: str) -> AsyncIterator[None]:
    """Translate anything raised inside an RPC into a status with a message a person can act on."""
    try:
        yield
    except grpc.aio.AbortError:
        raise
    except Exception as exc:
        known = fd_exhaustion(exc) or (exc if isinstance(exc, (errors.AihubdError, ShuttingDown)) else None)
        if known is not None:
            code, trailer = rich_status(known, str(known))
            await context.abort(code, str(known), trailing_metadata=trailer)
        log.exception("%s failed unexpectedly", method)
        message = f"aihubd internal error in {method}; see the daemon log"
        code, trailer = rich_status(RuntimeError(), message)
        await context.abort(code, message, trailing_metadata=trailer)
