"""One table from the daemon's error kinds to gRPC status codes, for unary and streaming RPCs."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import grpc

from .. import errors
from ..hub.credentials import MissingCredentials
from ..services.jobs import ShuttingDown

__all__ = ["STATUS_OF", "rpc_errors", "status_for"]

log = logging.getLogger(__name__)

# Most specific first: the first matching class wins.
STATUS_OF: tuple[tuple[type[BaseException], grpc.StatusCode], ...] = (
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (MissingCredentials, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.HubAuthError, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.HubUnavailable, grpc.StatusCode.UNAVAILABLE),
    (ShuttingDown, grpc.StatusCode.UNAVAILABLE),
    (errors.HubError, grpc.StatusCode.INTERNAL),
)


def status_for(exc: BaseException) -> grpc.StatusCode:
    for kind, code in STATUS_OF:
        if isinstance(exc, kind):
            return code
    return grpc.StatusCode.INTERNAL


@contextlib.asynccontextmanager
async def rpc_errors(context: grpc.aio.ServicerContext, method: str) -> AsyncIterator[None]:
    """Translate anything raised inside an RPC into a status with a message a person can act on."""
    try:
        yield
    except (errors.AihubdError, ShuttingDown) as exc:
        await context.abort(status_for(exc), str(exc))
    except grpc.aio.AbortError:
        raise
    except Exception:
        log.exception("%s failed unexpectedly", method)
        await context.abort(grpc.StatusCode.INTERNAL, f"aihubd internal error in {method}; see the daemon log")
