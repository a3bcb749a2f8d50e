"""``AsyncClient``: ``Client`` for asyncio code (``grpc.aio``); the same names, as coroutines.

    async with AsyncClient() as client:
        job = await client.submit_link_job(["a.dlc", "b.dlc"], "Snapdragon 8 Elite QRD")
        status = await job.wait()

The calls are built in ``client_calls`` (shared with ``Client``); this class awaits them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aihubd_api.v1 import aihubd_pb2 as pb

from .aio_job import AsyncLinkJob
from .aio_transport import AsyncConnection
from .client_calls import ClientCalls
from .errors import AihubdError, HubUnavailableError
from .feed import FeedCursor, JobEvent, aiter_feed
from .inputs import ModelArg
from .submission import submit_requests
from .values import DaemonInfo, RefreshResult

__all__ = ["AsyncClient", "AsyncJobPage"]


@dataclass(frozen=True)
class AsyncJobPage:
    """One page of ``AsyncClient.list_jobs``: the jobs, newest first, and how many match."""

    jobs: list[AsyncLinkJob]
    total: int


class AsyncClient(ClientCalls["AsyncLinkJob", "AsyncJobPage"]):
    """A ``grpc.aio`` connection to the daemon; ``async with`` it or ``await close()``.

    Takes the same arguments as ``Client``; use it from one event loop.
    """

    _connection: AsyncConnection
    _connection_type = AsyncConnection
    _job_type = AsyncLinkJob
    _page_type = AsyncJobPage

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
        return await self._connection.unary(self._get_job_call(job_id, job_type))

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
        call = self._list_jobs_call(states, name_contains, limit, offset)
        return await self._connection.unary(call)

    async def track_job(self, job_id: str) -> AsyncLinkJob:
        """Have the daemon follow a job submitted elsewhere."""
        return await self._connection.unary(self._track_job_call(job_id))

    async def untrack_job(self, job_id: str) -> bool:
        """Stop following a job (the Hub job is untouched); False if it was not tracked."""
        return await self._connection.unary(self._untrack_job_call(job_id))

    async def refresh_jobs(self) -> RefreshResult:
        """Have the daemon's poller run one cycle now; returns when it is done."""
        return await self._connection.unary(self._refresh_jobs_call())

    def watch_jobs(
        self,
        job_ids: Iterable[str] = (),
        states: Any = None,
        name_contains: str = "",
        *,
        since_revision: int | None = None,
        store_id: str = "",
        relist: bool = True,
        bookmarks: bool = False,
        on_lost: Callable[[AihubdError], None] | None = None,
    ) -> AsyncIterator[JobEvent[AsyncLinkJob]]:
        """The daemon's job feed, ``async for`` it (see ``Client.watch_jobs``)."""
        cursor = FeedCursor(job_ids, states, name_contains, since_revision, relist, self._reconnect, store_id)
        return aiter_feed(self._connection, cursor, self._job, bookmarks, on_lost)

    async def daemon_info(self) -> DaemonInfo:
        """Version, Hub URL and reachability, account, job counts and cache size."""
        return await self._connection.unary(self._daemon_info_call())

    async def _submit(self, request: pb.SubmitLinkJobRequest) -> AsyncLinkJob:
        call = self._submit_call(request)
        for pause in self._submit_pauses():
            try:
                return await self._connection.unary(call)
            except HubUnavailableError:
                if pause is None:
                    raise
                await asyncio.sleep(pause)
        raise AssertionError("unreachable")
