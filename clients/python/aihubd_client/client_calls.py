"""``ClientCalls``: what ``Client`` and ``AsyncClient`` share; no I/O happens here.

Each method that talks to the daemon is split in two. Here its ``Call`` is built: the arguments
checked (nothing is sent on a bad one), the request, and what the answer becomes (jobs of the
twin's job type, pages, values). The twin only makes the call, blocking or awaited.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from aihubd_api.v1 import aihubd_pb2 as pb

from .channel import Call, ConnectionBase
from .errors import UserError
from .inputs import PathArg, absolute_path, check_job_id, check_job_type, state_values
from .resume import DEFAULT_RECONNECT, ReconnectPolicy
from .socket_path import default_socket_path
from .submission import SUBMIT_BACKOFF
from .values import DaemonInfo, RefreshResult

__all__ = ["ClientCalls"]

J = TypeVar("J")  # the twin's job type
P = TypeVar("P")  # the twin's page type


class ClientCalls(Generic[J, P]):
    """A client's settings and calls, built but not made; subclasses make them.

    A subclass names its connection, job and page types; the connection is opened lazily, so
    nothing is contacted here.
    """

    _connection_type: ClassVar[type[ConnectionBase]]
    _job_type: Callable[..., J]  # built as (message, connection, reconnect)
    _page_type: Callable[..., P]  # built as (jobs=..., total=...)

    def __init__(
        self,
        socket: PathArg | None = None,
        *,
        reconnect: ReconnectPolicy = DEFAULT_RECONNECT,
        submit_backoff: Sequence[float] = SUBMIT_BACKOFF,
    ) -> None:
        path = Path(absolute_path(socket)) if socket is not None else default_socket_path()
        self._connection = self._connection_type(path)
        self._reconnect = reconnect
        self._submit_backoff = tuple(submit_backoff)

    @property
    def socket_path(self) -> Path:
        """The daemon's socket this client talks to."""
        return self._connection.socket_path

    # calls (``self._connection.unary(call)`` returns what the public method returns)

    def _submit_call(self, request: pb.SubmitLinkJobRequest) -> Call[J]:
        """One attempt at a submit (``submission.submit_requests`` built and checked it)."""
        return Call("SubmitLinkJob", request, reply=self._job)

    def _submit_pauses(self) -> tuple[float | None, ...]:
        """The pause after each failed submit attempt; None after the last (give up)."""
        return (*self._submit_backoff, None)

    def _get_job_call(self, job_id: str, job_type: Any) -> Call[J]:
        check_job_id(job_id)
        check_job_type(job_type)
        return Call("GetJob", pb.GetJobRequest(job_id=job_id), reply=self._job)

    def _peek_job_call(self, job_id: str) -> Call[J]:
        check_job_id(job_id)
        return Call("PeekJob", pb.PeekJobRequest(job_id=job_id), reply=self._job)

    def _list_jobs_call(self, states: Any, name_contains: str, limit: int, offset: int) -> Call[P]:
        if limit < 0 or offset < 0:
            raise UserError("limit and offset must not be negative")
        request = pb.ListJobsRequest(
            states=state_values(states), name_contains=name_contains, limit=limit, offset=offset
        )
        return Call("ListJobs", request, reply=self._page)

    def _track_job_call(self, job_id: str) -> Call[J]:
        check_job_id(job_id)
        return Call("TrackJob", pb.TrackJobRequest(job_id=job_id), reply=self._job)

    def _untrack_job_call(self, job_id: str) -> Call[bool]:
        check_job_id(job_id)
        return Call("UntrackJob", pb.UntrackJobRequest(job_id=job_id), reply=_was_tracked)

    def _refresh_jobs_call(self) -> Call[RefreshResult]:
        return Call("RefreshJobs", pb.RefreshJobsRequest(), reply=_refresh_result)

    def _daemon_info_call(self) -> Call[DaemonInfo]:
        return Call("GetDaemonInfo", pb.GetDaemonInfoRequest(), reply=DaemonInfo.from_pb, service="daemon")

    # answers

    def _job(self, message: pb.Job) -> J:
        return self._job_type(message, self._connection, self._reconnect)

    def _page(self, response: pb.ListJobsResponse) -> P:
        return self._page_type(jobs=[self._job(message) for message in response.jobs], total=response.total)


def _was_tracked(response: pb.UntrackJobResponse) -> bool:
    return response.was_tracked


def _refresh_result(response: pb.RefreshJobsResponse) -> RefreshResult:
    return RefreshResult(polled=response.polled, changed=response.changed)
