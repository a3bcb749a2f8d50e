"""``Client``: the entry point, talking to the aihubd daemon over its Unix socket."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from aihubd_api.v1 import aihubd_pb2 as pb

from .errors import UserError
from .inputs import ModelArg, PathArg, absolute_path, device_name, model_inputs, state_values
from .job import LinkJob
from .socket_path import default_socket_path
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
    Nothing is contacted until the first call.
    """

    def __init__(self, socket: PathArg | None = None) -> None:
        path = Path(absolute_path(socket)) if socket is not None else default_socket_path()
        self._connection = Connection(path)

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
        project: str | None = None,
        *,
        request_id: str | None = None,
    ) -> LinkJob:
        """Submit a link job, like ``qai_hub.submit_link_job``.

        ``models``: one or a list of local ``.dlc`` paths (sent absolute) or Hub model ids.
        ``device``: a device name or any object with a ``name`` (e.g. ``qai_hub.Device``).
        ``name`` None: the Hub's default (the last model's name).
        ``request_id``: idempotency key (default: a fresh UUID); submitting again with the same
        key returns the job the first attempt created instead of creating another.
        """
        request = pb.SubmitLinkJobRequest(
            models=model_inputs(models),
            device=device_name(device),
            name=name or "",
            options=options or "",
            project_id=project or "",
            request_id=request_id or uuid.uuid4().hex,
        )
        with self._connection.errors():
            message = self._connection.jobs.SubmitLinkJob(request)
        return LinkJob(message, self._connection)

    def get_job(self, job_id: str) -> LinkJob:
        """The job with this id, as the daemon knows it (never blocks)."""
        if not job_id:
            raise UserError(f"Invalid job_id: {job_id!r}")
        with self._connection.errors():
            message = self._connection.jobs.GetJob(pb.GetJobRequest(job_id=job_id))
        return LinkJob(message, self._connection)

    def list_jobs(
        self,
        states: Iterable[int | str] = (),
        name_contains: str = "",
        limit: int = 0,
        offset: int = 0,
    ) -> JobPage:
        """Jobs the daemon tracks, newest first.

        ``states``: codes (``"SUCCESS"``) or wire values; empty means any. ``name_contains``: a
        case-insensitive substring. ``limit`` 0: the daemon's default (50).
        """
        request = pb.ListJobsRequest(
            states=state_values(states), name_contains=name_contains, limit=limit, offset=offset
        )
        with self._connection.errors():
            response = self._connection.jobs.ListJobs(request)
        jobs = [LinkJob(message, self._connection) for message in response.jobs]
        return JobPage(jobs=jobs, total=response.total)

    def track_job(self, job_id: str) -> LinkJob:
        """Have the daemon follow a job submitted elsewhere (web UI, the official client)."""
        if not job_id:
            raise UserError(f"Invalid job_id: {job_id!r}")
        with self._connection.errors():
            message = self._connection.jobs.TrackJob(pb.TrackJobRequest(job_id=job_id))
        return LinkJob(message, self._connection)

    def untrack_job(self, job_id: str) -> bool:
        """Stop following a job (the Hub job is untouched); False if it was not tracked."""
        if not job_id:
            raise UserError(f"Invalid job_id: {job_id!r}")
        with self._connection.errors():
            response = self._connection.jobs.UntrackJob(pb.UntrackJobRequest(job_id=job_id))
        return response.was_tracked

    def refresh_jobs(self) -> RefreshResult:
        """Have the daemon's poller run one cycle now; returns when it is done."""
        with self._connection.errors():
            response = self._connection.jobs.RefreshJobs(pb.RefreshJobsRequest())
        return RefreshResult(polled=response.polled, changed=response.changed)

    def daemon_info(self) -> DaemonInfo:
        """Version, Hub URLs and job counts of the daemon."""
        with self._connection.errors():
            response = self._connection.daemon.GetDaemonInfo(pb.GetDaemonInfoRequest())
        return DaemonInfo.from_pb(response)

