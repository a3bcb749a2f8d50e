"""``AsyncLinkJob``: ``LinkJob`` for asyncio code; the same names, as coroutines.

Cancelling a waiting task stops the waiting, never the job; all waits of a client share one
daemon stream (``aio_watch_hub``). The calls are
built in ``job_calls`` (shared with ``LinkJob``); this class awaits them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aihubd_api.v1 import aihubd_pb2 as pb

from .aio_transport import AsyncConnection
from .aio_watch_hub import aio_watch_hub
from .inputs import PathArg
from .job_calls import JobCalls, ModelAssembly, model_chunk
from .resume import DEFAULT_RECONNECT, Deadline, ReconnectPolicy
from .status import JobStatus
from .values import ArtifactType, LinkJobResult, ModelChunk, TargetModel

__all__ = ["AsyncLinkJob"]


class AsyncLinkJob(JobCalls):
    """A link job for asyncio code. Built by ``AsyncClient``, not directly."""

    _connection: AsyncConnection

    def __init__(
        self,
        message: pb.Job,
        connection: AsyncConnection,
        reconnect: ReconnectPolicy = DEFAULT_RECONNECT,
    ) -> None:
        self._connection = connection
        super().__init__(message, reconnect)

    async def get_status(self) -> JobStatus:
        """Ask the daemon for the job's current status (one call, never blocks)."""
        return await self._connection.unary(self._get_status_call())

    async def iter_status(self, timeout: float | None = None) -> AsyncIterator[JobStatus]:
        """The current status, then each change, ending after SUCCESS or FAILED.

        Like ``LinkJob.iter_status``: the changes come over the one WatchJobs stream every wait
        on this client shares (``aio_watch_hub``), which rides out a daemon restart.
        """
        if self._status.finished:
            yield self._status
            return
        deadline = Deadline(timeout)
        hub = aio_watch_hub(self._connection, self._reconnect)
        mark = hub.mark()
        seen = await self._connection.unary(self._wait_start_call(deadline))
        status = self._applied(seen)
        if status.finished:
            yield status
            return
        shown, said = status.code, status.message  # no tuple per change: less for the GC
        with hub.joined(self.job_id, seen, mark, deadline.remaining()) as waiter:
            yield status
            while not status.finished:
                item = waiter.next_item()
                while item is None and not waiter.expired:
                    await waiter.changed()
                    item = waiter.next_item()
                status = self._take_watched(item, deadline)
                if status.code != shown or status.message != said:
                    shown, said = status.code, status.message
                    yield status

    async def wait(self, timeout: float | None = None) -> JobStatus:
        """Wait until the job finishes; its final status (a FAILED job does not raise)."""
        async for _ in self.iter_status(timeout):
            pass
        return self._status

    async def download_target_model(
        self, filename: PathArg | None = None, timeout: float | None = None
    ) -> bytes | str | None:
        """Like ``LinkJob.download_target_model``: bytes, the path written, or None if failed."""
        if filename is None:
            return await self._read_target_model(timeout)
        return await self._connection.unary(self._download_target_model_call(filename, timeout))

    async def iter_target_model(self, timeout: float | None = None) -> AsyncIterator[ModelChunk]:
        """The target model as chunks; nothing when the job failed (first chunk: name, size)."""
        async with self._connection.stream(self._read_target_model_call(timeout)) as responses:
            async for message in responses:
                yield model_chunk(message)

    async def download_job_logs(self, output_dir: PathArg, timeout: float | None = None) -> list[str]:
        """Device log then Hub log into ``output_dir`` (created); the absolute paths."""
        return await self._connection.unary(self._download_job_logs_call(output_dir, timeout))

    async def download_artifacts_for_type(
        self, output_dir: PathArg, artifact_type: Any, timeout: float | None = None
    ) -> list[str]:
        """All artifacts of one type into ``output_dir``; ``[]`` when not available."""
        call = self._download_artifacts_call(output_dir, artifact_type, timeout)
        return await self._connection.unary(call)

    async def download_results(self, artifacts_dir: PathArg, timeout: float | None = None) -> LinkJobResult:
        """Logs, then the target model, into ``artifacts_dir`` (created)."""
        deadline = Deadline(timeout)
        directory = self._results_directory(artifacts_dir)
        try:
            await self.download_job_logs(directory, self._left(deadline))
            await self.download_target_model(directory, self._left(deadline))
        except TimeoutError:
            raise self._results_timeout(timeout) from None
        return self._results(await self.get_status(), directory)

    async def get_available_artifacts(self, timeout: float | None = None) -> list[ArtifactType]:
        """The artifact types available for download; waits for the job to end first."""
        await self.wait(timeout)
        return list(self.available_artifacts)

    async def get_target_model(self, timeout: float | None = None) -> TargetModel | None:
        """The target model's description, or None when the job failed."""
        return await self._connection.unary(self._get_target_model_call(timeout))

    async def set_name(self, job_name: str) -> None:
        """Rename the job on the Hub."""
        await self._connection.unary(self._set_name_call(job_name))

    async def get_sharing(self) -> list[str]:
        """The email addresses the job is shared with (read from the Hub)."""
        return await self._connection.unary(self._get_sharing_call())

    async def modify_sharing(self, add_emails: list[str] | None = None, delete_emails: list[str] | None = None) -> None:
        """Share the job with more people, or fewer (checked like ``qai_hub`` first)."""
        await self._connection.unary(self._modify_sharing_call(add_emails, delete_emails))

    async def disable_sharing(self) -> None:
        """Stop sharing the job with anyone."""
        await self._connection.unary(self._disable_sharing_call())

    async def _read_target_model(self, timeout: float | None) -> bytes | None:
        model = ModelAssembly(self.job_id)
        async for chunk in self.iter_target_model(timeout):
            model.add(chunk)
        return model.data()
