"""``AsyncClient``: ``Client`` for asyncio code (``grpc.aio``); the same names, as coroutines.

    async with AsyncClient() as client:
        job = await client.submit_link_job(["a.dlc", "b.dlc"], "Snapdragon 8 Elite QRD")
        status = await job.wait()
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from aihubd_api.v1 import aihubd_pb2 as pb

from .aio_job import AsyncLinkJob
from .aio_transport import AsyncConnection
from .errors import HubUnavailableError, UserError
from .inputs import ModelArg, PathArg, absolute_path, check_job_type, state_values
from .resume import DEFAULT_RECONNECT, ReconnectPolicy
from .socket_path import default_socket_path
from .submission import SUBMIT_BACKOFF, submit_requests
from .values import DaemonInfo, RefreshResult

__all__ = ["AsyncClient", "AsyncJobPage"]


@dataclass(frozen=True)
class AsyncJobPage:
    """One page of ``AsyncClient.list_jobs``: the jobs, newest first, and how many match."""

    jobs: list[AsyncLinkJob]
    total: int


class AsyncClient:
    """A ``grpc.aio`` connection to the daemon; ``async with`` it or ``await close()``.

    Takes the same arguments as ``Client``; use it from one event loop.
    """

    def __init__(
        self,
        socket: PathArg | None = None,
        *,
        reconnect: ReconnectPolicy = DEFAULT_RECONNECT,
        submit_backoff: Sequence[float] = SUBMIT_BACKOFF,
    ) -> None:
        path = Path(absolute_path(socket)) if socket is not None else default_socket_path()
        self._connection = AsyncConnection(path)
        self._reconnect = reconnect
        self._submit_backoff = tuple(submit_backoff)

    @property
    def socket_path(self) -> Path:
        """The daemon's socket this client talks to."""
        return self._connection.socket_path

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the channel; calls in flight are cancelled (their jobs are not)."""
        await self._connection.close()

    async def submit_link_job(
        self,
        models: ModelArg | Iterable[ModelArg],
        device: Any,
        name: str | None = None,
        options: str = "",
        project: Any = None,
        *,
        request_id: str | None = None,
    ) -> AsyncLinkJob | list[AsyncLinkJob]:
        """Like ``Client.submit_link_job`` (same checks, same retries with the same key)."""
        requests = submit_requests(models, device, name, options, project, request_id)
        jobs = [await self._submit(request) for request in requests]
        return jobs[0] if len(jobs) == 1 else jobs

    async def get_job(self, job_id: str, job_type: Any = None) -> AsyncLinkJob:
        """The job with this id, as the daemon knows it (never blocks)."""
        _check_job_id(job_id)
        check_job_type(job_type)
        return self._job(await self._unary("GetJob", pb.GetJobRequest(job_id=job_id)))

    async def get_jobs(
        self,
        states: Any = None,
        name: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[AsyncLinkJob]:
        """Jobs the daemon tracks, newest first (see ``Client.get_jobs``)."""
        if limit <= 0:
            return []
        return (await self.list_jobs(states, name or "", limit=limit, offset=offset)).jobs

    async def list_jobs(
        self,
        states: Any = (),
        name_contains: str = "",
        limit: int = 0,
        offset: int = 0,
    ) -> AsyncJobPage:
        """One page of ``get_jobs``, with the number of jobs that match in all."""
        if limit < 0 or offset < 0:
            raise UserError("limit and offset must not be negative")
        request = pb.ListJobsRequest(
            states=state_values(states), name_contains=name_contains, limit=limit, offset=offset
        )
        response = await self._unary("ListJobs", request)
        return AsyncJobPage(
            jobs=[self._job(message) for message in response.jobs], total=response.total
        )

    async def track_job(self, job_id: str) -> AsyncLinkJob:
        """Have the daemon follow a job submitted elsewhere."""
        _check_job_id(job_id)
        return self._job(await self._unary("TrackJob", pb.TrackJobRequest(job_id=job_id)))

    async def untrack_job(self, job_id: str) -> bool:
        """Stop following a job (the Hub job is untouched); False if it was not tracked."""
        _check_job_id(job_id)
        response = await self._unary("UntrackJob", pb.UntrackJobRequest(job_id=job_id))
        return response.was_tracked

    async def refresh_jobs(self) -> RefreshResult:
        """Have the daemon's poller run one cycle now; returns when it is done."""
        response = await self._unary("RefreshJobs", pb.RefreshJobsRequest())
        return RefreshResult(polled=response.polled, changed=response.changed)

    async def daemon_info(self) -> DaemonInfo:
        """Version, Hub URL and reachability, account, job counts and cache size."""
        response = await self._connection.unary(
            self._connection.daemon.GetDaemonInfo, pb.GetDaemonInfoRequest()
        )
        return DaemonInfo.from_pb(response)

    async def _submit(self, request: pb.SubmitLinkJobRequest) -> AsyncLinkJob:
        for pause in (*self._submit_backoff, None):
            try:
                return self._job(await self._unary("SubmitLinkJob", request))
            except HubUnavailableError:
                if pause is None:
                    raise
                await asyncio.sleep(pause)
        raise AssertionError("unreachable")

    async def _unary(self, method: str, request: Any) -> Any:
        return await self._connection.unary(getattr(self._connection.jobs, method), request)

    def _job(self, message: pb.Job) -> AsyncLinkJob:
        return AsyncLinkJob(message, self._connection, self._reconnect)


def _check_job_id(job_id: str) -> None:
    if not job_id:
        raise UserError(f"Invalid job_id: {job_id!r}")
