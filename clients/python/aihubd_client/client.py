"""``Client``: the entry point, talking to the aihubd daemon over its Unix socket."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from aihubd_api.v1 import aihubd_pb2 as pb

from .errors import HubUnavailableError, UserError
from .inputs import ModelArg, PathArg, absolute_path, check_job_type, state_values
from .job import LinkJob
from .resume import DEFAULT_RECONNECT, ReconnectPolicy
from .socket_path import default_socket_path
from .submission import SUBMIT_BACKOFF, submit_requests
from .transport import Connection
from .values import DaemonInfo, RefreshResult

__all__ = ["Client", "JobPage"]


@dataclass(frozen=True)
class JobPage:
    """One page of ``Client.list_jobs``: the jobs, newest first, and how many match in all."""

    jobs: list[LinkJob]
    total: int


class Client:
    """A connection to the daemon; use it as a context manager or call ``close()``.

    ``socket`` defaults to ``default_socket_path()`` ($AIHUBD_SOCKET or the user runtime dir).
    Nothing is contacted until the first call. ``reconnect`` says how waits ride out a daemon
    restart; ``submit_backoff`` the pauses between submit attempts while the Hub is unavailable.
    """

    def __init__(
        self,
        socket: PathArg | None = None,
        *,
        reconnect: ReconnectPolicy = DEFAULT_RECONNECT,
        submit_backoff: Sequence[float] = SUBMIT_BACKOFF,
    ) -> None:
        path = Path(absolute_path(socket)) if socket is not None else default_socket_path()
        self._connection = Connection(path)
        self._reconnect = reconnect
        self._submit_backoff = tuple(submit_backoff)

    @property
    def socket_path(self) -> Path:
        """The daemon's socket this client talks to."""
        return self._connection.socket_path

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection; calls in flight are cancelled (their jobs are not)."""
        self._connection.close()

    def submit_link_job(
        self,
        models: ModelArg | Iterable[ModelArg],
        device: Any,
        name: str | None = None,
        options: str = "",
        project: Any = None,
        *,
        request_id: str | None = None,
    ) -> LinkJob | list[LinkJob]:
        """Submit a link job, like ``qai_hub.Client.submit_link_job``.

        ``models``: one or a list of local ``.dlc`` paths (sent absolute), Hub model ids, or
        objects with a ``model_id`` (``qai_hub.Model``). ``device``: a device name, an object
        with a ``name`` (``qai_hub.Device``), or a list of those (then a list of jobs comes
        back, one per device). ``name`` None: the Hub's default (the last model's name).
        The official checks run first and raise ``UserError``, with nothing sent.
        ``request_id``: idempotency key (default: a fresh UUID); the same key returns the job
        the first attempt created. While the daemon reports the Hub unavailable, the submit is
        retried a few times with that same key.
        """
        requests = submit_requests(models, device, name, options, project, request_id)
        jobs = [self._submit(request) for request in requests]
        return jobs[0] if len(jobs) == 1 else jobs

    def get_job(self, job_id: str, job_type: Any = None) -> LinkJob:
        """The job with this id, as the daemon knows it (never blocks).

        A job the daemon has not seen yet is read from the Hub and tracked from then on.
        ``job_type`` (``qai_hub.JobType``) is accepted for compatibility: only link jobs exist
        here, so any other type raises ``ValueError`` like the official client's mismatch.
        """
        _check_job_id(job_id)
        check_job_type(job_type)
        message = self._unary("GetJob", pb.GetJobRequest(job_id=job_id))
        return self._job(message)

    def get_jobs(
        self,
        states: Any = None,
        name: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[LinkJob]:
        """Jobs the daemon tracks, newest first.

        ``states``: one state or a list (codes such as ``"SUCCESS"``, ``JobStatus.State`` or
        ``qai_hub.JobStatus.State`` members, wire ints); None: any. ``name``: a
        case-insensitive substring of the job name. ``limit`` at most 1000.
        """
        if limit <= 0:
            return []  # like qai_hub.Client.get_job_summaries
        return self.list_jobs(states, name or "", limit=limit, offset=offset).jobs

    def list_jobs(
        self,
        states: Any = (),
        name_contains: str = "",
        limit: int = 0,
        offset: int = 0,
    ) -> JobPage:
        """One page of ``get_jobs``, with the number of jobs that match in all.

        ``limit`` 0: the daemon's default (50).
        """
        if limit < 0 or offset < 0:
            raise UserError("limit and offset must not be negative")
        request = pb.ListJobsRequest(
            states=state_values(states), name_contains=name_contains, limit=limit, offset=offset
        )
        response = self._unary("ListJobs", request)
        return JobPage(jobs=[self._job(message) for message in response.jobs], total=response.total)

    def track_job(self, job_id: str) -> LinkJob:
        """Have the daemon follow a job submitted elsewhere (web UI, the official client)."""
        _check_job_id(job_id)
        return self._job(self._unary("TrackJob", pb.TrackJobRequest(job_id=job_id)))

    def untrack_job(self, job_id: str) -> bool:
        """Stop following a job (the Hub job is untouched); False if it was not tracked."""
        _check_job_id(job_id)
        response = self._unary("UntrackJob", pb.UntrackJobRequest(job_id=job_id))
        return response.was_tracked

    def refresh_jobs(self) -> RefreshResult:
        """Have the daemon's poller run one cycle now; returns when it is done."""
        response = self._unary("RefreshJobs", pb.RefreshJobsRequest())
        return RefreshResult(polled=response.polled, changed=response.changed)

    def daemon_info(self) -> DaemonInfo:
        """Version, Hub URL and reachability, account, job counts and cache size of the daemon."""
        response = self._connection.unary(
            self._connection.daemon.GetDaemonInfo, pb.GetDaemonInfoRequest()
        )
        return DaemonInfo.from_pb(response)

    def _submit(self, request: pb.SubmitLinkJobRequest) -> LinkJob:
        for pause in (*self._submit_backoff, None):
            try:
                return self._job(self._unary("SubmitLinkJob", request))
            except HubUnavailableError:
                if pause is None:
                    raise
                time.sleep(pause)
        raise AssertionError("unreachable")

    def _unary(self, method: str, request: Any) -> Any:
        return self._connection.unary(getattr(self._connection.jobs, method), request)

    def _job(self, message: pb.Job) -> LinkJob:
        return LinkJob(message, self._connection, self._reconnect)


def _check_job_id(job_id: str) -> None:
    if not job_id:
        raise UserError(f"Invalid job_id: {job_id!r}")
