"""The client's exceptions, and the one table that maps gRPC status codes to them.

Grouped by what the caller can do about them::

    AihubdError                      anything this library raises (except TimeoutError, below)
    ├── DaemonUnavailableError       start the daemon (`aihubd serve`), or fix --socket; also
    │                                when the daemon stops during a call (a wait first tries
    │                                to reconnect for a while: see ``resume``)
    ├── UserError                    fix the input: INVALID_ARGUMENT, FAILED_PRECONDITION,
    │   │                            OUT_OF_RANGE, ALREADY_EXISTS
    │   └── NotFoundError            no such job or model: NOT_FOUND
    ├── HubUnavailableError          the daemon is up but cannot reach the Hub: retry later
    ├── PermissionDeniedError        check the Hub credentials: PERMISSION_DENIED,
    │                                UNAUTHENTICATED
    ├── ResourceExhaustedError       rate limited or out of space: RESOURCE_EXHAUSTED
    └── InternalError                a bug or an unexpected answer: everything else

``LinkJob.wait(timeout)`` (and every other call that waits for a job) raises the builtin
``TimeoutError`` on a client-side timeout, like ``qai_hub``. Every other exception's text is the
daemon's status details message.
"""

from __future__ import annotations

import os

import grpc
from google.rpc import error_details_pb2, status_pb2

__all__ = [
    "STATUS_ERRORS",
    "AihubdError",
    "DaemonUnavailableError",
    "HubUnavailableError",
    "InternalError",
    "NotFoundError",
    "PermissionDeniedError",
    "ResourceExhaustedError",
    "UserError",
    "daemon_unavailable",
    "from_rpc_error",
    "job_timeout",
]

# An UNAVAILABLE means "the daemon is gone" when grpc-core produced it because the socket is dead
# (no listener, daemon killed or stopping) or when the daemon says it is stopping; any other
# UNAVAILABLE comes from the daemon and means the Hub is unreachable.
_DAEMON_GONE_PREFIXES = (
    "aihubd is shutting down",
    "failed to connect to all addresses",
    "connections to all backends failing",
    "socket closed",
    "cancelling all calls",
    "connection reset",
    "connection refused",
    "broken pipe",
    "goaway received",
    "endpoint closing",
    "recvmsg:",
    "sendmsg:",
    "keepalive watchdog timeout",
)


class AihubdError(Exception):
    """Base class of every error raised by the aihubd client library."""

    def __init__(self, message: str, code: grpc.StatusCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        # From the daemon's google.rpc details: ErrorInfo.reason, and RetryInfo's delay (seconds)
        # when retrying makes sense.
        self.reason: str = ""
        self.retry_after: float | None = None


class DaemonUnavailableError(AihubdError):
    """The daemon cannot be reached on its socket (not running, or a wrong path)."""

    def __init__(self, message: str, socket_path: str | os.PathLike[str]) -> None:
        super().__init__(message, grpc.StatusCode.UNAVAILABLE)
        self.socket_path = os.fspath(socket_path)


class UserError(AihubdError):
    """The request was wrong: fix the arguments and try again."""


class NotFoundError(UserError):
    """The job, model or artifact does not exist (or is not visible to this account)."""


class HubUnavailableError(AihubdError):
    """The daemon is running but Qualcomm AI Hub cannot be reached right now."""


class PermissionDeniedError(AihubdError):
    """The Hub (or the daemon) refused the request: check the configured credentials."""


class ResourceExhaustedError(AihubdError):
    """Rate limited, or a local resource (disk, quota) ran out."""


class InternalError(AihubdError):
    """An unexpected failure in the daemon, the Hub or the transport."""


# The one table. Codes not listed map to InternalError.
STATUS_ERRORS: dict[grpc.StatusCode, type[AihubdError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: UserError,
    grpc.StatusCode.FAILED_PRECONDITION: UserError,
    grpc.StatusCode.OUT_OF_RANGE: UserError,
    grpc.StatusCode.ALREADY_EXISTS: UserError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.UNAVAILABLE: HubUnavailableError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.UNAUTHENTICATED: PermissionDeniedError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
}


def daemon_unavailable(socket_path: str | os.PathLike[str], reason: str) -> DaemonUnavailableError:
    """The error for an unreachable daemon: names the socket and says how to start the daemon."""
    path = os.fspath(socket_path)
    return DaemonUnavailableError(
        f"cannot reach the aihubd daemon at {path} ({reason}); "
        "start it with `aihubd serve --detach` (`aihubd serve --hub emulator --detach` to try it "
        "without a Hub account; `aihubd install-service` to start it at login), "
        "or point --socket / $AIHUBD_SOCKET at its socket",
        path,
    )


def from_rpc_error(exc: grpc.RpcError, socket_path: str | os.PathLike[str]) -> AihubdError:
    """Translate a failed gRPC call into this library's exception (the caller raises it)."""
    code = _call_code(exc)
    details = _call_details(exc)
    reason, retry_after = _rich_details(exc)
    gone = reason == "DAEMON_SHUTTING_DOWN" or (not reason and _daemon_gone(details))
    if code is grpc.StatusCode.UNAVAILABLE and gone:
        error: AihubdError = daemon_unavailable(socket_path, details or "connection failed")
    else:
        error_type = STATUS_ERRORS.get(code, InternalError) if code else InternalError
        fallback = f"the daemon answered {code.name} without a message" if code else "gRPC error"
        error = error_type(details or fallback, code)
    error.reason, error.retry_after = reason, retry_after
    return error


def _rich_details(exc: grpc.RpcError) -> tuple[str, float | None]:
    """ErrorInfo.reason and RetryInfo delay from the ``grpc-status-details-bin`` trailer, if any."""
    trailers = getattr(exc, "trailing_metadata", None)
    try:
        metadata = (trailers() if callable(trailers) else None) or ()
    except Exception:  # a transport failure may carry no trailers at all
        return "", None
    reason, retry_after = "", None
    for key, value in metadata:
        if key != "grpc-status-details-bin":
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
            elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                retry = error_details_pb2.RetryInfo()
                detail.Unpack(retry)
                retry_after = retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9
    return reason, retry_after


def job_timeout(job_id: str, seconds: float, doing: str = "") -> TimeoutError:
    """The builtin ``TimeoutError`` for a client-side timeout, worded like ``qai_hub``'s."""
    shown = int(seconds) if float(seconds).is_integer() else seconds
    what = f"{doing} for link job ({job_id})" if doing else f"Waiting for link job ({job_id}) completion"
    return TimeoutError(f"{what} timed out after {shown} seconds.")


def _daemon_gone(details: str) -> bool:
    return details.strip().lower().startswith(_DAEMON_GONE_PREFIXES)


def _call_code(exc: grpc.RpcError) -> grpc.StatusCode | None:
    code = getattr(exc, "code", None)
    return code() if callable(code) else None


def _call_details(exc: grpc.RpcError) -> str:
    details = getattr(exc, "details", None)
    text = details() if callable(details) else None
    return text or ""
